"""`inv rollback --env ENV`: put each service back on the task definition
revision before the one it runs, and wait for that deployment. Promote uses
``roll_back`` when a rollout or the smoke tests fail."""

from __future__ import annotations

from parity.app.deploy.changes import live_services
from parity.app.deploy.context import DeployContext
from parity.app.deploy.rollout import Rollout, primary, wait_rollout
from parity.errors import ParityError, RollbackFailed
from parity.render.diff import short_taskdef
from parity.render.taskdef import deployment_configuration, family, is_placeholder
from parity.spec.load import require_services


def previous_revision(revisions: list[str], current: str) -> str | None:
    """The newest ACTIVE revision older than ``current`` (ARNs of one family)."""
    number = int(current.rsplit(":", 1)[-1])
    older = [a for a in revisions if int(a.rsplit(":", 1)[-1]) < number]
    return max(older, key=lambda a: int(a.rsplit(":", 1)[-1])) if older else None


def roll_back(ctx: DeployContext, service: str, to: str) -> Rollout | None:
    """Move ``service`` to task definition ``to`` and wait for it; None when
    the service already runs it, settled. When ECS's circuit breaker got there
    first, its rollback deployment is followed to the end instead: a
    rollback that fails is a failure of its own."""
    live = ctx.ecs.describe_service(ctx.stack.cluster, service) or {}
    if live.get("taskDefinition") == to:
        head = primary(live) or {}
        if head.get("rolloutState", "COMPLETED") == "COMPLETED":
            ctx.report(f"{service}: already on {short_taskdef(to)}")
            return None
        ctx.report(
            f"{service}: ECS is rolling back to {short_taskdef(to)} (deployment {head.get('id')}); waiting for it"
        )
        return _follow(ctx, service, head, to, "ECS's rollback")
    ctx.report(f"{service}: rolling back to {short_taskdef(to)}")
    updated = ctx.ecs.update_service(ctx.stack.cluster, service, to, deployment_configuration(), True)
    return _follow(ctx, service, primary(updated) or {}, to, "rollback")


def _follow(ctx: DeployContext, service: str, head: dict, to: str, what: str) -> Rollout:
    """Wait for the deployment ``head`` to bring ``service`` onto ``to``; report how it ended."""
    rollout = wait_rollout(
        ctx.ecs, ctx.stack.cluster, service, head.get("id", ""), to,
        ctx.stack.aws.rollout_timeout, ctx.clock, ctx.sleep, ctx.poll_interval, ctx.report,
    )  # fmt: skip
    ctx.report(f"{service}: {what} {rollout.state}: {rollout.reason}")
    return rollout


def rollback(ctx: DeployContext, services: list[str] | None = None) -> dict[str, str]:
    """Roll ``services`` (default: all) back one revision; returns service -> task definition."""
    stack = ctx.stack
    require_services(stack, services or [])
    ctx.ecs.account_id()
    live = live_services(ctx)
    wanted = [s for s in live if not services or s in services]
    targets = {}
    for service in wanted:
        current = live[service]["taskDefinition"]
        previous = previous_revision(ctx.ecs.task_definition_revisions(family(stack, service)), current)
        if previous is None:
            raise ParityError(f"{service}: no revision before {short_taskdef(current)} to roll back to")
        if is_placeholder(ctx.ecs.describe_task_definition(previous)):
            # its image was never pushed: at the service's count every task would fail to pull it
            raise ParityError(
                f"{service}: the revision before {short_taskdef(current)} is {short_taskdef(previous)}, the placeholder "
                "infra-apply created the service on: there is no earlier release to roll back to",
                hint=f"promote a release that works (`inv promote --env {ctx.env}`)",
            )
        targets[service] = previous
    failed = []
    for service, to in targets.items():
        rollout = roll_back(ctx, service, to)
        if rollout is not None and not rollout.ok:
            failed.append(f"{service} ({rollout.state}: {rollout.reason})")
    if failed:
        raise RollbackFailed(f"rollback did not complete: {', '.join(failed)}")
    return targets
