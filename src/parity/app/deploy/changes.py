"""`inv diff --env ENV`: the rendered task definitions and service settings
against what ECS runs now, normalised so only real changes show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parity.app.deploy.context import DeployContext
from parity.app.deploy.release import Release
from parity.errors import AwsUnavailable, ParityError
from parity.render.diff import normalise_taskdef, service_diff, taskdef_diff
from parity.render.taskdef import deploy_order, deployment_configuration, family


@dataclass
class ServiceChange:
    """One service: what runs now and what promote would change."""

    service: str
    live: dict[str, Any]
    live_taskdef: dict[str, Any] | None
    taskdef_changed: bool
    taskdef_diff: str
    service_diff: str
    not_compared: str | None = None  # why the live side is unknown (no AWS)

    @property
    def changed(self) -> bool:
        return self.taskdef_changed or bool(self.service_diff)

    @property
    def live_taskdef_arn(self) -> str:
        return self.live["taskDefinition"]


class NotCreated(ParityError):
    """The cluster or a service does not exist yet (infra-apply creates them)."""


def live_services(ctx: DeployContext) -> dict[str, dict[str, Any]]:
    """Every service of the spec as ECS describes it; a missing cluster or
    service is an error (promote updates services, it never creates them)."""
    stack = ctx.stack
    hint = f"`inv infra-apply --env {ctx.env}` creates it"
    if not ctx.ecs.cluster_active(stack.cluster):
        raise NotCreated(f"ECS cluster {stack.cluster} does not exist in {stack.region}", hint=hint)
    out = {}
    for service in deploy_order(stack):
        live = ctx.ecs.describe_service(stack.cluster, service)
        if live is None:
            raise NotCreated(f"ECS service {service} does not exist in cluster {stack.cluster}", hint=hint)
        out[service] = live
    return out


def desired_service(live: dict[str, Any], changed: bool, family: str) -> dict[str, Any]:
    """The service settings a promote leaves: a new revision where the task
    definition changes, and promote's deployment configuration."""
    return {
        "taskDefinition": f"{family}:(new revision)" if changed else live.get("taskDefinition"),
        "deploymentConfiguration": deployment_configuration(),
    }


def diff(ctx: DeployContext, release: Release, offline_ok: bool = False) -> list[ServiceChange]:
    """Per service, in deploy order: the task definition diff and the service
    diff. Without AWS (and ``offline_ok``) the rendered side alone, each
    change saying the live side was not compared (also in ``release.not_compared``)."""
    try:
        found = live_services(ctx)
    except (AwsUnavailable, NotCreated) as exc:
        if not offline_ok:
            raise
        order = deploy_order(ctx.stack)
        why = f"{exc.message} ({exc.hint})" if isinstance(exc, NotCreated) else exc.message
        release.not_compared.append(f"live task definitions and services of {', '.join(order)}: {why}")
        return [
            ServiceChange(
                service=s,
                live={},
                live_taskdef=None,
                taskdef_changed=True,
                taskdef_diff=taskdef_diff(None, release.taskdefs[s], f"task definition {family(ctx.stack, s)}"),
                service_diff="",
                not_compared=why,
            )
            for s in order
        ]
    changes = []
    for service, live in found.items():
        live_td = ctx.ecs.describe_task_definition(live["taskDefinition"]) if live.get("taskDefinition") else None
        rendered = release.taskdefs[service]
        td_changed = live_td is None or normalise_taskdef(live_td) != normalise_taskdef(rendered)
        desired = desired_service(live, td_changed, family(ctx.stack, service))
        changes.append(
            ServiceChange(
                service=service,
                live=live,
                live_taskdef=live_td,
                taskdef_changed=td_changed,
                taskdef_diff=taskdef_diff(live_td, rendered, f"task definition {family(ctx.stack, service)}"),
                service_diff=service_diff(live, desired, f"service {service}"),
            )
        )
    return changes


def show(ctx: DeployContext, changes: list[ServiceChange]) -> None:
    """Print each diff, or say that a service is up to date."""
    for change in changes:
        if change.not_compared:
            ctx.report(f"  {change.service}: live side NOT compared ({change.not_compared}); rendered in full:")
        elif not change.changed:
            ctx.report(f"  {change.service}: no changes")
            continue
        for text in (change.taskdef_diff, change.service_diff):
            for line in text.splitlines():
                ctx.report(f"  {line}")


def report_not_compared(report: Callable[[str], None], release: Release) -> None:
    """Say which live parts a render, diff or dry run could not look at."""
    for part in release.not_compared:
        report(f"not compared with AWS: {part}")
