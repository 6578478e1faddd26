"""`inv promote --env ENV`: deploy the images that passed e2e, by digest.

The steps, each reported as it runs:
 1. images    the local images of the services, by ID
 2. e2e       refuse an image built for another CPU architecture than the spec's;
              refuse a set of images that has not passed e2e together, recently (unless forced)
 3. account   STS: the credentials work; the account the ARNs name
 4. bootstrap only where the overlay allows it (the local emulator): the environment's
              CloudFormation template applied to it (`inv infra-apply`, quietly)
 5. render    task definitions from the spec, images pinned by digest
 6. diff      against the live task definitions and services (--dry-run ends here)
 7. push      log in, tag with the commit each image was built from (``-dirty`` marked)
              and the image's ID (one immutable tag per image: none is ever moved),
              push (unless ECR holds that tag already), pin the digest
 8. register  a new revision for each changed task definition
 9. static    the built client to the bucket (before the services switch, so the
              new pages find their assets; nothing is deleted, so the old ones keep theirs)
10. deploy    update each service (circuit breaker with rollback on, 100%/200%) and
              wait for the NEW deployment, by ID, to reach rolloutState=COMPLETED
11. cdn       invalidate CloudFront
12. smoke     the e2e smoke subset against the environment's URL
A failed rollout or smoke run rolls every service this run updated back to the
revision it ran before, deregisters the revisions this run registered (they
never ran healthy as a set, so `inv rollback` must never return to them), and
exits non-zero with what failed and ECS's events. A service this run started
from 0 tasks (the first promote: it ran the placeholder revision, whose image
was never pushed) goes back to 0 tasks on it, not to the placeholder at the new
count, where every task would fail to pull its image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from parity.app.checks import records
from parity.app.deploy.changes import ServiceChange, diff, report_not_compared, show
from parity.app.deploy.context import DeployContext
from parity.app.deploy.release import Release, account_for, checked_account, local_images, pin, render
from parity.app.deploy.rollback import roll_back
from parity.app.deploy.rollout import Rollout, primary, wait_rollout
from parity.app.local import sources
from parity.errors import AwsUnavailable, ConfigError, DeployFailed, ParityError, RollbackFailed
from parity.render.diff import short_taskdef
from parity.render.infra import stack_name
from parity.render.taskdef import DOCKER_ARCHITECTURE, deployment_configuration, is_pinned, repository

STEPS = [
    "images",
    "e2e",
    "account",
    "bootstrap",
    "render",
    "diff",
    "push",
    "register",
    "static",
    "deploy",
    "cdn",
    "smoke",
]


@dataclass
class Promotion:
    """What a promote did (or, with --dry-run, would do)."""

    release: Release
    changes: list[ServiceChange]
    deployed: dict[str, str] = field(default_factory=dict)  # service -> task definition ARN
    dry_run: bool = False


class _Steps:
    def __init__(self, ctx: DeployContext) -> None:
        self.ctx = ctx

    def __call__(self, name: str, detail: str) -> None:
        n = STEPS.index(name) + 1
        self.ctx.report(f"[{n:>2}/{len(STEPS)}] {name:<9} {detail}")


def promote(
    ctx: DeployContext,
    version: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    account: str | None = None,
) -> Promotion:
    """Promote the local images to ``ctx.stack.env``. Each pushed image is
    tagged, for people, with the commit of its build context (recorded when it
    was built), or with ``version`` when given; the deployed reference is the digest.
    A dry run works without AWS too (``account`` given or a placeholder) and
    says which live parts it could not compare; a promote checks ``account``
    against the credentials' own."""
    stack = ctx.stack
    step = _Steps(ctx)
    images = local_images(ctx)
    step("images", ", ".join(f"{s} {i[:19]}" for s, i in images.items()))

    wrong = wrong_platforms(ctx, images)
    if wrong and not dry_run:
        raise ParityError(
            wrong[0], hint="build it for the spec's architecture (docker build --platform), or change the spec"
        )
    for line in wrong:  # a dry run shows the diff and says what a promote would refuse
        step("images", f"{line} (a promote would refuse it)")

    untested = records.untested(ctx.root, images, stack.aws.e2e_max_age_days)
    if untested and not force and not dry_run:
        raise ParityError(untested, hint="run `inv e2e` against these images first, or promote with --force")
    if not untested:
        step("e2e", "these images passed e2e together")
    elif force:
        step("e2e", f"forced past: {untested}")
    else:  # a dry run changes nothing, so it shows the diff and says what a promote would refuse
        step("e2e", f"NOT tested: {untested} (a promote would refuse them)")

    not_compared: list[str] = []
    if dry_run:
        account = account_for(ctx, account, True, not_compared)
    else:
        given, account = checked_account(account), ctx.ecs.account_id()
        if given and given != account:
            raise ParityError(f"--account {given}: the AWS credentials in use are for account {account}")
    step("account", f"{account}, region {stack.region}, cluster {stack.cluster}")
    url, distribution = endpoints(ctx, dry_run)

    if stack.aws.bootstrap:
        look_ahead(ctx, step, dry_run, not_compared)
    else:
        step("bootstrap", f"skipped ({ctx.env} is set up by `inv infra-apply`)")

    release = render(ctx, account=account, images=images, offline_ok=dry_run)
    release.not_compared[:0] = not_compared
    step("render", ", ".join(release.refs[s] for s in release.images))

    changes = diff(ctx, release, offline_ok=dry_run)
    changed = [c for c in changes if c.changed]
    step("diff", f"{len(changed)} of {len(changes)} services change")
    show(ctx, changes)
    if dry_run:
        report_not_compared(ctx.report, release)
        ctx.report("dry run: stopping after diff; nothing was pushed, registered or updated")
        return Promotion(release, changes, dry_run=True)

    refs = push(ctx, release, version)
    pin(ctx, release, refs)
    changes = diff(ctx, release)  # the digests are known now
    step("push", ", ".join(refs.values()))

    targets = register(ctx, release, changes)
    step("register", ", ".join(f"{s} -> {short_taskdef(a)}" for s, a in targets.items()))

    count = ctx.static.publish(images)
    step("static", f"{count} files to s3://{stack.edge.bucket}")

    updated: dict[str, str] = {}  # service -> the task definition it ran before
    started: set[str] = set()  # services this run started from 0 tasks (the first promote)
    fresh = [targets[c.service] for c in changes if c.taskdef_changed]  # unproven until the smoke run passes

    def fail(what: str, events: list[str]) -> NoReturn:
        failed(ctx, updated, what, events, fresh, started)

    for change in changes:
        if not change.changed:
            step("deploy", f"{change.service}: up to date on {short_taskdef(change.live_taskdef_arn)}")
            continue
        updated[change.service] = change.live_taskdef_arn
        if starts(ctx, change):
            started.add(change.service)
        try:
            rollout = deploy_one(ctx, change, targets[change.service])
        except ParityError as exc:
            fail(f"{change.service}: {exc}", [])
        if not rollout.ok:
            fail(f"{change.service}: rollout {rollout.state}: {rollout.reason}", rollout.events)
        step("deploy", f"{change.service}: {short_taskdef(targets[change.service])} {rollout.state}")

    if distribution:
        inv = ctx.cdn.invalidate(distribution, ["/*"])
        step("cdn", f"invalidation {inv} on {distribution}")
    else:
        step("cdn", f"skipped: no aws.distribution_id for {ctx.env} and no DistributionId output")

    step("smoke", f"e2e -m smoke against {url}")
    try:
        passed, why = ctx.smoke(url), ""
    except ParityError as exc:
        passed, why = False, f": {exc}"
    if not passed:
        fail(f"smoke tests failed against {url}{why}", [])
    step("smoke", "passed")
    return Promotion(release, changes, deployed=targets)


def look_ahead(ctx: DeployContext, step: _Steps, dry_run: bool, not_compared: list[str]) -> None:
    """The bootstrap step: the environment's template applied to the emulator;
    in a dry run, its plan (as `inv infra-plan` shows it), so the rest of the
    dry run can say what the first promote would do on a fresh emulator."""
    from parity.app.infrastructure.infra import bootstrap

    try:
        changes = bootstrap(ctx, dry_run=dry_run)
    except AwsUnavailable as exc:
        if not dry_run:
            raise
        not_compared.append(f"the emulator's stack (the bootstrap's plan): {exc.message}")
        step("bootstrap", "not planned (dry run): the emulator did not answer")
        return
    added = sum(1 for c in changes if c.action == "Add")
    if dry_run:
        step(
            "bootstrap",
            f"emulator: would create {added} resources, change {len(changes) - added} (dry run)"
            if changes
            else "emulator: everything exists",
        )
        return
    step(
        "bootstrap",
        f"emulator: created {added} resources, changed {len(changes) - added} (stack template)"
        if changes
        else "emulator: everything exists",
    )


def endpoints(ctx: DeployContext, dry_run: bool) -> tuple[str | None, str | None]:
    """(the URL the smoke tests run against, the distribution to invalidate): the
    overlay's ``aws.url`` and ``aws.distribution_id`` where set, else the
    environment stack's outputs ``Url`` and ``DistributionId`` (infra-apply's).
    No URL stops a promote before anything changes."""
    aws = ctx.stack.aws
    url, distribution = aws.url, aws.distribution_id
    if not (url and distribution):
        try:
            found = ctx.outputs()
        except AwsUnavailable:
            if not dry_run:
                raise
            found = {}
        url, distribution = url or found.get("Url"), distribution or found.get("DistributionId")
    if not url and not dry_run:
        raise ConfigError(
            f"deploy/{ctx.env}.yaml: aws.url is not set and stack {stack_name(ctx.stack)} has no Url output; "
            "promote runs the smoke tests against it",
            hint=f"`inv infra-apply --env {ctx.env}` creates the stack (or set aws.url)",
        )
    return url, distribution


def wrong_platforms(ctx: DeployContext, images: dict[str, str]) -> list[str]:
    """One line per image built for another CPU architecture than Fargate will
    run it on (an arm64 laptop's build fails to start on X86_64)."""
    out = []
    for service, image_id in images.items():
        wanted = ctx.stack.services[service].cpu_architecture
        built = ctx.registry.image_architecture(image_id)
        if built != DOCKER_ARCHITECTURE[wanted]:
            out.append(
                f"{service}: image {image_id[:19]} is built for {built or 'an unknown architecture'}, "
                f"but services.{service}.cpu_architecture is {wanted} ({DOCKER_ARCHITECTURE[wanted]})"
            )
    return out


def push(ctx: DeployContext, release: Release, version: str | None) -> dict[str, str]:
    """Push every image by content; returns service -> ``REPO@sha256:...``."""
    if not ctx.stack.aws.registry:
        server, user, password = ctx.ecs.registry_login()
        ctx.registry.login(server, user, password)
    refs = {}
    for service, image_id in release.images.items():
        repo = release.repositories[service]
        source = version or sources.source_tag(ctx.root, image_id)
        tag = sources.push_tag(ctx.root, image_id, version)
        if source == sources.UNKNOWN:
            ctx.report(f"{service}: tagged {tag}: no build of this image was recorded (`inv up` records it)")
        elif source.endswith("-dirty"):
            ctx.report(f"{service}: tagged {tag}: built from uncommitted changes")
        tagged = f"{repo}:{tag}"
        # the tag names the content: if ECR has it, it is this image (another environment's promote
        # pushed it; a push again could differ in compression, and the tag is immutable)
        digest = None if ctx.stack.aws.registry else ctx.ecs.image_digest(repository(ctx.stack, service), tag)
        if digest:
            ctx.report(f"{service}: {tagged} is in ECR already (pushed by an earlier promote): not pushed again")
        else:
            ctx.registry.tag(image_id, tagged)
            digest = ctx.registry.push(tagged)
        refs[service] = f"{repo}@{digest}"
        if not is_pinned(refs[service]):
            raise ParityError(f"{service}: the push of {tagged} returned no digest")
    return refs


def register(ctx: DeployContext, release: Release, changes: list[ServiceChange]) -> dict[str, str]:
    """A new revision for each changed task definition; service -> ARN to run."""
    out = {}
    for change in changes:
        if change.taskdef_changed:
            out[change.service] = ctx.ecs.register_task_definition(release.taskdefs[change.service])
        else:
            out[change.service] = change.live_taskdef_arn
    return out


def starts(ctx: DeployContext, change: ServiceChange) -> bool:
    """True when the update starts a service at 0 tasks (infra-apply created it on the
    placeholder; it runs nothing until its first promote)."""
    return change.live.get("desiredCount") == 0 and ctx.stack.services[change.service].desired_count > 0


def deploy_one(ctx: DeployContext, change: ServiceChange, taskdef: str) -> Rollout:
    """Update one service and wait for the deployment the update started."""
    start = ctx.stack.services[change.service].desired_count if starts(ctx, change) else None
    updated = ctx.ecs.update_service(
        ctx.stack.cluster, change.service, taskdef, deployment_configuration(), change.taskdef_changed, start
    )
    head = primary(updated)
    if head is None:
        raise DeployFailed(f"{change.service}: ECS reported no PRIMARY deployment after the update")
    ctx.report(f"{change.service}: deployment {head['id']} of {short_taskdef(taskdef)} started")
    return wait_rollout(
        ctx.ecs, ctx.stack.cluster, change.service, head["id"], taskdef,
        ctx.stack.aws.rollout_timeout, ctx.clock, ctx.sleep, ctx.poll_interval, ctx.report,
    )  # fmt: skip


def stop(ctx: DeployContext, service: str, previous: str) -> str:
    """Put a service the failed run started from 0 back to 0 tasks on the revision
    it ran before (the placeholder): no rollout to wait for, nothing crash-loops.
    ECS's own circuit-breaker rollback to the placeholder ends with no task either."""
    ctx.ecs.update_service(ctx.stack.cluster, service, previous, deployment_configuration(), False, 0)
    ctx.report(f"{service}: back to 0 tasks on {short_taskdef(previous)} (the first promote failed: nothing runs)")
    return f"{service} at 0 tasks on {short_taskdef(previous)}"


def _show_events(ctx: DeployContext, title: str, events: list[str]) -> None:
    if events:
        ctx.report(title)
        for line in events:
            ctx.report(f"  {line}")


def failed(
    ctx: DeployContext,
    updated: dict[str, str],
    what: str,
    events: list[str],
    fresh: list[str],
    started: set[str] = frozenset(),
) -> NoReturn:
    """Show ECS's events, roll back what this run updated (a service it
    ``started`` from 0 tasks back to 0), deregister the revisions it registered
    (``fresh``), raise DeployFailed."""
    _show_events(ctx, "ECS events:", events)
    outcome, broken = [], []
    for service, previous in reversed(list(updated.items())):
        if service in started:
            outcome.append(stop(ctx, service, previous))
            continue
        rollout = roll_back(ctx, service, previous)
        if rollout is None or rollout.ok:
            outcome.append(f"{service} on {short_taskdef(previous)}")
        else:
            broken.append(f"{service} to {short_taskdef(previous)} {rollout.state}: {rollout.reason}")
            _show_events(ctx, f"ECS events ({service}, rollback):", rollout.events)
    for arn in fresh:
        try:
            ctx.ecs.deregister_task_definition(arn)
            ctx.report(f"deregistered {short_taskdef(arn)}: it never ran healthy, so no rollback returns to it")
        except ParityError as exc:  # the failure being reported matters more
            ctx.report(f"could not deregister {short_taskdef(arn)}: {exc}")
    done = "; rolled back: " + ", ".join(outcome) if outcome else ""
    if broken:
        raise RollbackFailed(
            f"{what}; the rollback failed too: {', '.join(broken)}{done}",
            hint="the service may be down: look at its events and stopped tasks in ECS",
        )
    raise DeployFailed(what + done)
