"""How the rehearsal (app/rehearsal/rehearse.py) runs a workflow job: the report it
builds (a tree of named checks, OK / NG / SKIP), one emulated account and its
administrator (``Day``), and each job's `inv` commands run through the
project's own use cases (``parity.app.infrastructure.infra``, ``promote``, ``rollback``) with
the credentials of the role the job assumed, its refusals named by action,
role and job."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity import workflows
from parity.errors import DeployFailed, ParityError
from parity.render.infra.identities import bootstrap_name, render_bootstrap_template
from parity.spec import Stack, load_stack

OK, NG, SKIP = "OK", "NG", "SKIP"
Say = Callable[[str], None]
DENIED = re.compile(
    r"User: arn:aws:sts::\d+:assumed-role/([^/\s]+)/\S+ is not authorized to perform: (\S+) on resource: (\S+)"
)
ORIGIN = "origin.rehearsal.invalid"  # the ALB's name on its certificate (README: infra.origin_domain)


@dataclass
class Check:
    status: str
    name: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Section:
    title: str
    checks: list[Check] = field(default_factory=list)


@dataclass
class Report:
    env: str
    sections: list[Section] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # the rules this run made run
    unchecked: list[str] = field(default_factory=list)  # and the ones it could not, with why

    @property
    def failed(self) -> list[str]:
        return [f"{s.title}: {c.name}" for s in self.sections for c in s.checks if c.status == NG]

    def lines(self) -> list[str]:
        out = [f"rehearse {self.env}: the first day of production, offline"]
        for i, section in enumerate(self.sections):
            last = i == len(self.sections) - 1
            out.append(("└── " if last else "├── ") + section.title)
            stem = "    " if last else "│   "
            for j, c in enumerate(section.checks):
                branch = "└── " if j == len(section.checks) - 1 else "├── "
                out.append(f"{stem}{branch}{c.status:<4}  {c.name}" + (f": {c.detail}" if c.detail else ""))
        out.append("rules made to run here:")
        out += [f"  - {r}" for r in self.checked]
        out.append("rules NOT checked here (and why):")
        out += [f"  - {r}" for r in self.unchecked]
        counts = {k: sum(1 for s in self.sections for c in s.checks if c.status == k) for k in (OK, NG, SKIP)}
        out.append(f"rehearse {self.env}: {counts[OK]} OK, {counts[NG]} NG, {counts[SKIP]} SKIP")
        return out


def explain(message: str, job: str | None = None) -> str:
    """An AccessDenied in the words the report uses: the action, the role, the job."""
    m = DENIED.search(message)
    if not m:
        return message
    role, action, resource = m.groups()
    return (
        f"{action} on {resource} is not allowed to role {role}"
        + (f" (workflow job {job})" if job else "")
        + f" [{message}]"
    )


class Day:
    """One emulated account and the checks made in it, section by section."""

    def __init__(self, root: Path, env: str, url: str, report: Report, say: Say) -> None:
        from parity.adapters.rehearsal import Account

        self.root, self.env, self.url, self.report, self.say = root, env, url, report, say
        self.base = load_stack(root, env)
        self.account = Account(url, self.base.region)
        self.work = Path(tempfile.mkdtemp(prefix="parity-rehearse-"))
        self.rolled_back: dict[str, list[dict[str, Any]]] = {}
        self.stack = self.base
        self.section: Section | None = None
        self.log: list[str] = []
        self.registry: Any = None  # adapters.rehearsal.EcrPush, for the promote jobs
        self.site: Any = None  # adapters.rehearsal.ClientSite

    # -- the report --
    def open(self, title: str) -> Section:
        self.section = Section(title)
        self.report.sections.append(self.section)
        self.say(title)
        return self.section

    def check(self, name: str, fn: Callable[[], str | None], job: str | None = None) -> bool:
        """Run one named check: OK with what ``fn`` returns, NG with the error it raised."""
        assert self.section is not None
        self.log = []
        t0 = time.monotonic()
        try:
            detail, status = fn() or "", OK
        except (ParityError, AssertionError) as exc:
            detail, status = explain(str(exc), job), NG
        except Skip as exc:
            detail, status = str(exc), SKIP
        except Exception as exc:  # noqa: BLE001 - the emulator's own failure: an NG line, never a traceback
            detail, status = f"the emulator failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", NG
        c = Check(status, name, detail, time.monotonic() - t0)
        self.section.checks.append(c)
        self.say(f"  {status:<4}  {name}" + (f": {detail}" if detail else ""))
        if status == NG:
            for line in self.log[-8:]:
                self.say(f"          | {line}")
        return status == OK

    def note(self, line: str) -> None:
        self.log.append(line)

    # -- the administrator: README "Bootstrap a fresh account" --
    def with_certificate(self, stack: Stack) -> Stack:
        """README step 2: an ACM certificate for the ALB's origin name, its ARN and the name in the overlay."""
        certificate = self.account.request_certificate(ORIGIN)
        return stack.model_copy(
            update={"infra": stack.infra.model_copy(update={"certificate_arn": certificate, "origin_domain": ORIGIN})}
        )

    def bootstrap(self, stack: Stack) -> str:
        """README step 3: `inv infra-bootstrap --env ENV`, as the administrator."""
        from parity.app.infrastructure.infra import bootstrap_context, execute, plan

        ctx = bootstrap_context(stack, self.note, self.url, self.account.admin)
        ctx.poll_interval = 0.05
        result = plan(ctx, keep=True)
        execute(ctx, result)
        made = self.account.stand_in_oidc_providers(render_bootstrap_template(stack))
        stand_in = f"; stand-in for the OIDC provider moto accepts without making it: {made[0]}" if made else ""
        return f"{bootstrap_name(stack)}: {len(result.changes)} resources{stand_in}"

    def prerequisites(self) -> str:
        """What another environment of the account must have done first (staging:
        prod's OIDC provider and its ECR repositories), as the administrator."""
        from parity.app.infrastructure.infra import apply, contexts

        gh = self.base.infra.github
        if self.env == "prod" or (self.base.infra.owns_repositories and (gh is None or gh.owns_oidc_provider)):
            return "none"
        prod = self.with_certificate(load_stack(self.root, "prod"))
        self.bootstrap(prod)
        ctx = contexts(prod, self.note, self.url, self.account.admin)
        for part in ([ctx.edge] if ctx.edge else []) + [ctx]:
            part.poll_interval = 0.05
        apply(ctx)
        return "prod's bootstrap stack and environment stack"

    def set_up(self) -> None:
        """The README's steps 1-3 for this environment, without checks (a fresh account for a scenario)."""
        self.account.make_administrator()
        self.prerequisites()
        self.stack = self.with_certificate(self.base)
        self.bootstrap(self.stack)

    # -- the jobs --
    def assume(self, job: workflows.AwsJob, repository: str) -> tuple[str, Any]:
        """The job's role, assumed with the token GitHub issues to it: (its sub, credentials)."""
        from parity.adapters.rehearsal import github_claims, mint_token

        sub = job.subject(repository)
        ref = job.refs[0] if job.refs else "refs/heads/unknown"
        claims = github_claims(repository, sub, job.audience, ref, job.workflow, job.environment)
        return sub, self.account.assume(job.role, mint_token(claims), f"{job.job}-rehearsal")

    def infra(self, creds: Any) -> Any:
        from parity.adapters.rehearsal import AwsLifecycle
        from parity.app.infrastructure.infra import contexts
        from parity.render.infra import render_template

        template = render_template(self.stack)
        ctx = contexts(
            self.stack, self.note, self.url, creds,
            adapter=lambda target, role: AwsLifecycle(
                target, role, self.rolled_back, template, self.account.target(target.region)
            ),
        )  # fmt: skip
        for part in ([ctx.edge] if ctx.edge else []) + [ctx]:
            part.poll_interval = 0.05
        return ctx


class Skip(Exception):
    """A check that cannot run here, with why."""


def run_job(
    day: Day,
    job: workflows.AwsJob,
    repository: str,
    label: str = "",
    smoke: bool = True,
    only: str | None = None,
    inline: bool = False,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every `inv` command of ``job`` (or the one named ``only``) as its role, each
    a check: in a section of its own, or (``inline``) in the current one. ``after``:
    the run of the job it needs; GitHub skips a job whose need failed."""
    out: dict[str, Any] = {"ok": False}
    role = job.role.rsplit("/", 1)[-1]
    prefix = f"{job.name}{label}: " if inline else ""
    if not inline:
        day.open(f"{job.name}{label}  as {role}")
    if after is not None and not after.get("ok"):
        day.check(f"{prefix}{job.job} (needs the job before it)", lambda: _skip("skipped: the job it needs failed"))
        return out

    def assume() -> str:
        sub, out["creds"] = day.assume(job, repository)
        return f"sub {sub}"

    if not day.check(f"{prefix}assume {role} (AssumeRoleWithWebIdentity)", assume, job.name):
        return out
    ok = True
    for command in job.commands:
        if only and command.task != only:
            continue
        run = COMMANDS.get(command.task)
        if run is None:
            ok = day.check(prefix + command.line, lambda c=command: _unknown(c), job.name) and ok
            continue
        ok = (
            day.check(prefix + command.line, lambda c=command, r=run: r(day, c, out["creds"], out, smoke), job.name)
            and ok
        )
    out["ok"] = ok
    return out


def _skip(why: str) -> str:
    raise Skip(why)


def _unknown(command: workflows.Command) -> str:
    raise AssertionError(f"the rehearsal does not know how to run `inv {command.task}`")


def _plan(day: Day, command: workflows.Command, creds: Any, out: dict[str, Any], smoke: bool) -> str:
    from parity.app.infrastructure.infra import plan_all, plan_file

    plan_file(day.work, day.env).unlink(missing_ok=True)  # each run of the workflow has its own plan artefact
    results = plan_all(day.infra(creds), keep=bool(command.args.get("keep")), root=day.work)
    out["changes"] = sum(len(r.changes) for r in results)
    kept = " (kept for the apply job)" if command.args.get("keep") else ""
    return ", ".join(f"{r.name} {r.kind.lower()}: {len(r.changes)} changes" for r in results) + kept


def _apply(day: Day, command: workflows.Command, creds: Any, out: dict[str, Any], smoke: bool) -> str:
    """``smoke`` False: the apply is rehearsed to fail (an injected failure); it must, saying why."""
    from parity.app.infrastructure.infra import apply, apply_planned

    ctx = day.infra(creds)
    try:
        apply_planned(ctx, day.work) if command.args.get("planned") else apply(ctx)
    except DeployFailed as exc:
        if smoke:
            raise
        return f"fails as injected, exit {exc.exit_code}: {exc.message}"
    if not smoke:
        raise AssertionError("the injected failure did not fail the apply")
    found = ctx.cfn.stack(ctx.name) or {}
    return f"{ctx.name} {found.get('StackStatus')}"


def _deploy_context(day: Day, creds: Any, smoke: bool) -> Any:
    from parity.adapters.ecs import CloudFront, Ecs
    from parity.app.deploy.context import DeployContext

    target = day.account.target(credentials=creds)
    day.registry.credentials = creds
    day.site.credentials = creds
    return DeployContext(
        root=day.work, stack=day.stack, ecs=Ecs(target), registry=day.registry, static=day.site,
        cdn=CloudFront(day.account.target("us-east-1", creds)), smoke=lambda url: smoke, report=day.note,
        poll_interval=0.05,
    )  # fmt: skip


def _promote(day: Day, command: workflows.Command, creds: Any, out: dict[str, Any], smoke: bool) -> str:
    from parity.app.checks import records
    from parity.app.deploy.promote import promote

    day.registry.next_images()
    records.record_e2e_pass(day.work, day.registry.images(), records.FULL_SUITE)  # the e2e jobs' artefact
    ctx = _deploy_context(day, creds, smoke)
    out["before"] = services(day)
    out["log"] = day.log  # what promote said (a refusal it only reports is read from it)
    try:
        result = promote(ctx)
    except DeployFailed as exc:
        out["failed"] = exc
        if smoke:
            raise
        return f"exits non-zero as it must: {exc.message[:160]}"
    if not smoke:
        raise AssertionError("the smoke checks failed, yet promote reported success")
    out["deployed"] = result.deployed
    return ", ".join(f"{s} -> {a.rsplit('/', 1)[-1]}" for s, a in result.deployed.items())


def _rollback(day: Day, command: workflows.Command, creds: Any, out: dict[str, Any], smoke: bool) -> str:
    from parity.app.deploy.rollback import rollback

    service = command.args.get("service")
    done = rollback(_deploy_context(day, creds, True), [service] if isinstance(service, str) and service else None)
    out["rolled_back"] = done
    return ", ".join(f"{s} -> {a.rsplit('/', 1)[-1]}" for s, a in done.items())


COMMANDS: dict[str, Callable[..., str]] = {
    "infra-plan": _plan,
    "infra-apply": _apply,
    "promote": _promote,
    "rollback": _rollback,
}


def services(day: Day) -> dict[str, dict[str, Any]]:
    """What ECS runs, as the administrator sees it."""
    ecs = day.account.client("ecs")
    found = ecs.describe_services(cluster=day.stack.cluster, services=list(day.stack.services))["services"]
    return {s["serviceName"]: s for s in found}
