"""`inv infra-render | infra-plan | infra-apply --env ENV`: the environment as
one CloudFormation stack, provisioned by CloudFormation's change sets.

The seam with promote (README "Who owns what in AWS"): every plan and apply
reads the task definition each service runs now and passes it back as the
service's template parameter, so an apply never undoes a promote.

The first day (issue 16): a stack's status is read through one table
(``stack_states``) before anything is asked of CloudFormation; a fixed-name
resource that exists outside the stack (retained by a failed first creation,
or made by hand) is adopted by an IMPORT change set before the update
(``render.infra.adopt``); a first creation that was rolled back is deleted
and created again by the next apply; the ALB's deletion protection is turned
on only once the ALB exists, so a failed first creation can roll back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from parity.app.infrastructure import stack_states
from parity.errors import DeployFailed, ParityError
from parity.limits import LIMITS
from parity.render.infra import (
    STATEFUL_TYPES,
    check,
    needs_edge_stack,
    render_edge_template,
    render_template,
    stack_name,
    taskdef_parameter,
)
from parity.render.infra.adopt import Adoption, candidates, import_template
from parity.render.infra.edge import (
    ALB_PROTECTION_PARAMETER,
    ORIGIN_PREVIOUS_VERSION,
    ORIGIN_VERSION,
    WAF_REGION,
    WEB_ACL_PARAMETER,
)
from parity.render.infra.network import PREFIX_LIST_NAME, PREFIX_LIST_PARAMETER
from parity.render.infra.verify import verify
from parity.spec import Stack

Report = Callable[[str], None]
IN_PROGRESS = "_IN_PROGRESS"
DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")


class Stacks(Protocol):
    """CloudFormation as the use cases need it (see adapters/cloudformation.py)."""

    def stack(self, name: str) -> dict[str, Any] | None: ...
    def create_change_set(
        self,
        name: str,
        change_set: str,
        template: str,
        parameters: dict[str, str | None],
        kind: str,
        imports: list[dict[str, Any]] | None = None,
    ) -> str | None: ...
    def describe_change_set(self, change_set: str, name: str) -> dict[str, Any]: ...
    def execute_change_set(self, change_set: str, name: str) -> None: ...
    def delete_change_set(self, change_set: str, name: str) -> None: ...
    def delete_stack(self, name: str) -> None: ...
    def events(self, name: str) -> list[dict[str, Any]]: ...
    def prefix_list(self, list_name: str) -> str | None: ...
    def resources(self, name: str) -> dict[str, str]: ...
    def deployed_template(self, name: str) -> dict[str, Any]: ...
    def existing(self, kind: str, name: str) -> dict[str, str] | None: ...


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
    part: str = ""  # "edge": the us-east-1 companion holding the web ACL; "bootstrap": the deploy identities
    edge: InfraContext | None = None  # the companion, where the environment needs one
    secrets: Any = None  # Secrets Manager (versions of the origin lock's secret); None: none read
    # the stack's outputs once read after an apply (parameters() of the stack after it take the web ACL from here)
    applied_outputs: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    _template: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return stack_name(self.stack) + (f"-{self.part}" if self.part else "")

    def template(self) -> dict[str, Any]:
        """The part's rendered template, rendered once (the spec does not change
        within a command; nothing mutates the template)."""
        if self._template is None:
            if self.part == "bootstrap":
                from parity.render.infra.identities import render_bootstrap_template

                self._template = render_bootstrap_template(self.stack)
            else:
                self._template = (
                    render_edge_template(self.stack) if self.part == "edge" else render_template(self.stack)
                )
        return self._template


@dataclass
class Change:
    action: str  # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    kind: str
    replacement: str = "False"  # True, False, Conditional
    note: str = ""

    @property
    def replaces(self) -> bool:
        return self.action == "Modify" and self.replacement in ("True", "Conditional")

    @property
    def stateful(self) -> bool:
        return self.kind in STATEFUL_TYPES

    def line(self) -> str:
        verb = "replace" if self.replaces else self.action.lower()
        mark = {"add": "+", "modify": "~", "replace": "!", "remove": "-", "import": "="}.get(verb, "?")
        verb = "adopt" if verb == "import" else verb
        text = f"{mark} {verb:<8}{self.logical_id:<40} {self.kind}"
        if self.note:
            text += f" ({self.note})"
        if self.replaces and self.replacement == "Conditional":
            text += " (may be replaced)"
        if self.stateful and verb in ("replace", "remove"):
            text += (
                "   <- STATEFUL" + (" (if replaced)" if verb == "replace" else "") + f": {STATEFUL_TYPES[self.kind]}"
            )
        return text


@dataclass
class Plan:
    name: str
    kind: str  # CREATE or UPDATE
    change_set: str | None
    changes: list[Change] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    status: str | None = None  # the stack's status when planned (None: no stack)
    adopt: list[Adoption] = field(default_factory=list)  # existing resources an IMPORT takes in first
    recreate: bool = False  # a rolled-back first creation: deleted, then created again

    @property
    def stateful_replacements(self) -> list[Change]:
        return [c for c in self.changes if c.stateful and (c.replaces or c.action == "Remove")]


def render(stack: Stack, edge: bool = False, report: Report = print) -> str:
    """The template as JSON: pure (no network, no credentials). ``edge``: the
    us-east-1 companion's (the web ACL), for an environment that has one.
    Verified against AWS's limits first (``within_limits``)."""
    if edge and not needs_edge_stack(stack):
        raise ParityError(f"{stack.env} has no companion stack: its web ACL is in its own template ({stack.region})")
    return json.dumps(within_limits(render_edge_template(stack) if edge else render_template(stack), report), indent=2)


def within_limits(template: dict[str, Any], report: Report) -> dict[str, Any]:
    """``template`` if AWS's documented limits allow it (``parity.limits``);
    a warning is reported (an adjustable quota to raise first), an error raises."""
    result = verify(template)
    for finding in result.warnings:
        report(finding.line())
    if result.errors:
        first, rest = result.errors[0], result.errors[1:]
        error = ParityError(
            f"the rendered template breaks AWS's limits: {first.where}: {first.message} ({first.limit})"
            + (f" and {len(rest)} more" if rest else ""),
            hint=LIMITS[first.limit].source,
        )
        error.details = [f.line() for f in result.errors]
        raise error
    return template


def parameters(
    ctx: InfraContext, in_stack: set[str] | frozenset[str] = frozenset(), template: dict[str, Any] | None = None
) -> dict[str, str]:
    """What the template needs from the live world: the prefix list of the
    region, the revision every service runs now (empty before the first
    promote) and the ALB's deletion protection: on once the ALB exists in the
    stack (``in_stack``), never during its creation, so a failed creation can
    roll back (an ALB it may not delete leaves the stack ROLLBACK_FAILED)."""
    stack = ctx.stack
    if ctx.part:  # the companions take nothing from the live world
        return {}
    prefix_list = ctx.cfn.prefix_list(PREFIX_LIST_NAME)
    if not prefix_list:
        raise ParityError(f"the managed prefix list {PREFIX_LIST_NAME} does not exist in {stack.region}")
    out = {PREFIX_LIST_PARAMETER: prefix_list}
    if ALB_PROTECTION_PARAMETER in (template or ctx.template()).get("Parameters", {}):
        out[ALB_PROTECTION_PARAMETER] = "true" if "Alb" in in_stack else "false"
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
        acl = (ctx.edge.applied_outputs if ctx.edge.applied_outputs is not None else outputs(ctx.edge)).get("WebAclArn")
        out[WEB_ACL_PARAMETER] = (
            acl or f"arn:aws:wafv2:{WAF_REGION}:000000000000:global/webacl/{ctx.edge.name}/not-yet-created"
        )
    return out


def plan(ctx: InfraContext, keep: bool = False) -> Plan:
    """Create a change set and read its changes. Without ``keep`` the change
    set is deleted again (a plan changes nothing); it is not kept either when
    the stack must first be adopted into or created again (``apply`` does
    those, then plans the rest). A busy or stuck stack raises its one line."""
    template = ctx.template()
    body = json.dumps(template, separators=(",", ":"))
    existing = ctx.cfn.stack(ctx.name)
    status = existing["StackStatus"] if existing else None
    usable = stack_states.require_usable(status, ctx.name, ctx.stack.env)
    in_stack = standing(ctx.cfn.resources(ctx.name)) if usable == "ready" else set()
    kind = "UPDATE" if usable == "ready" else "CREATE"
    params = parameters(ctx, in_stack, template)
    result = Plan(ctx.name, kind, None, parameters=params, status=status, recreate=usable == "recreate")
    result.adopt = adoptions(ctx, template, in_stack)
    adopted = {a.logical_id for a in result.adopt}
    if result.recreate:
        # CloudFormation makes no change set of a ROLLBACK_COMPLETE stack: the plan is the template's
        result.changes = [
            Change(
                "Import" if lid in adopted else "Add",
                lid,
                res["Type"],
                note=f"if {res['Condition']}" if "Condition" in res else "",
            )
            for lid, res in template["Resources"].items()
        ]
        return result
    if result.adopt:  # CloudFormation judges the adoption now, not mid-apply
        _import_change_set(ctx, result, template, keep=False, existing=existing)
    try:
        change_set = ctx.cfn.create_change_set(ctx.name, f"parity-{time.time_ns()}", body, params, kind)
    except ParityError:
        if result.adopt and kind == "CREATE":
            ctx.cfn.delete_stack(ctx.name)  # the import check's REVIEW_IN_PROGRESS stack
        raise
    result.change_set = change_set
    if change_set is None:
        return result
    described = _wait(
        ctx, lambda: ctx.cfn.describe_change_set(change_set, ctx.name),
        lambda d: d.get("Status") not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"),
    )  # fmt: skip
    if described.get("Status") == "FAILED":
        reason = described.get("StatusReason", "")
        _discard(ctx, result, keep_stack=keep)
        if "didn't contain changes" in reason or "No updates" in reason:
            return result
        raise ParityError(f"change set for {ctx.name} failed: {reason}")
    for item in described.get("Changes", []):
        rc = item.get("ResourceChange", {})
        action, lid = rc.get("Action", "?"), rc.get("LogicalResourceId", "?")
        if lid in adopted and action == "Add":
            action = "Import"  # exists already: apply imports it before this change set runs
        result.changes.append(Change(action, lid, rc.get("ResourceType", "?"), str(rc.get("Replacement", "False"))))
    if not result.changes or not keep or result.adopt:
        _discard(ctx, result, keep_stack=keep)
    return result


def standing(resources: dict[str, str]) -> set[str]:
    """The logical ids of a stack's resources that exist (not deleted, retained
    away or never created)."""
    gone = ("DELETE_COMPLETE", "DELETE_SKIPPED", "CREATE_FAILED", "CREATE_IN_PROGRESS", "IMPORT_ROLLBACK_COMPLETE")
    return {lid for lid, status in resources.items() if status not in gone}


def adoptions(ctx: InfraContext, template: dict[str, Any], in_stack: set[str]) -> list[Adoption]:
    """The template's fixed-name resources that exist outside the stack (retained
    by a failed creation, made by hand): each looked up by its name."""
    out = []
    for c in candidates(template, in_stack):
        identifier = ctx.cfn.existing(c.kind, c.name)
        if identifier is not None:
            out.append(Adoption(c.logical_id, c.kind, c.name, identifier))
    return out


def _import_change_set(
    ctx: InfraContext, result: Plan, template: dict[str, Any], keep: bool, existing: dict[str, Any] | None = None
) -> str | None:
    """An IMPORT change set taking ``result.adopt`` into the stack as it stands
    (its template and parameters unchanged); CloudFormation's verdict is read.
    Deleted again unless ``keep`` (then its id). ``existing``: the stack as the
    plan just described it (read here when not given)."""
    if result.kind != "UPDATE":
        existing = None
    elif existing is None:
        existing = ctx.cfn.stack(ctx.name)
    deployed = ctx.cfn.deployed_template(ctx.name) if existing else None
    params: dict[str, str | None] = {p["ParameterKey"]: None for p in (existing or {}).get("Parameters", [])}
    body = json.dumps(import_template(template, result.adopt, deployed), separators=(",", ":"))
    imports = [a.resource_to_import() for a in result.adopt]
    names = ", ".join(a.name for a in result.adopt)
    hint = "a resource that belongs to another stack must leave it first (DeletionPolicy Retain, then out of that template)"
    try:
        change_set = ctx.cfn.create_change_set(
            ctx.name, f"parity-adopt-{time.time_ns()}", body, params, "IMPORT", imports
        )
    except ParityError as exc:
        raise ParityError(f"adopting {names} into {ctx.name} was refused: {exc.message}", hint=hint) from None
    if change_set is None:
        raise ParityError(f"CloudFormation made no change set to adopt {names}")
    described = _wait(
        ctx, lambda: ctx.cfn.describe_change_set(change_set, ctx.name),
        lambda d: d.get("Status") not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"),
    )  # fmt: skip
    failed = described.get("Status") == "FAILED"
    if failed or not keep:
        ctx.cfn.delete_change_set(change_set, ctx.name)
    if failed:
        if existing is None:
            ctx.cfn.delete_stack(ctx.name)  # the REVIEW_IN_PROGRESS stack the change set made
        raise ParityError(
            f"adopting {names} into {ctx.name} was refused: {described.get('StatusReason', '')}", hint=hint
        )
    # (a plan's new stack stays REVIEW_IN_PROGRESS for its CREATE change set; the plan deletes it)
    return change_set if keep else None


def _discard(ctx: InfraContext, result: Plan, keep_stack: bool = False) -> None:
    """Delete the change set; for a new stack also the empty stack CloudFormation
    made to hold it (REVIEW_IN_PROGRESS), so a plan leaves nothing behind. A kept
    plan (``keep_stack``) leaves that stack for its apply, which creates it (the
    plan role may not delete stacks)."""
    if result.change_set is not None:
        ctx.cfn.delete_change_set(result.change_set, ctx.name)
        result.change_set = None
    if result.kind == "CREATE" and not keep_stack:
        ctx.cfn.delete_stack(ctx.name)


def show(ctx: InfraContext, result: Plan) -> None:
    if ctx.part:
        what = f"in {WAF_REGION} (" if ctx.part == "edge" else "("
        purpose = "the web ACL" if ctx.part == "edge" else "the deploy identities"
        ctx.report(f"stack {result.name} {what}{'new' if result.kind == 'CREATE' else 'update'}): {purpose}")
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
    if result.status and result.status not in DONE:
        ctx.report(stack_states.line(result.status, result.name, ctx.stack.env))
    if result.recreate:
        ctx.report(f"infra-apply deletes the rolled-back stack {result.name} (it holds nothing), then creates it:")
    if result.adopt:
        ctx.report(
            "adopt first (an IMPORT change set; then the update brings them to the template): "
            + ", ".join(f"{a.logical_id} ({a.name})" for a in result.adopt)
        )
    protection = result.parameters.get(ALB_PROTECTION_PARAMETER)
    if protection == "false" and "Alb" in {c.logical_id for c in result.changes if c.action in ("Add", "Import")}:
        ctx.report("the ALB is created without deletion protection; the next apply turns it on")
    if not result.changes:
        ctx.report("no changes")
        return
    for change in result.changes:
        ctx.report(change.line())
    counts: dict[str, int] = {}
    for change in result.changes:
        verb = "replace" if change.replaces else {"Import": "adopt"}.get(change.action, change.action.lower())
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
    if result.recreate:
        delete_rolled_back(ctx)
    if result.adopt:
        adopt(ctx, result)
    if result.recreate or result.adopt:
        result = plan(ctx, keep=True)  # the rest, now that the stack holds what existed
        ctx.report(f"then the update: {len(result.changes)} change(s)")
    return _applied(ctx, execute(ctx, result))


def _applied(ctx: InfraContext, final: dict[str, Any] | None) -> dict[str, str]:
    """The outputs of an applied stack: from the description its wait ended
    on (read once more only when nothing was executed); kept on ``ctx``."""
    ctx.applied_outputs = outputs(ctx, final)
    return ctx.applied_outputs


def delete_rolled_back(ctx: InfraContext) -> None:
    """Delete a ROLLBACK_COMPLETE stack (it holds nothing but its name; what the
    failed creation retained stays, to be adopted) and wait until it is gone."""
    ctx.report(f"deleting {ctx.name}: its first creation was rolled back and it holds nothing")
    ctx.cfn.delete_stack(ctx.name)
    final = _wait(
        ctx, lambda: ctx.cfn.stack(ctx.name) or {"StackStatus": "DELETE_COMPLETE"},
        lambda s: not s.get("StackStatus", "").endswith(IN_PROGRESS),
    )  # fmt: skip
    if final.get("StackStatus") != "DELETE_COMPLETE":
        raise DeployFailed(stack_states.line(final.get("StackStatus", "?"), ctx.name, ctx.stack.env))


def adopt(ctx: InfraContext, result: Plan) -> None:
    """Import ``result.adopt`` into the stack (creating it if new) and wait."""
    change_set = _import_change_set(ctx, result, ctx.template(), keep=True)
    ctx.report(f"adopting {', '.join(f'{a.logical_id} ({a.name})' for a in result.adopt)}")
    execute(ctx, Plan(ctx.name, "IMPORT", change_set))


def bootstrap(deploy: Any, dry_run: bool = False) -> list[Change]:
    """`inv promote --env local`: the environment's own template applied to the
    emulator first (quietly), so promote finds its cluster, services and
    repositories. Only where the overlay allows it (``aws.bootstrap``).
    ``dry_run``: the plan only (a change set, deleted again), shown as
    ``infra-plan`` shows it; nothing is reset or created."""
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
    if dry_run:
        if leftovers:
            deploy.report(
                f"the emulator holds {', '.join(leftovers)} but no stack {ctx.name}: a promote resets it first"
            )
            return [Change("Add", lid, res["Type"]) for lid, res in ctx.template()["Resources"].items()]
        result = plan(ctx)
        show(ctx, result)
        return result.changes
    if leftovers:
        # Repositories or clusters without this environment's stack are left over (an older
        # bootstrap, a test): they would clash with the template's names.
        deploy.report(f"the emulator holds {', '.join(leftovers)} but no stack {ctx.name}: resetting it first")
        ctx.cfn.reset()
    result = plan(ctx, keep=True)
    if result.adopt or result.recreate:
        # the emulator is the toolkit's own: started clean rather than adopted into (moto cannot import)
        deploy.report(
            f"the emulator holds {', '.join(a.name for a in result.adopt) or ctx.name} outside the stack: resetting it first"
        )
        ctx.cfn.reset()
        result = plan(ctx, keep=True)
    execute(ctx, result)
    return result.changes


def execute(ctx: InfraContext, result: Plan) -> dict[str, Any] | None:
    """Execute a kept change set and wait for the stack (nothing if there is
    none); the stack's last description (None when nothing was executed)."""
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
        if status not in DONE:
            fail(ctx, status)
        ctx.report(f"stack {ctx.name}: {status}")
        return final
    return None


def outputs(ctx: InfraContext, described: dict[str, Any] | None = None) -> dict[str, str]:
    """The stack's outputs, from ``described`` (a description just read) or read now."""
    found = (described if described is not None else ctx.cfn.stack(ctx.name)) or {}
    return {o["OutputKey"]: o.get("OutputValue", "") for o in found.get("Outputs", [])}


def fail(ctx: InfraContext, status: str) -> None:
    """Report the events that failed (oldest first) and raise: the first cause,
    then the stack's state line (what happened, what to run next)."""
    events = ctx.cfn.events(ctx.name)
    failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
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
    outcome = stack_states.line(status, ctx.name, ctx.stack.env)
    # what the rollback kept (DeletionPolicy Retain), only where it kept something
    retained = sorted({e.get("LogicalResourceId", "") for e in events if e.get("ResourceStatus") == "DELETE_SKIPPED"})
    if retained:
        outcome += f" (retained, to be adopted: {', '.join(retained)})"
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
    from parity.spec import load_stack

    stack = load_stack(root, env)
    check(stack)  # what a real account needs, before any AWS call
    ctx = contexts(stack, report, stack.aws.endpoint_url)  # (makes clients; calls nothing yet)
    within_limits(ctx.template(), report)  # a template AWS would refuse stops here too
    if ctx.edge is not None:
        within_limits(ctx.edge.template(), report)
    return ctx


def _target(region: str, endpoint_url: str | None, credentials: Any) -> Any:
    from parity.adapters.aws import AwsTarget

    return AwsTarget(region=region, endpoint_url=endpoint_url, credentials=credentials)


def contexts(
    stack: Stack,
    report: Report = print,
    endpoint_url: str | None = None,
    credentials: Any = None,
    adapter: Callable[..., Any] | None = None,
) -> InfraContext:
    """The environment's stack (and its us-east-1 companion) at ``endpoint_url``
    (None: AWS), as ``credentials`` (None: the normal chain). An environment
    deployed from CI (``infra.github``, a real account) is changed through its
    CloudFormation service role, which its bootstrap stack made. ``adapter``:
    another CloudFormation adapter (the rehearsal's), called as ``adapter(target, service_role)``."""
    from parity.adapters.aws import SecretStore
    from parity.adapters.cloudformation import CloudFormation
    from parity.adapters.ecs import Ecs
    from parity.render.infra.common import uses_tls
    from parity.render.infra.identities import role_name

    make = adapter or CloudFormation
    service_role = role_name(stack, "cloudformation") if stack.infra.github and uses_tls(stack) else None
    target = _target(stack.region, endpoint_url, credentials)
    ctx = InfraContext(
        stack=stack, cfn=make(target, service_role), ecs=Ecs(target), report=report, secrets=SecretStore(target)
    )
    if needs_edge_stack(stack):
        waf = _target(WAF_REGION, endpoint_url, credentials)
        ctx.edge = InfraContext(stack=stack, cfn=make(waf, service_role), ecs=ctx.ecs, report=report, part="edge")
    if endpoint_url:  # an emulator answers at once
        ctx.poll_interval, ctx.timeout = 0.5, 120.0
        if ctx.edge is not None:
            ctx.edge.poll_interval, ctx.edge.timeout = 0.5, 120.0
    return ctx


def bootstrap_context(
    stack: Stack, report: Report = print, endpoint_url: str | None = None, credentials: Any = None
) -> InfraContext:
    """The environment's bootstrap stack (its deploy identities), applied with the
    caller's own rights: an administrator's, once (``inv infra-bootstrap``)."""
    from parity.adapters.cloudformation import CloudFormation
    from parity.adapters.ecs import Ecs
    from parity.errors import ConfigError

    if stack.infra.github is None:
        raise ConfigError(
            f"deploy/{stack.env}.yaml: infra.github is not set: no workflow deploys {stack.env}, so it has no deploy identities"
        )
    target = _target(stack.region, endpoint_url, credentials)
    ctx = InfraContext(stack=stack, cfn=CloudFormation(target), ecs=Ecs(target), report=report, part="bootstrap")
    if endpoint_url:
        ctx.poll_interval, ctx.timeout = 0.5, 120.0
    return ctx


# -- plan in one job, apply exactly that plan in another (infra.yml) ------------------


def parts(ctx: InfraContext) -> list[InfraContext]:
    """The stacks of the environment, in the order they are applied (the companion first)."""
    return [ctx.edge, ctx] if ctx.edge is not None else [ctx]


def plan_file(root: Any, env: str) -> Any:
    from pathlib import Path

    return Path(root) / ".parity" / f"infra-plan-{env}.json"


def _entry(ctx: InfraContext, result: Plan) -> dict[str, Any]:
    return {
        "stack": result.name,
        "kind": result.kind,
        "change_set": result.change_set,
        "parameters": result.parameters,
        "changes": [[c.action, c.logical_id, c.kind, c.replacement] for c in result.changes],
    }


def plan_all(ctx: InfraContext, keep: bool = False, root: Any = None) -> list[Plan]:
    """Plan every stack of the environment and show it. With ``keep`` the change
    sets stay and are written to ``.parity/infra-plan-<env>.json`` for
    ``apply_planned`` (the apply job of infra.yml)."""
    from parity.app.jsonfile import write_json

    results = []
    for part in parts(ctx):
        result = plan(part, keep=keep)
        show(part, result)
        results.append(result)
    if keep and root is not None:
        path = plan_file(root, ctx.stack.env)
        write_json(
            path, {"env": ctx.stack.env, "stacks": [_entry(p, r) for p, r in zip(parts(ctx), results, strict=True)]}
        )
        ctx.report(f"change sets kept for `inv infra-apply --env {ctx.stack.env} --planned`: {path.name}")
    return results


def apply_planned(ctx: InfraContext, root: Any) -> dict[str, str]:
    """Apply exactly what a kept plan showed. Each stack is planned again: when
    the changes and what the plan read from the live world (the revisions
    running, the companion's web ACL) are as they were, the kept change set is
    executed; when only what it read has moved (a promote in between), the new
    change set with the same changes; when the changes differ, nothing. A plan
    that could not be one change set (what must be adopted or created again
    first) is applied as ``apply`` does, its changes checked the same way."""
    from parity.app.jsonfile import read_json

    path = plan_file(root, ctx.stack.env)
    saved = read_json(path)
    if not saved or saved.get("env") != ctx.stack.env:
        raise ParityError(
            f"no kept plan of {ctx.stack.env} ({path.name})",
            hint=f"`inv infra-plan --env {ctx.stack.env} --keep` first",
        )
    planned = {entry["stack"]: entry for entry in saved.get("stacks", [])}
    for part in parts(ctx):
        entry = planned.get(part.name)
        if entry is None:
            raise ParityError(f"the kept plan has no change set for {part.name}", hint="plan again")
        reviewed = Plan(part.name, entry["kind"], entry["change_set"], parameters=entry["parameters"])
        reviewed.changes = [Change(*c) for c in entry["changes"]]
        fresh = plan(part, keep=True)
        if _changes(fresh) != _changes(reviewed):
            if fresh.change_set is not None:
                part.cfn.delete_change_set(fresh.change_set, part.name)
            raise ParityError(
                f"{part.name}: the changes would now differ from the reviewed plan ({len(fresh.changes)} instead of {len(reviewed.changes)})",
                hint="run the infrastructure workflow again and review the new plan",
            )
        if not fresh.changes:
            part.report(f"stack {part.name}: no changes (as planned)")
            continue
        moved = sorted(
            k
            for k in {*fresh.parameters, *reviewed.parameters}
            if fresh.parameters.get(k) != reviewed.parameters.get(k)
        )
        if fresh.change_set is None:  # an adoption or a re-creation comes first: apply does it, then the rest
            part.report(f"stack {part.name}: the reviewed changes, applied as `inv infra-apply` does")
            apply(part)  # (its companion first, as always: applied already, it has nothing to change)
        elif not moved and reviewed.change_set is not None:
            part.cfn.delete_change_set(fresh.change_set, part.name)
            part.report(f"stack {part.name}: executing the reviewed change set ({len(reviewed.changes)} changes)")
            _applied(part, execute(part, reviewed))
        else:
            part.report(
                f"stack {part.name}: {', '.join(moved) or 'the kept change set'} changed since the plan; the same changes, planned again"
            )
            _applied(part, execute(part, fresh))
    return ctx.applied_outputs if ctx.applied_outputs is not None else outputs(ctx)


def _changes(result: Plan) -> list[tuple[str, str, str, str]]:
    return [(c.action, c.logical_id, c.kind, c.replacement) for c in result.changes]
