"""Fakes at the deploy layer's boundaries (ECS/ECR/STS, the registry, the
bucket, CloudFront, the smoke run), for the states the emulator cannot
produce. Each scripted rollout stands for a real ECS behaviour:

- "COMPLETED": the new deployment's rolloutState goes IN_PROGRESS -> COMPLETED.
- "FAILED": the circuit breaker is on WITHOUT rollback: the deployment's
  rolloutState becomes FAILED (rolloutStateReason "ECS deployment circuit
  breaker: tasks failed to start.") and the service stays on it.
- "ROLLBACK": the circuit breaker with rollback (what promote sets): the
  failed deployment is marked FAILED and ECS starts a NEW PRIMARY deployment
  of the previous task definition; the service's taskDefinition reverts.
  Later steps of the script then move ECS's rollback deployment (default:
  it COMPLETES); "ROLLBACK", "FAILED" is a rollback that fails too.
- "STUCK": the deployment stays IN_PROGRESS (tasks never become healthy and
  no circuit breaker trips before the deadline) -> promote's own timeout.
- A deployment of the placeholder revision (``placeholder``: infra-apply's,
  image ``REPO:bootstrap``, never pushed) at a count above 0 fails: every
  task stops with CannotPullContainerError, the circuit breaker marks it
  FAILED ("PULL_FAILED"). At 0 tasks it completes: there is nothing to start.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from parity.app.deploy.context import DeployContext
from parity.spec.load import load_stack

ACCOUNT = "111122223333"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def image_id(service: str) -> str:
    return "sha256:" + hashlib.sha256(f"config of {service}".encode()).hexdigest()


EcsApiCalls = {
    "account_id", "cluster_active", "repository_uri", "image_digest", "registry_login", "describe_service", "describe_task_definition",
    "register_task_definition", "update_service", "task_definition_revisions", "deregister_task_definition",
}  # fmt: skip


class FakeEcs:
    def __init__(self, stack, scripts: dict[str, list[str]] | None = None) -> None:
        self.stack = stack
        self.region = stack.region
        self.clusters = {stack.cluster}
        self.repos = {f"{stack.aws.ecr_prefix}/{s}" for s in stack.services}
        self.taskdefs: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.scripts = scripts or {}
        self.progress: dict[str, list[str]] = {}
        self.calls: list[tuple] = []
        self.counter = 0
        self.no_credentials = False
        self.registry: Any = None  # the FakeRegistry pushes go to (ECR's images)
        for name in stack.services:
            td = {
                "family": f"huskit-{name}",
                "networkMode": "awsvpc",
                "containerDefinitions": [{"name": name, "image": "old"}],
            }
            arn = self._register(td)
            self.services[name] = {
                "serviceName": name,
                "status": "ACTIVE",
                "taskDefinition": arn,
                "deployments": [self._deployment(arn, "COMPLETED")],
                "events": [],
            }

    # -- helpers --
    def _now(self) -> datetime:
        self.counter += 1
        return T0 + timedelta(seconds=self.counter)

    def _deployment(self, taskdef: str, state: str) -> dict[str, Any]:
        self.counter += 1
        return {
            "id": f"ecs-svc/{self.counter:04d}",
            "status": "PRIMARY",
            "taskDefinition": taskdef,
            "rolloutState": state,
            "rolloutStateReason": f"ECS deployment {state.lower()}",
            "createdAt": self._now(),
        }

    def _register(self, td: dict[str, Any]) -> str:
        rev = 1 + sum(1 for a in self.taskdefs if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == td["family"])
        arn = f"arn:aws:ecs:{self.region}:{ACCOUNT}:task-definition/{td['family']}:{rev}"
        self.taskdefs[arn] = {
            **td,
            "taskDefinitionArn": arn,
            "revision": rev,
            "status": "ACTIVE",
            "compatibilities": ["EC2", "FARGATE"],
        }
        return arn

    def placeholder(self, service: str) -> str:
        """Put ``service`` where infra-apply leaves it: the placeholder revision at 0 tasks."""
        image = f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/huskit/{service}:bootstrap"
        arn = self._register(
            {
                "family": f"huskit-{service}",
                "networkMode": "awsvpc",
                "containerDefinitions": [{"name": service, "image": image}],
            }
        )
        svc = self.services[service]
        svc.update(taskDefinition=arn, desiredCount=0, deployments=[self._deployment(arn, "COMPLETED")])
        return arn

    def _pulls_nothing(self, service: str, taskdef: str) -> bool:
        images = [c.get("image", "") for c in self.taskdefs[taskdef].get("containerDefinitions", [])]
        return self.services[service].get("desiredCount", 1) > 0 and any(i.endswith(":bootstrap") for i in images)

    def _event(self, service: str, message: str) -> None:
        self.services[service]["events"].insert(
            0, {"createdAt": self._now(), "message": f"(service {service}) {message}"}
        )

    def __getattribute__(self, name):
        # Without credentials every AWS call fails, as aws_call reports it.
        if name in EcsApiCalls and object.__getattribute__(self, "no_credentials"):
            from parity.errors import AwsUnavailable

            def refuse(*_a, **_k):
                raise AwsUnavailable(f"{name}: no AWS credentials found")

            return refuse
        return object.__getattribute__(self, name)

    # -- EcsApi --
    def account_id(self) -> str:
        return ACCOUNT

    def cluster_active(self, cluster):
        return cluster in self.clusters

    def repository_uri(self, name):
        return f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{name}" if name in self.repos else None

    def image_digest(self, repository, tag):
        pushed = self.registry.tagged if self.registry is not None else {}
        return next((d for ref, d in pushed.items() if ref.endswith(f"/{repository}:{tag}")), None)

    def registry_login(self):
        return (f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com", "AWS", "token-not-printed")

    def describe_service(self, cluster, service):
        svc = self.services.get(service)
        if svc is None:
            return None
        steps = self.progress.get(service)
        if steps:
            self._advance(service, steps.pop(0))
        return {**svc, "deployments": [dict(d) for d in svc["deployments"]], "events": list(svc["events"])}

    def _advance(self, service: str, action: str) -> None:
        svc = self.services[service]
        ours = svc["deployments"][0]
        if action == "COMPLETED":
            ours["rolloutState"] = "COMPLETED"
            self._event(service, "has reached a steady state.")
        elif action == "FAILED":
            ours["rolloutState"] = "FAILED"
            ours["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
            self._event(service, "(task 1a2b) failed container health checks.")
        elif action == "PULL_FAILED":
            ours["rolloutState"] = "FAILED"
            ours["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
            self._event(service, "(task 3c4d) stopped: CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                        "failed to resolve ref .../huskit/" + service + ":bootstrap: not found")  # fmt: skip
        elif action == "ROLLBACK":
            ours["rolloutState"] = "FAILED"
            ours["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
            ours["status"] = "ACTIVE"
            previous = svc["previous"]
            self._event(service, "(task 1a2b) failed container health checks.")
            self._event(service, f"(deployment {ours['id']}) deployment failed: tasks failed to start.")
            svc["deployments"].insert(0, self._deployment(previous, "IN_PROGRESS"))
            svc["taskDefinition"] = previous
            self._event(service, f"rolling back to {previous.rsplit('/', 1)[-1]}")
            if self._pulls_nothing(service, previous):
                self.progress[service] = ["IN_PROGRESS", "PULL_FAILED"]  # back to an image that was never pushed
            elif not self.progress.get(service):
                self.progress[service] = ["IN_PROGRESS", "COMPLETED"]

    def describe_task_definition(self, arn):
        return dict(self.taskdefs[arn])

    def register_task_definition(self, taskdef):
        self.calls.append(("register", taskdef["family"]))
        return self._register(taskdef)

    def update_service(
        self, cluster, service, task_definition, deployment_configuration, force_new_deployment, desired_count=None
    ):
        self.calls.append(("update", service, task_definition.rsplit("/", 1)[-1]))
        svc = self.services[service]
        if desired_count is not None:
            self.calls.append(("desired", service, desired_count))
            svc["desiredCount"] = desired_count
        for d in svc["deployments"]:
            d["status"] = "ACTIVE"
        svc["previous"] = svc["taskDefinition"]
        svc["deployments"].insert(0, self._deployment(task_definition, "IN_PROGRESS"))
        svc["taskDefinition"] = task_definition
        svc["deploymentConfiguration"] = deployment_configuration
        script = self.scripts.get(service)
        # One script per service: the first update follows it; later updates (rollbacks) complete.
        self.progress[service] = list(script) if script else ["COMPLETED"]
        if self._pulls_nothing(service, task_definition):
            self.progress[service] = ["IN_PROGRESS", "PULL_FAILED"]
        self.scripts.pop(service, None)
        return {**svc, "deployments": [dict(d) for d in svc["deployments"]], "events": list(svc["events"])}

    def deregister_task_definition(self, arn):
        self.calls.append(("deregister", arn.rsplit("/", 1)[-1]))
        self.taskdefs[arn]["status"] = "INACTIVE"

    def task_definition_revisions(self, family):
        return sorted(
            (a for a, td in self.taskdefs.items() if td["family"] == family and td["status"] == "ACTIVE"),
            key=lambda a: int(a.rsplit(":", 1)[-1]),
        )


class FakeRegistry:
    def __init__(self, stack, built: bool = True) -> None:
        self.images = {f"{stack.project}/{s}:local": image_id(s) for s in stack.services} if built else {}
        self.pushed: dict[str, str] = {}
        self.tagged: dict[str, str] = {}  # REPO:TAG -> digest, as the registry holds them
        self.tags: list[tuple[str, str]] = []
        self.logins: list[str] = []
        self.architectures: dict[str, str] = {}  # image ID -> architecture; amd64 unless set

    def image_id(self, ref):
        return self.images.get(ref)

    def image_architecture(self, ref):
        return self.architectures.get(ref, "amd64")

    def repo_digest(self, image, repository):
        return self.pushed.get(f"{repository}|{image}")

    def tag(self, image, ref):
        self.tags.append((image, ref))

    def push(self, ref):
        image = next(i for i, r in reversed(self.tags) if r == ref)
        digest = "sha256:" + hashlib.sha256(f"manifest of {image}".encode()).hexdigest()
        if self.tagged.get(ref, digest) != digest:  # ECR's repositories are IMMUTABLE
            from parity.errors import CommandFailed

            raise CommandFailed(
                ["docker", "push", ref], 1, f"tag invalid: The image tag '{ref.rsplit(':', 1)[1]}' already exists"
            )
        self.pushed[f"{ref.rsplit(':', 1)[0]}|{image}"] = digest
        self.tagged[ref] = digest
        return digest

    def login(self, server, username, password):
        self.logins.append(server)


@dataclass
class FakeStatic:
    published: list[dict[str, str]] = field(default_factory=list)

    def publish(self, images):
        self.published.append(dict(images))
        return 3


@dataclass
class FakeCdn:
    invalidations: list[str] = field(default_factory=list)

    def invalidate(self, distribution_id, paths):
        self.invalidations.append(distribution_id)
        return "I1"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def make_ctx(
    root: Path, env: str = "prod", scripts=None, smoke_ok: bool = True, built: bool = True, **aws
) -> DeployContext:
    stack = load_stack(root, env)
    if aws:
        stack = stack.model_copy(update={"aws": stack.aws.model_copy(update=aws)})
    clock = Clock()
    lines: list[str] = []
    smoke_calls: list[str] = []

    def smoke(url: str) -> bool:
        smoke_calls.append(url)
        return smoke_ok

    ecs, registry = FakeEcs(stack, scripts), FakeRegistry(stack, built)
    ecs.registry = registry
    ctx = DeployContext(
        root=root,
        stack=stack,
        ecs=ecs,
        registry=registry,
        static=FakeStatic(),
        cdn=FakeCdn(),
        smoke=smoke,
        report=lines.append,
        clock=clock,
        sleep=clock.sleep,
        poll_interval=5,
    )
    ctx.lines = lines  # type: ignore[attr-defined]
    ctx.smoke_calls = smoke_calls  # type: ignore[attr-defined]
    return ctx
