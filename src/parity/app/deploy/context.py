"""What every deploy verb (render, diff, promote, rollback) works
with: the environment's spec and small interfaces to the world. ``connect``
wires the real adapters; unit tests build a ``DeployContext`` from fakes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from parity.spec import Stack

Report = Callable[[str], None]


class EcsApi(Protocol):
    """ECS, ECR and STS as the use cases need them (see adapters/ecs.py)."""

    def account_id(self) -> str: ...
    def cluster_active(self, cluster: str) -> bool: ...
    def repository_uri(self, name: str) -> str | None: ...
    def image_digest(self, repository: str, tag: str) -> str | None: ...
    def registry_login(self) -> tuple[str, str, str]: ...
    def describe_service(self, cluster: str, service: str) -> dict[str, Any] | None: ...
    def describe_task_definition(self, arn: str) -> dict[str, Any]: ...
    def register_task_definition(self, taskdef: dict[str, Any]) -> str: ...
    def update_service(
        self,
        cluster: str,
        service: str,
        task_definition: str,
        deployment_configuration: dict[str, Any],
        force_new_deployment: bool,
        desired_count: int | None = None,
    ) -> dict[str, Any]: ...
    def task_definition_revisions(self, family: str) -> list[str]: ...
    def deregister_task_definition(self, arn: str) -> None: ...


class Registry(Protocol):
    """Local images and a Docker registry (see adapters/docker.py)."""

    def image_id(self, ref: str) -> str | None: ...
    def image_architecture(self, ref: str) -> str | None: ...
    def repo_digest(self, image: str, repository: str) -> str | None: ...
    def tag(self, image: str, ref: str) -> None: ...
    def push(self, ref: str) -> str: ...
    def login(self, server: str, username: str, password: str) -> None: ...


class StaticSite(Protocol):
    """Where the built client goes: the edge's bucket."""

    def publish(self, images: dict[str, str]) -> int: ...


class Cdn(Protocol):
    def invalidate(self, distribution_id: str, paths: list[str]) -> str: ...


@dataclass
class DeployContext:
    root: Path
    stack: Stack
    ecs: EcsApi
    registry: Registry
    static: StaticSite
    cdn: Cdn
    smoke: Callable[[str], bool]
    report: Report = print
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_interval: float = 5.0
    emulator: Any = (
        None  # adapters.cloudformation.Emulator, only where the overlay allows bootstrapping (app/infra.bootstrap)
    )
    outputs: Callable[[], dict[str, str]] = dict  # the environment stack's outputs (Url, DistributionId)

    @property
    def env(self) -> str:
        return self.stack.env


class BucketSite:
    """Copies each public service's built client out of the exact image being
    promoted and uploads it with the plan's Cache-Control. A missing bucket is
    an error, except where the environment may be bootstrapped (an emulator)."""

    def __init__(self, stack: Stack, docker: Any, target: Any) -> None:
        self.stack, self.docker, self.target = stack, docker, target

    def publish(self, images: dict[str, str]) -> int:
        from parity.adapters.aws import Bucket
        from parity.adapters.ecs import bucket_exists
        from parity.app.local.static import publish_clients
        from parity.errors import ParityError

        with_client = [s for s, svc in self.stack.services.items() if svc.static_dir and s in images]
        if not with_client:
            return 0
        bucket = Bucket(self.target, self.stack.edge.bucket)
        if self.stack.aws.bootstrap:
            bucket.ensure()
        elif not bucket_exists(self.target, self.stack.edge.bucket):
            raise ParityError(
                f"S3 bucket {self.stack.edge.bucket} does not exist", hint="create it as in the plan's 6.6"
            )
        return publish_clients(self.stack, self.docker, bucket, {s: images[s] for s in with_client})


def connect(root: Path, env: str, report: Report = print) -> DeployContext:
    """The real world for ``env``: AWS through the normal credential chain (or
    the emulator the overlay names), Docker through python-on-whales."""
    from parity.adapters.aws import AwsTarget
    from parity.adapters.cloudformation import CloudFormation, Emulator
    from parity.adapters.docker import Docker, require_engine
    from parity.adapters.ecs import CloudFront, Ecs
    from parity.app.checks.e2e_run import run_e2e
    from parity.render.infra import stack_name
    from parity.spec import load_stack

    stack = load_stack(root, env)
    require_engine()
    docker = Docker()
    target = AwsTarget(region=stack.region, endpoint_url=stack.aws.endpoint_url)
    s3_target = AwsTarget(region=stack.region, endpoint_url=stack.aws.s3_endpoint_url or stack.aws.endpoint_url)
    return DeployContext(
        root=root,
        stack=stack,
        ecs=Ecs(target),
        registry=docker,
        static=BucketSite(stack, docker, s3_target),
        cdn=CloudFront(target),
        smoke=lambda url: run_e2e(root, url, "smoke"),
        report=report,
        emulator=Emulator(target) if stack.aws.bootstrap else None,
        outputs=lambda: CloudFormation(target).outputs(stack_name(stack)),
    )
