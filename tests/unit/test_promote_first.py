"""The first promote of an environment infra-apply just created (issue 16,
finding 5): each service runs the placeholder revision (its ``:bootstrap``
image was never pushed) at 0 tasks. A first promote that fails must leave it
there, at 0 tasks, and exit non-zero saying so: rolled back to the placeholder
at the new count, every task fails to pull its image (the fake ECS says so,
as ECS does: CannotPullContainerError, the circuit breaker, RollbackFailed)."""

from __future__ import annotations

import pytest

from parity.app.deploy.promote import promote
from parity.app.deploy.rollback import rollback
from parity.errors import DeployFailed, ParityError, RollbackFailed

from . import test_promote as base
from .deploy_fakes import make_ctx

URL = base.URL
root = base.root  # the fixture: a copy of the repo's spec, records in tmp_path


def passed_e2e(root):
    base.tested(root)


def first(root, **kw):
    ctx = make_ctx(root, "prod", url=URL, **kw)
    for service in ctx.stack.services:
        ctx.ecs.placeholder(service)  # what infra-apply leaves: huskit-<service>:2, image :bootstrap, 0 tasks
    return ctx


def state(ctx, service):
    svc = ctx.ecs.services[service]
    return svc["taskDefinition"].rsplit("/", 1)[-1], svc.get("desiredCount")


def test_a_first_promote_whose_rollout_fails_leaves_the_services_at_zero(root):
    passed_e2e(root)
    ctx = first(root, scripts={"website-agent": ["IN_PROGRESS", "ROLLBACK"]})
    with pytest.raises(DeployFailed) as exc:
        promote(ctx, version="v1")
    assert not isinstance(exc.value, RollbackFailed) and exc.value.exit_code == 1
    assert str(exc.value) == (
        "website-agent: rollout ROLLED_BACK: ECS deployment circuit breaker: tasks failed to start.; "
        "ECS rolled back to huskit-website-agent:2; "
        "rolled back: website-agent at 0 tasks on huskit-website-agent:2, crawler at 0 tasks on huskit-crawler:2"
    )
    assert state(ctx, "website-agent") == ("huskit-website-agent:2", 0)
    assert state(ctx, "crawler") == ("huskit-crawler:2", 0)  # started fine, put back with the pair
    text = "\n".join(ctx.lines)
    assert "website-agent: back to 0 tasks on huskit-website-agent:2 (the first promote failed: nothing runs)" in text
    # no wait on a rollback to an image that cannot be pulled; the revisions that never ran healthy are gone
    assert ("deregister", "huskit-website-agent:3") in ctx.ecs.calls and (
        "deregister",
        "huskit-crawler:3",
    ) in ctx.ecs.calls
    assert ctx.clock() < 60


def test_a_first_promote_whose_smoke_run_fails_stops_what_it_started(root):
    passed_e2e(root)
    ctx = first(root, smoke_ok=False)
    with pytest.raises(DeployFailed, match=r"^smoke tests failed against .*; rolled back: website-agent at 0 tasks"):
        promote(ctx, version="v1")
    assert state(ctx, "website-agent") == ("huskit-website-agent:2", 0)
    assert state(ctx, "crawler") == ("huskit-crawler:2", 0)


def test_a_later_promote_still_rolls_back_to_the_running_release(root):
    passed_e2e(root)
    ctx = first(root)
    promote(ctx, version="v1")
    assert state(ctx, "website-agent") == ("huskit-website-agent:3", 2)
    ctx.ecs.scripts = {"website-agent": ["IN_PROGRESS", "FAILED"]}
    ctx.registry.images["huskit/website-agent:local"] = "sha256:" + "b" * 64
    from parity.app.checks import records

    records.record_e2e_pass(
        root, {"website-agent": "sha256:" + "b" * 64, "crawler": ctx.registry.images["huskit/crawler:local"]}, "e2e"
    )
    with pytest.raises(DeployFailed, match=r"rolled back: website-agent on huskit-website-agent:3$"):
        promote(ctx, version="v2")
    assert state(ctx, "website-agent") == ("huskit-website-agent:3", 2)


def test_rollback_never_returns_to_the_placeholder(root):
    passed_e2e(root)
    ctx = first(root)
    promote(ctx, version="v1")
    with pytest.raises(ParityError) as exc:
        rollback(ctx, ["website-agent"])
    assert str(exc.value) == (
        "website-agent: the revision before huskit-website-agent:3 is huskit-website-agent:2, the placeholder infra-apply "
        "created the service on: there is no earlier release to roll back to (hint: promote a release that works "
        "(`inv promote --env prod`))"
    )
    assert state(ctx, "website-agent") == ("huskit-website-agent:3", 2)


def test_a_dry_run_before_infra_apply_looks_ahead(root):
    """Finding 10: nothing exists yet (no repositories, no cluster): the dry run still
    renders every task definition and says which live parts do not exist yet."""
    passed_e2e(root)
    ctx = make_ctx(root, "prod", url=URL)
    ctx.ecs.repos.clear()
    ctx.ecs.clusters.clear()
    result = promote(ctx, version="v1", dry_run=True)
    text = "\n".join(ctx.lines)
    assert result.dry_run and set(result.release.taskdefs) == {"website-agent", "crawler"}
    assert (
        "not compared with AWS: ECR repository huskit/crawler: it does not exist yet "
        "(`inv infra-apply --env prod` creates it)"
    ) in text
    assert "ECS cluster huskit-prod does not exist in eu-central-1 (`inv infra-apply --env prod` creates it)" in text
    assert "amazonaws.com/huskit/crawler@<digest after push of sha256:" in text
    assert ctx.ecs.calls == [] and ctx.registry.tags == []
    with pytest.raises(ParityError, match=r"^ECR repository huskit/website-agent does not exist"):
        promote(ctx, version="v1")  # a real promote still stops there
