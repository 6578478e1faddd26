"""`inv promote --env ENV`: deploy the images that passed e2e, by digest.

The steps, each reported as it runs:
 1. images    the local images of the services, by ID
 2. e2e       refuse images that have not passed e2e (unless forced)
 3. account   STS: the credentials work; the account the ARNs name
 4. bootstrap only where the overlay allows it (the local emulator): the environment's
              CloudFormation template applied to it (`inv infra-apply`, quietly)
 5. render    task definitions from the spec, images pinned by digest
 6. diff      against the live task definitions and services (--dry-run ends here)
 7. push      log in, tag with the git SHA, push, pin the digest the registry returned
 8. register  a new revision for each changed task definition
 9. static    the built client to the bucket (before the services switch, so the
              new pages find their assets; nothing is deleted, so the old ones keep theirs)
10. deploy    update each service (circuit breaker with rollback on, 100%/200%) and
              wait for the NEW deployment, by ID, to reach rolloutState=COMPLETED
11. cdn       invalidate CloudFront
12. smoke     the e2e smoke subset against the environment's URL
A failed rollout or smoke run rolls every service this run updated back to the
revision it ran before, and exits non-zero with what failed and ECS's events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from parity.app import records
from parity.app.context import DeployContext
from parity.app.changes import ServiceChange, diff, show
from parity.app.release import Release, local_images, pin, render
from parity.app.rollback import roll_back
from parity.app.rollout import Rollout, primary, wait_rollout
from parity.errors import ConfigError, DeployFailed, ParityError
from parity.render.diff import short_taskdef
from parity.render.taskdef import deployment_configuration, is_pinned

STEPS = ["images", "e2e", "account", "bootstrap", "render", "diff", "push", "register", "static", "deploy", "cdn", "smoke"]


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


def promote(ctx: DeployContext, version: str, force: bool = False, dry_run: bool = False) -> Promotion:
    """Promote the local images to ``ctx.stack.env``; ``version`` (the git
    SHA) becomes the pushed tag, for people; the deployed reference is the digest."""
    stack = ctx.stack
    step = _Steps(ctx)
    if not stack.aws.url and not dry_run:
        raise ConfigError(f"deploy/{ctx.env}.yaml: aws.url is not set; promote runs the smoke tests against it")

    images = local_images(ctx)
    step("images", ", ".join(f"{s} {i[:19]}" for s, i in images.items()))

    untested = [s for s, i in images.items() if not records.passed_e2e(ctx.root, i)]
    if untested and not force and not dry_run:
        s = untested[0]
        raise ParityError(
            f"{s}: image {images[s][:19]} has not passed e2e",
            hint="run `inv e2e` against these images first, or promote with --force",
        )
    if not untested:
        step("e2e", "every image passed e2e")
    elif force:
        step("e2e", f"forced past untested images: {', '.join(untested)}")
    else:  # a dry run changes nothing, so it shows the diff and says what a promote would refuse
        step("e2e", f"NOT passed e2e: {', '.join(untested)} (a promote would refuse them)")

    account = ctx.ecs.account_id()
    step("account", f"{account}, region {stack.region}, cluster {stack.cluster}")

    if stack.aws.bootstrap and not dry_run:
        from parity.app.infra import bootstrap

        changes = bootstrap(ctx)
        added = sum(1 for c in changes if c.action == "Add")
        step(
            "bootstrap",
            f"emulator: created {added} resources, changed {len(changes) - added} (stack template)" if changes else "emulator: everything exists",
        )
    else:
        step("bootstrap", "skipped" + (" (dry run)" if stack.aws.bootstrap else f" ({ctx.env} is set up by `inv infra-apply`)"))

    release = render(ctx, account=account, images=images)
    step("render", ", ".join(release.refs[s] for s in release.images))

    changes = diff(ctx, release)
    changed = [c for c in changes if c.changed]
    step("diff", f"{len(changed)} of {len(changes)} services change")
    show(ctx, changes)
    if dry_run:
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
    for change in changes:
        if not change.changed:
            step("deploy", f"{change.service}: up to date on {short_taskdef(change.live_taskdef_arn)}")
            continue
        updated[change.service] = change.live_taskdef_arn
        try:
            rollout = deploy_one(ctx, change, targets[change.service])
        except ParityError as exc:
            fail(ctx, updated, f"{change.service}: {exc}", [])
        if not rollout.ok:
            fail(ctx, updated, f"{change.service}: rollout {rollout.state}: {rollout.reason}", rollout.events)
        step("deploy", f"{change.service}: {short_taskdef(targets[change.service])} {rollout.state}")

    if stack.aws.distribution_id:
        inv = ctx.cdn.invalidate(stack.aws.distribution_id, ["/*"])
        step("cdn", f"invalidation {inv} on {stack.aws.distribution_id}")
    else:
        step("cdn", f"skipped: no aws.distribution_id for {ctx.env}")

    step("smoke", f"e2e -m smoke against {stack.aws.url}")
    try:
        passed, why = ctx.smoke(stack.aws.url), ""
    except ParityError as exc:
        passed, why = False, f": {exc}"
    if not passed:
        fail(ctx, updated, f"smoke tests failed against {stack.aws.url}{why}", [])
    step("smoke", "passed")
    return Promotion(release, changes, deployed=targets)


def push(ctx: DeployContext, release: Release, version: str) -> dict[str, str]:
    """Push every image by content; returns service -> ``REPO@sha256:...``."""
    if not ctx.stack.aws.registry:
        server, user, password = ctx.ecs.registry_login()
        ctx.registry.login(server, user, password)
    refs = {}
    for service, image_id in release.images.items():
        repo = release.repositories[service]
        tagged = f"{repo}:{version}"
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


def deploy_one(ctx: DeployContext, change: ServiceChange, taskdef: str) -> Rollout:
    """Update one service and wait for the deployment the update started."""
    # A service infra-apply created runs nothing (0 tasks) until its first promote starts it.
    wanted = ctx.stack.services[change.service].desired_count
    start = wanted if change.live.get("desiredCount") == 0 and wanted > 0 else None
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


def fail(ctx: DeployContext, updated: dict[str, str], what: str, events: list[str]) -> NoReturn:
    """Show ECS's events, roll back what this run updated, raise DeployFailed."""
    if events:
        ctx.report("ECS events:")
        for line in events:
            ctx.report(f"  {line}")
    outcome = []
    for service, previous in reversed(list(updated.items())):
        rollout = roll_back(ctx, service, previous)
        if rollout is None or rollout.ok:
            outcome.append(f"{service} on {short_taskdef(previous)}")
        else:
            outcome.append(f"{service} back to {short_taskdef(previous)} but {rollout.state.lower()}")
    raise DeployFailed(what + ("; rolled back: " + ", ".join(outcome) if outcome else ""))
