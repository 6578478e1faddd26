"""What the operating verbs (`inv status|logs|exec --env ENV`) work with: the
environment's spec and small interfaces to AWS. ``connect`` wires the real
adapters; unit tests build an ``OpsContext`` from fakes or from the adapters
over recorded clients. Without ``--env`` the same verbs act on the local stack
(app/local/local_stack.py, operate_exec.local_exec).

Errors are one line each: no credentials, a stack that does not exist yet, a
service with no tasks, a missing log group, no Session Manager plugin.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from parity.errors import ConfigError, ParityError
from parity.render.infra import stack_name
from parity.spec import Stack


class Tasks(Protocol):
    """ECS as these verbs need it (adapters/ecs.py, EcsTasks)."""

    endpoint: str

    def describe_service(self, cluster: str, service: str) -> dict[str, Any] | None: ...
    def describe_task_definition(self, arn: str) -> dict[str, Any]: ...
    def running_tasks(self, cluster: str, service: str) -> list[dict[str, Any]]: ...
    def execute_command(self, cluster: str, task: str, container: str, command: str) -> dict[str, Any]: ...


class StackInfo(Protocol):
    """The environment's CloudFormation stack (adapters/cloudformation.py)."""

    def stack(self, name: str) -> dict[str, Any] | None: ...
    def physical_ids(self, name: str) -> dict[str, str]: ...


class Logs(Protocol):
    def exists(self, name: str) -> bool: ...
    def events(self, group: str, start_ms: int, pattern: str | None = None) -> list[dict[str, Any]]: ...


class AlarmState(Protocol):
    def firing(self, names: list[str]) -> list[dict[str, Any]]: ...


class TargetHealth(Protocol):
    def health(self, arn: str) -> list[dict[str, Any]]: ...


class ImageManifests(Protocol):
    def config_digest(self, image: str) -> str | None: ...


class Plugin(Protocol):
    def available(self) -> bool: ...
    def start(self, session: dict[str, Any], region: str, target: str, endpoint: str) -> int: ...


@dataclass
class OpsContext:
    root: Path
    stack: Stack
    ecs: Tasks
    cfn: StackInfo
    logs: Logs
    alarms: AlarmState
    targets: TargetHealth
    manifests: ImageManifests
    plugin: Plugin
    clock: Callable[[], float] = time.time  # wall time: log events carry it
    sleep: Callable[[float], None] = time.sleep
    poll_interval: float = 5.0  # `logs -f` asks again this often (as `aws logs tail -f` does)

    @property
    def env(self) -> str:
        return self.stack.env

    @property
    def stack_name(self) -> str:
        return stack_name(self.stack)


def connect(root: Path, env: str) -> OpsContext:
    """The real world for ``env``: AWS through the normal credential chain, or
    the emulator the overlay names. Nothing is asked yet: the use cases check
    what they can first (the spec, the plugin), then the stack; without
    credentials that first call is one line."""
    from parity.adapters.aws import AwsTarget
    from parity.adapters.cloudformation import CloudFormation
    from parity.adapters.ecs import EcsTasks
    from parity.adapters.operations import Alarms, LogGroups, Manifests, SessionManagerPlugin, TargetGroups
    from parity.spec import load_stack

    stack = load_stack(root, env)
    target = AwsTarget(region=stack.region, endpoint_url=stack.aws.endpoint_url)
    return OpsContext(
        root=root,
        stack=stack,
        ecs=EcsTasks(target),
        cfn=CloudFormation(target),
        logs=LogGroups(target),
        alarms=Alarms(target),
        targets=TargetGroups(target),
        manifests=Manifests(target, stack.aws.registry),
        plugin=SessionManagerPlugin(),
    )


def require_stack(ctx: OpsContext) -> dict[str, Any]:
    """The environment's CloudFormation stack, or one line saying what creates it."""
    found = ctx.cfn.stack(ctx.stack_name)
    if found is None or found.get("StackStatus") in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
        how = (
            f"`inv promote --env {ctx.env}` bootstraps it"
            if ctx.stack.aws.bootstrap
            else f"`inv infra-apply --env {ctx.env}` creates it"
        )
        where = f"the emulator at {ctx.stack.aws.endpoint_url}" if ctx.stack.aws.endpoint_url else ctx.stack.region
        raise ParityError(f"{ctx.env}: the stack {ctx.stack_name} does not exist yet in {where}", hint=how)
    return found


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since_seconds(text: str, now: float) -> float:
    """``--since``: a duration back from ``now`` (``30s``, ``10m``, ``2h``,
    ``1d``, ``1w``) or a time (``2026-05-01T10:00``, UTC unless it says
    otherwise); the epoch seconds it means."""
    m = _DURATION.match(text.strip())
    if m:
        return now - int(m.group(1)) * _UNIT[m.group(2)]
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {text}: neither a duration (30s, 10m, 2h, 1d) nor a time (2026-05-01T10:00)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def task_id(arn: str) -> str:
    """``arn:aws:ecs:...:task/CLUSTER/ID`` -> ``ID``."""
    return arn.rsplit("/", 1)[-1]
