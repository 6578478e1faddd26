"""`inv status --env ENV`: per service, what ECS runs and how its last
deployment went, with the same words as the local `inv status`.

Per service (``deployments``): desired, running and pending tasks; the
revision running and its image (``REPO@sha256:...``); the PRIMARY deployment's
rollout state and the service events since it started; the target group's
health per target (public services). Per task (``services``, the rows local
`inv status` lists per container: name, container -> the task, state, health,
networks -> its subnet): its revision, address, target health and whether ECS
Exec's agent runs in it. For the environment: whether the running set of
images passed e2e together (the records `inv promote` checks, by the config
digest in each image's manifest, which is the local image ID), the alarms of
the template that are in ALARM, the edge URL (the stack's CloudFront output,
else ``aws.url``), and warnings: everything `inv parity --env` would call
undeclared between ECS and the task definition rendered for the environment,
and what keeps a service from running as the spec says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from parity.app.checks import records
from parity.app.deploy.rollout import primary, recent_events
from parity.app.operations.operate import OpsContext, require_stack, task_id
from parity.render.diff import short_taskdef
from parity.render.infra import render_template
from parity.render.infra.edge import target_group
from parity.render.parity import live_differences, taskdef_view
from parity.render.taskdef import render_taskdef

ACCOUNT = "000000000000"  # rendering needs an account; the views compare secrets by name, without it
EVENTS = 5


@dataclass
class Deployment:
    """One ECS service as it runs now."""

    name: str
    desired: int
    running: int
    pending: int
    revision: str | None
    image: str | None
    rollout: dict[str, Any]
    events: list[str]
    targets: list[dict[str, str]] = field(default_factory=list)
    execute_command: bool = False


@dataclass
class TaskRow:
    """One task: the columns of local `inv status` (a container there), and ECS's own."""

    name: str
    container: str  # the task's ID
    state: str
    health: str
    networks: list[str]
    published_ports: list[str]
    revision: str | None
    started_at: str | None
    address: str | None
    target: str | None  # its ALB target's state (public services)
    execute_command: str  # ECS Exec's agent in it: RUNNING, PENDING, ... or "off"


@dataclass
class EnvStatus:
    env: str
    cluster: str
    region: str
    deployments: list[Deployment]
    tasks: list[TaskRow]
    e2e: dict[str, Any]
    alarms: list[dict[str, str]]
    urls: dict[str, str]
    warnings: list[str]

    def as_json(self) -> dict[str, Any]:
        """Local `inv status --json`'s keys (services, urls, warnings), and ECS's."""
        return {
            "env": self.env,
            "cluster": self.cluster,
            "region": self.region,
            "services": [asdict(t) for t in self.tasks],
            "deployments": [asdict(d) for d in self.deployments],
            "e2e": self.e2e,
            "alarms": self.alarms,
            "urls": self.urls,
            "warnings": self.warnings,
        }


def status(ctx: OpsContext) -> EnvStatus:
    stack = ctx.stack
    found = require_stack(ctx)
    deployments: list[Deployment] = []
    tasks: list[TaskRow] = []
    warnings: list[str] = []
    images: dict[str, str | None] = {}
    resources = ctx.cfn.physical_ids(ctx.stack_name) if stack.public_services() else {}
    for name in stack.services:
        svc = ctx.ecs.describe_service(stack.cluster, name)
        if svc is None:
            warnings.append(f"{name}: no ECS service in {stack.cluster} (`inv infra-apply --env {ctx.env}` creates it)")
            continue
        live = ctx.ecs.describe_task_definition(svc["taskDefinition"]) if svc.get("taskDefinition") else None
        image = _container(live, name).get("image")
        images[name] = image
        targets = _targets(ctx, name, resources)
        deployment = deployment_of(name, svc, image, targets)
        deployments.append(deployment)
        tasks += [task_row(name, t, targets) for t in ctx.ecs.running_tasks(stack.cluster, name)]
        warnings += service_warnings(ctx, deployment, svc, live)
    return EnvStatus(
        env=ctx.env,
        cluster=stack.cluster,
        region=stack.region,
        deployments=deployments,
        tasks=tasks,
        e2e=tested(ctx, images) if images else {"passed": False, "detail": "no service runs"},
        alarms=[
            {"name": a.get("AlarmName", ""), "reason": a.get("StateReason", "")}
            for a in ctx.alarms.firing(alarm_names(ctx))
        ],
        urls=edge_url(ctx, found, warnings),
        warnings=warnings,
    )


def _container(taskdef: dict[str, Any] | None, name: str) -> dict[str, Any]:
    containers = (taskdef or {}).get("containerDefinitions") or []
    return next((c for c in containers if c.get("name") == name), containers[0] if containers else {})


def _targets(ctx: OpsContext, name: str, resources: dict[str, str]) -> list[dict[str, str]]:
    """The health of each target in the service's target group (the template's)."""
    if ctx.stack.services[name].exposure != "public":
        return []
    arn = resources.get(target_group(name))
    if arn is None:
        return []
    out = []
    for t in ctx.targets.health(arn):
        target, health = t.get("Target") or {}, t.get("TargetHealth") or {}
        state = health.get("State", "unknown")
        why = state != "healthy"  # a healthy target's reason means nothing
        out.append({
            "id": f"{target.get('Id')}:{target.get('Port')}",
            "state": state,
            "reason": health.get("Reason", "") if why else "",
            "description": health.get("Description", "") if why else "",
        })  # fmt: skip
    return out


def deployment_of(name: str, svc: dict[str, Any], image: str | None, targets: list[dict[str, str]]) -> Deployment:
    head = primary(svc) or {}
    return Deployment(
        name=name,
        desired=svc.get("desiredCount", 0),
        running=svc.get("runningCount", 0),
        pending=svc.get("pendingCount", 0),
        revision=short_taskdef(svc.get("taskDefinition")),
        image=image,
        rollout={
            "id": head.get("id"),
            "state": head.get("rolloutState"),
            "reason": head.get("rolloutStateReason", ""),
            "revision": short_taskdef(head.get("taskDefinition")),
            "started_at": _iso(head.get("createdAt")),
            "failed_tasks": head.get("failedTasks", 0),
            "older_deployments": sum(1 for d in svc.get("deployments", []) if d.get("status") != "PRIMARY"),
        },
        events=recent_events(svc, head.get("createdAt"), EVENTS),
        targets=targets,
        execute_command=bool(svc.get("enableExecuteCommand")),
    )


def _detail(task: dict[str, Any], name: str) -> str | None:
    for attachment in task.get("attachments") or []:
        for d in attachment.get("details") or []:
            if d.get("name") == name:
                return d.get("value")
    return None


def task_row(service: str, task: dict[str, Any], targets: list[dict[str, str]]) -> TaskRow:
    address = _detail(task, "privateIPv4Address")
    container = next((c for c in task.get("containers") or [] if c.get("name") == service), {})
    agent = next((a for a in container.get("managedAgents") or [] if a.get("name") == "ExecuteCommandAgent"), None)
    target = next((t for t in targets if address and t["id"].startswith(f"{address}:")), None)
    subnet = _detail(task, "subnetId")
    return TaskRow(
        name=service,
        container=task_id(task.get("taskArn", "")),
        state=str(task.get("lastStatus", "")).lower(),
        health=str(task.get("healthStatus", "UNKNOWN")).lower(),
        networks=[subnet] if subnet else [],
        published_ports=[],  # a Fargate task publishes none
        revision=short_taskdef(task.get("taskDefinitionArn")),
        started_at=_iso(task.get("startedAt")),
        address=address,
        target=target["state"] if target else None,
        execute_command=(agent or {}).get("lastStatus", "?") if task.get("enableExecuteCommand") else "off",
    )


def service_warnings(ctx: OpsContext, d: Deployment, svc: dict[str, Any], live: dict[str, Any] | None) -> list[str]:
    out = []
    if live is not None:
        rendered = taskdef_view(render_taskdef(ctx.stack, d.name, d.image or "", ACCOUNT))
        for diff in live_differences(d.name, rendered, taskdef_view(live)):
            if diff.undeclared:
                out.append(
                    f"{d.name}: {diff.path}: live={diff.values[1]} rendered={diff.values[0]}, undeclared "
                    f"(`inv parity --env {ctx.env}` fails on it; `inv promote --env {ctx.env}` registers the spec again)"
                )
    if d.desired == 0:
        out.append(f"{d.name}: runs nothing yet (desired 0): `inv promote --env {ctx.env}` starts it")
    elif d.running < d.desired and d.rollout.get("state") == "COMPLETED":
        out.append(f"{d.name}: {d.running} of {d.desired} tasks running")
    for t in d.targets:
        if t["state"] not in ("healthy", "initial", "draining"):
            out.append(
                f"{d.name}: target {t['id']} is {t['state']}"
                + (f" ({t['reason']}: {t['description']})" if t["reason"] else "")
            )
    # (moto drops a templated service's EnableExecuteCommand: an emulator cannot tell)
    if ctx.stack.aws.execute_command and not svc.get("enableExecuteCommand") and not ctx.stack.aws.endpoint_url:
        out.append(
            f"{d.name}: aws.execute_command is on for {ctx.env}, but not on the service: `inv infra-apply --env {ctx.env}`"
        )
    return out


def tested(ctx: OpsContext, images: dict[str, str | None]) -> dict[str, Any]:
    """Whether the images ECS runs passed e2e together, by the records `inv
    promote` checks (keyed by the local image ID: the config digest of the
    pushed manifest)."""
    ids: dict[str, str] = {}
    for name, image in images.items():
        if not image:
            return {"passed": False, "detail": f"{name}: no image in its task definition"}
        digest = ctx.manifests.config_digest(image)
        if digest is None:
            return {
                "passed": None,
                "detail": f"{name}: the manifest of {image} could not be read: whether it passed e2e is unknown",
            }
        ids[name] = digest
    why = records.untested(ctx.root, ids, ctx.stack.aws.e2e_max_age_days)
    return {"passed": why is None, "detail": why or "these images passed e2e together", "images": ids}


def alarm_names(ctx: OpsContext) -> list[str]:
    """The alarms the environment's template declares (plan 10)."""
    template = render_template(ctx.stack)
    return [
        r["Properties"]["AlarmName"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]


def edge_url(ctx: OpsContext, found: dict[str, Any], warnings: list[str]) -> dict[str, str]:
    """The public URL: the stack's CloudFront output, else ``aws.url`` (an
    emulator's stack has no distribution)."""
    outputs = {o.get("OutputKey"): o.get("OutputValue") for o in found.get("Outputs") or []}
    domain = outputs.get("DistributionDomainName")
    url = f"https://{domain}" if domain else ctx.stack.aws.url
    if domain and ctx.stack.aws.url and ctx.stack.aws.url.rstrip("/") != url:
        warnings.append(
            f"aws.url is {ctx.stack.aws.url}, but the stack's distribution is {url}: promote smoke-tests aws.url"
        )
    return {"edge": url} if url else {}


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)
