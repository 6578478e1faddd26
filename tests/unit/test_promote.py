"""Promote, rollback and the rollout wait, against fakes at the boto3/docker
boundary (see deploy_fakes for which AWS behaviour each scripted rollout
stands for)."""

import pytest

from parity.app import records
from parity.app.promote import promote
from parity.app.release import render
from parity.app.rollback import previous_revision, rollback
from parity.app.rollout import wait_rollout
from parity.errors import ConfigError, DeployFailed, ParityError
from parity.spec.load import load_stack

from .conftest import ROOT
from .deploy_fakes import ACCOUNT, Clock, FakeEcs, image_id, make_ctx

URL = "https://huskit.example"


@pytest.fixture
def root(tmp_path):
    """A copy of the repo's spec whose e2e records live in tmp_path."""
    (tmp_path / "deploy").mkdir()
    (tmp_path / "stack.yaml").write_text((ROOT / "stack.yaml").read_text())
    for env in ("local", "staging", "prod"):
        (tmp_path / "deploy" / f"{env}.yaml").write_text((ROOT / "deploy" / f"{env}.yaml").read_text())
    return tmp_path


def tested(root, services=("website-agent", "crawler")):
    records.record_e2e_pass(root, {s: image_id(s) for s in services}, "e2e")


def ctx_for(root, **kw):
    kw.setdefault("url", URL)
    return make_ctx(root, "prod", **kw)


def running(ctx, service):
    return ctx.ecs.services[service]["taskDefinition"].rsplit("/", 1)[-1]


# -- records ---------------------------------------------------------------------


def test_e2e_records_are_per_image_id(root):
    assert not records.passed_e2e(root, image_id("crawler"))
    records.record_e2e_pass(root, {"crawler": image_id("crawler")}, "e2e")
    assert records.passed_e2e(root, image_id("crawler"))
    assert not records.passed_e2e(root, image_id("website-agent"))
    assert (root / ".parity/e2e-results.json").exists()


# -- happy path ------------------------------------------------------------------


def test_promote_pushes_by_digest_registers_updates_and_waits(root):
    tested(root)
    ctx = ctx_for(root, scripts={"crawler": ["IN_PROGRESS", "COMPLETED"], "website-agent": ["COMPLETED"]}, distribution_id="E123")
    result = promote(ctx, version="0123abc")
    # pushed under the git SHA, never :latest; pinned by the digest the push returned
    assert [ref for _img, ref in ctx.registry.tags] == [
        f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/website-agent:0123abc",
        f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/crawler:0123abc",
    ]
    assert ctx.registry.logins == [f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com"]
    for service in ("website-agent", "crawler"):
        arn = result.deployed[service]
        image = ctx.ecs.taskdefs[arn]["containerDefinitions"][0]["image"]
        assert image == f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/{service}@{ctx.registry.pushed[image.split('@')[0] + '|' + image_id(service)]}"
        assert ":latest" not in image
        assert running(ctx, service) == f"huskit-{service}:2"
    assert [c for c in ctx.ecs.calls if c[0] == "update"] == [
        ("update", "crawler", "huskit-crawler:2"),
        ("update", "website-agent", "huskit-website-agent:2"),
    ]
    assert ctx.static.published == [{s: image_id(s) for s in ("website-agent", "crawler")}]
    assert ctx.cdn.invalidations == ["E123"]
    assert ctx.smoke_calls == [URL]
    text = "\n".join(ctx.lines)
    for name in ("images", "e2e", "account", "render", "diff", "push", "register", "static", "deploy", "cdn", "smoke"):
        assert f" {name} " in text or f" {name:<9}" in text, name
    assert "token-not-printed" not in text


def test_second_promote_of_the_same_digests_changes_nothing(root):
    tested(root)
    ctx = ctx_for(root)
    promote(ctx, version="v1")
    calls = len(ctx.ecs.calls)
    result = promote(ctx, version="v1")
    assert ctx.ecs.calls[calls:] == []
    assert all(not c.changed for c in result.changes)


# -- refusals and bad input: one line each -------------------------------------------


def test_refuses_untested_images_unless_forced(root):
    tested(root, ["website-agent"])
    ctx = ctx_for(root)
    with pytest.raises(ParityError) as exc:
        promote(ctx, version="v1")
    assert str(exc.value) == (
        f"crawler: image {image_id('crawler')[:19]} has not passed e2e "
        "(hint: run `inv e2e` against these images first, or promote with --force)"
    )
    assert ctx.ecs.calls == [] and ctx.registry.tags == []
    promote(ctx, version="v1", force=True)
    assert "forced past untested images: crawler" in "\n".join(ctx.lines)


def test_image_never_built(root):
    ctx = ctx_for(root, built=False)
    with pytest.raises(ParityError) as exc:
        promote(ctx, version="v1")
    assert str(exc.value) == "website-agent: image huskit/website-agent:local was never built (hint: `inv up` builds it)"


def test_missing_repository_cluster_service_and_credentials(root):
    tested(root)
    ctx = ctx_for(root)
    ctx.ecs.repos.discard("huskit/crawler")
    with pytest.raises(ParityError) as exc:
        promote(ctx, version="v1")
    assert str(exc.value) == (
        "ECR repository huskit/crawler does not exist in eu-central-1 "
        "(hint: `inv infra-apply --env prod` creates it)"
    )
    ctx = ctx_for(root)
    del ctx.ecs.services["crawler"]
    with pytest.raises(ParityError, match=r"^ECS service crawler does not exist in cluster huskit-prod \(hint"):
        promote(ctx, version="v1")
    ctx = ctx_for(root)
    ctx.ecs.clusters.clear()
    with pytest.raises(ParityError, match=r"^ECS cluster huskit-prod does not exist in eu-central-1"):
        promote(ctx, version="v1")
    ctx = ctx_for(root)
    ctx.ecs.no_credentials = True
    with pytest.raises(ParityError, match=r"no AWS credentials found$"):
        promote(ctx, version="v1")
    assert ctx.ecs.calls == []


def test_unknown_env_and_missing_url(root):
    with pytest.raises(ConfigError) as exc:
        load_stack(root, "qa")
    assert str(exc.value) == "unknown environment 'qa' (known: local, prod, staging)"
    tested(root)
    ctx = make_ctx(root, "prod")
    with pytest.raises(ConfigError, match=r"^deploy/prod.yaml: aws.url is not set"):
        promote(ctx, version="v1")


# -- dry run -----------------------------------------------------------------------


def test_dry_run_changes_nothing(root):
    tested(root)
    ctx = ctx_for(root)
    before = {s: dict(v) for s, v in ctx.ecs.services.items()}
    result = promote(ctx, version="v1", dry_run=True)
    assert result.dry_run
    assert ctx.ecs.calls == [] and ctx.registry.tags == [] and ctx.registry.logins == []
    assert ctx.static.published == [] and ctx.cdn.invalidations == [] and ctx.smoke_calls == []
    assert {s: v["taskDefinition"] for s, v in ctx.ecs.services.items()} == {s: v["taskDefinition"] for s, v in before.items()}
    text = "\n".join(ctx.lines)
    assert "dry run: stopping after diff" in text
    assert "<digest after push of sha256:" in text  # never pushed: the digest is not invented
    assert '+      "image":' in text


def test_dry_run_of_untested_images_says_a_promote_would_refuse(root):
    tested(root, ["website-agent"])
    ctx = ctx_for(root)
    assert promote(ctx, version="v1", dry_run=True).dry_run
    assert "NOT passed e2e: crawler (a promote would refuse them)" in "\n".join(ctx.lines)
    assert ctx.ecs.calls == [] and ctx.registry.tags == []


# -- failures roll back ------------------------------------------------------------


def test_failed_rollout_rolls_back_and_shows_events(root):
    tested(root)
    ctx = ctx_for(root, scripts={"crawler": ["IN_PROGRESS", "FAILED"]})
    with pytest.raises(DeployFailed) as exc:
        promote(ctx, version="v1")
    assert str(exc.value) == (
        "crawler: rollout FAILED: ECS deployment circuit breaker: tasks failed to start.; "
        "rolled back: crawler on huskit-crawler:1"
    )
    assert running(ctx, "crawler") == "huskit-crawler:1"
    assert running(ctx, "website-agent") == "huskit-website-agent:1"  # never touched
    text = "\n".join(ctx.lines)
    assert "ECS events:" in text and "failed container health checks" in text
    assert ctx.smoke_calls == []


def test_circuit_breaker_rollback_is_a_failure_and_not_rolled_back_twice(root):
    tested(root)
    ctx = ctx_for(root, scripts={"website-agent": ["IN_PROGRESS", "ROLLBACK"]})
    with pytest.raises(DeployFailed) as exc:
        promote(ctx, version="v1")
    msg = str(exc.value)
    assert msg.startswith("website-agent: rollout ROLLED_BACK: ECS deployment circuit breaker: tasks failed to start.; ECS rolled back to huskit-website-agent:1")
    # crawler (deployed first, fine) is put back too: the pair that passed e2e goes together
    assert msg.endswith("rolled back: website-agent on huskit-website-agent:1, crawler on huskit-crawler:1")
    assert running(ctx, "website-agent") == "huskit-website-agent:1"
    assert running(ctx, "crawler") == "huskit-crawler:1"
    # ECS had already rolled the web back: no second update for it
    updates = [c for c in ctx.ecs.calls if c[0] == "update"]
    assert updates == [
        ("update", "crawler", "huskit-crawler:2"),
        ("update", "website-agent", "huskit-website-agent:2"),
        ("update", "crawler", "huskit-crawler:1"),
    ]
    assert "already on huskit-website-agent:1" in "\n".join(ctx.lines)


def test_timeout_rolls_back(root):
    tested(root)
    ctx = ctx_for(root, scripts={"crawler": ["IN_PROGRESS"] * 1000}, rollout_timeout=30)
    with pytest.raises(DeployFailed, match=r"^crawler: rollout TIMEOUT: still IN_PROGRESS after 30 s; rolled back: crawler on huskit-crawler:1$"):
        promote(ctx, version="v1")
    assert running(ctx, "crawler") == "huskit-crawler:1"


def test_smoke_failure_rolls_everything_back(root):
    tested(root)
    ctx = ctx_for(root, smoke_ok=False)
    with pytest.raises(DeployFailed) as exc:
        promote(ctx, version="v1")
    assert str(exc.value) == (
        f"smoke tests failed against {URL}; rolled back: website-agent on huskit-website-agent:1, crawler on huskit-crawler:1"
    )
    assert running(ctx, "website-agent") == "huskit-website-agent:1"


# -- the wait, alone -----------------------------------------------------------------


def wait(ecs, service, deployment, taskdef, timeout=60):
    clock = Clock()
    return wait_rollout(ecs, "huskit-prod", service, deployment, taskdef, timeout, clock, clock.sleep, 5)


def started(script):
    ecs = FakeEcs(load_stack(ROOT, "prod"), {"crawler": script})
    new = ecs.register_task_definition({"family": "huskit-crawler", "containerDefinitions": []})
    svc = ecs.update_service("huskit-prod", "crawler", new, {}, True)
    return ecs, svc["deployments"][0]["id"], new


def test_wait_follows_the_deployment_by_id():
    ecs, dep, new = started(["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"])
    r = wait(ecs, "crawler", dep, new)
    assert (r.state, r.ok, r.running) == ("COMPLETED", True, new)
    ecs, dep, new = started(["IN_PROGRESS", "FAILED"])
    r = wait(ecs, "crawler", dep, new)
    assert (r.state, r.ok) == ("FAILED", False)
    assert any("failed container health checks" in e for e in r.events)
    ecs, dep, new = started(["ROLLBACK"])
    r = wait(ecs, "crawler", dep, new)
    assert r.state == "ROLLED_BACK" and r.running.endswith("huskit-crawler:1")
    ecs, dep, new = started(["IN_PROGRESS"] * 100)
    r = wait(ecs, "crawler", dep, new, timeout=20)
    assert (r.state, r.reason) == ("TIMEOUT", "still IN_PROGRESS after 20 s")


def test_services_stable_on_the_old_definition_is_not_success():
    """A COMPLETED deployment while the service runs another task definition
    (stable after a rollback) is reported as rolled back, not as success."""
    ecs, dep, new = started(["COMPLETED"])
    ecs.services["crawler"]["taskDefinition"] = "arn:aws:ecs:eu-central-1:1:task-definition/huskit-crawler:1"
    assert wait(ecs, "crawler", dep, new).state == "ROLLED_BACK"


# -- rollback on demand ----------------------------------------------------------------


def test_rollback_goes_one_revision_back(root):
    tested(root)
    ctx = ctx_for(root)
    promote(ctx, version="v1")
    assert running(ctx, "crawler") == "huskit-crawler:2"
    done = rollback(ctx)
    assert {s: a.rsplit("/", 1)[-1] for s, a in done.items()} == {"crawler": "huskit-crawler:1", "website-agent": "huskit-website-agent:1"}
    assert running(ctx, "crawler") == "huskit-crawler:1"
    with pytest.raises(ParityError, match=r"^crawler: no revision before huskit-crawler:1 to roll back to$"):
        rollback(ctx, ["crawler"])
    with pytest.raises(ParityError, match=r"^unknown service 'web'"):
        rollback(ctx, ["web"])


def test_previous_revision():
    arns = [f"a/f:{n}" for n in (1, 2, 5)]
    assert previous_revision(arns, "a/f:5") == "a/f:2"
    assert previous_revision(arns, "a/f:1") is None


# -- render -----------------------------------------------------------


def test_render_pins_known_digests_and_marks_unknown_ones(root):
    ctx = ctx_for(root)
    repo = f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/crawler"
    ctx.registry.pushed[f"{repo}|{image_id('crawler')}"] = "sha256:" + "ef" * 32
    release = render(ctx)
    assert release.taskdefs["crawler"]["containerDefinitions"][0]["image"] == f"{repo}@sha256:" + "ef" * 32
    assert "<digest after push of" in release.refs["website-agent"]


def test_local_env_uses_the_local_registry_without_login(root):
    tested(root)
    ctx = make_ctx(root, "local")
    ctx.emulator = None
    ctx.stack = ctx.stack.model_copy(update={"aws": ctx.stack.aws.model_copy(update={"bootstrap": False})})
    promote(ctx, version="v1")
    assert ctx.registry.logins == []
    assert ctx.registry.tags[0][1] == "127.0.0.1:5055/huskit/website-agent:v1"
    assert ctx.smoke_calls == ["http://127.0.0.1:8080"]



def test_first_promote_starts_a_service_infra_apply_created_at_zero(root):
    """infra-apply creates a service on a placeholder at 0 tasks; the first promote starts it at the spec's count."""
    tested(root)
    ctx = ctx_for(root)
    ctx.ecs.services["crawler"]["desiredCount"] = 0
    promote(ctx, version="v1")
    assert ("desired", "crawler", 1) in ctx.ecs.calls
    assert not [c for c in ctx.ecs.calls if c[:2] == ("desired", "website-agent")]  # already running: autoscaling's count stays
