"""`inv infra-render | infra-plan | infra-apply --env ENV`: the environment as
one CloudFormation stack, provisioned by CloudFormation's change sets.

The seam with promote (README "Who owns what in AWS"): every plan and apply
reads the task definition each service runs now and passes it back as the
service's template parameter, so an apply never undoes a promote.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from parity.errors import DeployFailed, ParityError
from parity.render.infra import (
    STATEFUL_TYPES,
    check,
    needs_edge_stack,
    render_edge_template,
    render_template,
    stack_name,
    taskdef_parameter,
)
from parity.render.infra.edge import ORIGIN_PREVIOUS_VERSION, ORIGIN_VERSION, WAF_REGION, WEB_ACL_PARAMETER
from parity.render.infra.network import PREFIX_LIST_NAME, PREFIX_LIST_PARAMETER
from parity.spec import Stack

Report = Callable[[str], None]
IN_PROGRESS = "_IN_PROGRESS"


class Stacks(Protocol):
    """CloudFormation as the use cases need it (see adapters/cloudformation.py)."""

    def stack(self, name: str) -> dict[str, Any] | None: ...
    def create_change_set(
        self, name: str, change_set: str, template: str, parameters: dict[str, str], kind: str
    ) -> str | None: ...
    def describe_change_set(self, change_set: str, name: str) -> dict[str, Any]: ...
    def execute_change_set(self, change_set: str, name: str) -> None: ...
    def delete_change_set(self, change_set: str, name: str) -> None: ...
    def delete_stack(self, name: str) -> None: ...
    def events(self, name: str) -> list[dict[str, Any]]: ...
    def prefix_list(self, list_name: str) -> str | None: ...


class Services(Protocol):
    def cluster_active(self, cluster: str) -> bool: ...
    def describe_service(self, cluster: str, service: str) -> dict[str, Any] | None: ...


@dataclass
class InfraContext:
    stack: Stack
    cfn: Stacks
    ecs: Services
    report: Report = print
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_interval: float = 5.0
    timeout: float = 3600.0  # a first CloudFront distribution alone takes minutes
    part: str = ""  # "edge": the us-east-1 companion stack holding the web ACL
    edge: InfraContext | None = None  # the companion, where the environment needs one
    secrets: Any = None  # Secrets Manager (versions of the origin lock's secret); None: none read

    @property
    def name(self) -> str:
        return stack_name(self.stack) + (f"-{self.part}" if self.part else "")

    def template(self) -> dict[str, Any]:
        return render_edge_template(self.stack) if self.part == "edge" else render_template(self.stack)


@dataclass
class Change:
    action: str  # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    kind: str
    replacement: str = "False"  # True, False, Conditional

    @property
    def replaces(self) -> bool:
        return self.action == "Modify" and self.replacement in ("True", "Conditional")

    @property
    def stateful(self) -> bool:
        return self.kind in STATEFUL_TYPES

    def line(self) -> str:
        verb = "replace" if self.replaces else self.action.lower()
        mark = {"add": "+", "modify": "~", "replace": "!", "remove": "-"}.get(verb, "?")
        text = f"{mark} {verb:<8}{self.logical_id:<40} {self.kind}"
        if self.replaces and self.replacement == "Conditional":
            text += " (may be replaced)"
        if self.stateful and verb in ("replace", "remove"):
            text += "   <- STATEFUL: its data (or what runs on it) goes" + (" if replaced" if verb == "replace" else "")
        return text


@dataclass
class Plan:
    name: str
    kind: str  # CREATE or UPDATE
    change_set: str | None
    changes: list[Change] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def stateful_replacements(self) -> list[Change]:
        return [c for c in self.changes if c.stateful and (c.replaces or c.action == "Remove")]


def render(stack: Stack, edge: bool = False) -> str:
    """The template as JSON: pure (no network, no credentials). ``edge``: the
    us-east-1 companion's (the web ACL), for an environment that has one."""
    if edge and not needs_edge_stack(stack):
        raise ParityError(f"{stack.env} has no companion stack: its web ACL is in its own template ({stack.region})")
    return json.dumps(render_edge_template(stack) if edge else render_template(stack), indent=2)


def parameters(ctx: InfraContext) -> dict[str, str]:
    """What the template needs from the live world: the prefix list of the
    region and the revision every service runs now (empty before the first promote)."""
    stack = ctx.stack
    if ctx.part == "edge":
        return {}
    prefix_list = ctx.cfn.prefix_list(PREFIX_LIST_NAME)
    if not prefix_list:
        raise ParityError(f"the managed prefix list {PREFIX_LIST_NAME} does not exist in {stack.region}")
    out = {PREFIX_LIST_PARAMETER: prefix_list}
    cluster_up = ctx.ecs.cluster_active(stack.cluster)
    for service in stack.services:
        live = ctx.ecs.describe_service(stack.cluster, service) if cluster_up else None
        out[taskdef_parameter(service)] = live["taskDefinition"] if live else ""
    lock = stack.edge.origin_lock
    if lock is not None and stack.public_services():
        # the secret's versions: a rotation changes the dynamic references, so CloudFormation resolves them again
        versions = ctx.secrets.versions(stack.secret_name(lock.secret)) if ctx.secrets is not None else {}
        out[ORIGIN_VERSION] = versions.get("AWSCURRENT", "")
        out[ORIGIN_PREVIOUS_VERSION] = versions.get("AWSPREVIOUS", "")
    if ctx.edge is not None:
        # the companion's web ACL; before its first apply, a stand-in that only a plan ever sees
        acl = outputs(ctx.edge).get("WebAclArn")
        out[WEB_ACL_PARAMETER] = (
            acl or f"arn:aws:wafv2:{WAF_REGION}:000000000000:global/webacl/{ctx.edge.name}/not-yet-created"
        )
    return out


def plan(ctx: InfraContext, keep: bool = False) -> Plan:
    """Create a change set and read its changes. Without ``keep`` the change
    set is deleted again (a plan changes nothing)."""
    body = json.dumps(ctx.template(), separators=(",", ":"))
    existing = ctx.cfn.stack(ctx.name)
    status = existing["StackStatus"] if existing else None
    if status == "ROLLBACK_COMPLETE":
        raise ParityError(
            f"stack {ctx.name} is ROLLBACK_COMPLETE: its first creation failed and left nothing to update",
            hint=f"delete it (aws cloudformation delete-stack --stack-name {ctx.name}) and apply again",
        )
    if status and status.endswith(IN_PROGRESS) and status != "REVIEW_IN_PROGRESS":
        raise ParityError(f"stack {ctx.name} is {status}: another operation is running", hint="wait for it to finish")
    kind = "UPDATE" if status and status != "REVIEW_IN_PROGRESS" else "CREATE"
    params = parameters(ctx)
    change_set = ctx.cfn.create_change_set(ctx.name, f"parity-{time.time_ns()}", body, params, kind)
    result = Plan(ctx.name, kind, change_set, parameters=params)
    if change_set is None:
        return result
    described = _wait(
        ctx, lambda: ctx.cfn.describe_change_set(change_set, ctx.name),
        lambda d: d.get("Status") not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"),
    )  # fmt: skip
    if described.get("Status") == "FAILED":
        reason = described.get("StatusReason", "")
        _discard(ctx, result)
        if "didn't contain changes" in reason or "No updates" in reason:
            return result
        raise ParityError(f"change set for {ctx.name} failed: {reason}")
    for item in described.get("Changes", []):
        rc = item.get("ResourceChange", {})
        result.changes.append(
            Change(
                rc.get("Action", "?"),
                rc.get("LogicalResourceId", "?"),
                rc.get("ResourceType", "?"),
                str(rc.get("Replacement", "False")),
            )
        )
    if not result.changes or not keep:
        _discard(ctx, result)
    return result


def _discard(ctx: InfraContext, result: Plan) -> None:
    """Delete the change set; for a new stack also the empty stack CloudFormation
    made to hold it (REVIEW_IN_PROGRESS), so a plan leaves nothing behind."""
    if result.change_set is not None:
        ctx.cfn.delete_change_set(result.change_set, ctx.name)
        result.change_set = None
    if result.kind == "CREATE":
        ctx.cfn.delete_stack(ctx.name)


def show(ctx: InfraContext, result: Plan) -> None:
    if ctx.part == "edge":
        ctx.report(
            f"stack {result.name} in {WAF_REGION} ({'new' if result.kind == 'CREATE' else 'update'}): the web ACL"
        )
        for change in result.changes:
            ctx.report(change.line())
        if not result.changes:
            ctx.report("no changes")
        return
    revisions = ", ".join(
        f"{s} {result.parameters.get(taskdef_parameter(s)).rsplit('/', 1)[-1] or '(placeholder, 0 tasks)'}"
        for s in ctx.stack.services
    )
    ctx.report(f"stack {result.name} ({'new' if result.kind == 'CREATE' else 'update'}); revisions kept: {revisions}")
    if not result.changes:
        ctx.report("no changes")
        return
    for change in result.changes:
        ctx.report(change.line())
    counts: dict[str, int] = {}
    for change in result.changes:
        verb = "replace" if change.replaces else change.action.lower()
        counts[verb] = counts.get(verb, 0) + 1
    ctx.report(", ".join(f"{n} to {verb}" for verb, n in counts.items()))
    risky = result.stateful_replacements
    if risky:
        ctx.report(
            f"WARNING: {len(risky)} stateful resource(s) would be replaced or removed: {', '.join(c.logical_id for c in risky)}"
        )


def apply(ctx: InfraContext) -> dict[str, str]:
    """Plan, execute, wait; the stack's outputs. A failed apply raises with
    the events that caused it; CloudFormation has rolled the stack back."""
    if ctx.edge is not None:  # the web ACL first: the distribution needs its ARN
        apply(ctx.edge)
    result = plan(ctx, keep=True)
    show(ctx, result)
    execute(ctx, result)
    return outputs(ctx)


def bootstrap(deploy: Any) -> list[Change]:
    """`inv promote --env local`: the environment's own template applied to the
    emulator first (quietly), so promote finds its cluster, services and
    repositories. Only where the overlay allows it (``aws.bootstrap``)."""
    from parity.errors import ConfigError

    stack = deploy.stack
    if not stack.aws.bootstrap or deploy.emulator is None:
        raise ConfigError(
            f"{deploy.env} is not bootstrapped by promote", hint=f"`inv infra-apply --env {deploy.env}` sets it up"
        )
    ctx = InfraContext(
        stack=stack,
        cfn=deploy.emulator,
        ecs=deploy.ecs,
        report=deploy.report,
        sleep=deploy.sleep,
        poll_interval=0.5,
        timeout=120.0,
    )
    leftovers = ctx.cfn.leftovers() if ctx.cfn.stack(ctx.name) is None else []
    if leftovers:
        # Repositories or clusters without this environment's stack are left over (an older
        # bootstrap, a test): they would clash with the template's names.
        deploy.report(f"the emulator holds {', '.join(leftovers)} but no stack {ctx.name}: resetting it first")
        ctx.cfn.reset()
    result = plan(ctx, keep=True)
    execute(ctx, result)
    return result.changes


def execute(ctx: InfraContext, result: Plan) -> None:
    """Execute a kept change set and wait for the stack (nothing if there is none)."""
    if result.change_set is not None:
        ctx.cfn.execute_change_set(result.change_set, ctx.name)
        ctx.report(f"executing: waiting for {ctx.name} (CloudFront alone can take minutes)")
        final = _wait(
            ctx, lambda: ctx.cfn.stack(ctx.name) or {}, lambda s: not s.get("StackStatus", "").endswith(IN_PROGRESS)
        )
        status = final.get("StackStatus", "?")
        if status.endswith(IN_PROGRESS):
            raise DeployFailed(
                f"stack {ctx.name} still {status} after {ctx.timeout:.0f} s",
                hint="watch it in the CloudFormation console",
            )
        if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            fail(ctx, status)
        ctx.report(f"stack {ctx.name}: {status}")


def outputs(ctx: InfraContext) -> dict[str, str]:
    found = ctx.cfn.stack(ctx.name) or {}
    return {o["OutputKey"]: o.get("OutputValue", "") for o in found.get("Outputs", [])}


def fail(ctx: InfraContext, status: str) -> None:
    """Report the events that failed (oldest first) and raise."""
    failed = [e for e in ctx.cfn.events(ctx.name) if e.get("ResourceStatus", "").endswith("_FAILED")]
    # the first failure caused the rest ("Resource update cancelled")
    failed.reverse()
    for event in failed[:10]:
        ctx.report(
            f"  {event.get('LogicalResourceId')} ({event.get('ResourceType')}): {event.get('ResourceStatus')}: "
            f"{event.get('ResourceStatusReason', '')}"
        )
    cause = next(
        (e for e in failed if "cancelled" not in e.get("ResourceStatusReason", "")), failed[0] if failed else None
    )
    what = (
        f"{cause.get('LogicalResourceId')}: {cause.get('ResourceStatusReason', '')}"
        if cause
        else "no failed event found"
    )
    if status == "UPDATE_ROLLBACK_COMPLETE":
        outcome = "CloudFormation rolled the stack back: it is as it was before this apply"
    elif status == "ROLLBACK_COMPLETE":
        outcome = "the stack's creation was rolled back: nothing but the retained resources (bucket, log groups, repositories, secrets) is left"
    else:
        outcome = f"the stack is {status}: look at it in the console before another apply"
    raise DeployFailed(f"apply of {ctx.name} failed ({what}); {outcome}")


def _wait(ctx: InfraContext, poll: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    deadline = ctx.clock() + ctx.timeout
    while True:
        value = poll()
        if done(value) or ctx.clock() >= deadline:
            return value
        ctx.sleep(ctx.poll_interval)


def connect(root: Any, env: str, report: Report = print) -> InfraContext:
    """The real world for ``env`` (the emulator its overlay names, or AWS)."""
    from parity.adapters.aws import AwsTarget, SecretStore
    from parity.adapters.cloudformation import CloudFormation
    from parity.adapters.ecs import Ecs
    from parity.spec import load_stack

    stack = load_stack(root, env)
    check(stack)  # what a real account needs, before any AWS call
    render_template(stack)  # a spec the template refuses stops here too
    target = AwsTarget(region=stack.region, endpoint_url=stack.aws.endpoint_url)
    ctx = InfraContext(stack=stack, cfn=CloudFormation(target), ecs=Ecs(target), report=report, secrets=SecretStore(target))
    if needs_edge_stack(stack):
        waf = AwsTarget(region=WAF_REGION, endpoint_url=stack.aws.endpoint_url)
        ctx.edge = InfraContext(stack=stack, cfn=CloudFormation(waf), ecs=ctx.ecs, report=report, part="edge")
    if stack.aws.endpoint_url:  # an emulator answers at once
        ctx.poll_interval, ctx.timeout = 0.5, 120.0
    return ctx
