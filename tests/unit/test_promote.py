"""Promote, rollback and the rollout wait, against fakes at the boto3/docker
boundary (see deploy_fakes for which AWS behaviour each scripted rollout
stands for)."""

from datetime import UTC

import pytest

from parity.app.checks import records
from parity.app.deploy.promote import promote
from parity.app.deploy.release import render
from parity.app.deploy.rollback import previous_revision, rollback
from parity.app.deploy.rollout import wait_rollout
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


def test_e2e_records_are_whole_sets_of_image_ids(root):
    both = {s: image_id(s) for s in ("website-agent", "crawler")}
    assert (
        records.untested(root, both, 7) == f"website-agent: image {image_id('website-agent')[:19]} has not passed e2e"
    )
    records.record_e2e_pass(root, both, "e2e")
    assert records.untested(root, both, 7) is None
    assert (root / ".parity/e2e-results.json").exists()


def test_images_tested_in_different_runs_are_not_a_tested_set(root):
    """web A with crawler X, then crawler Y with web B: neither A+Y nor B+X was tested."""
    a, b, x, y = (image_id(n) for n in "ABXY")
    records.record_e2e_pass(root, {"website-agent": a, "crawler": x}, "e2e")
    records.record_e2e_pass(root, {"website-agent": b, "crawler": y}, "e2e")
    assert records.untested(root, {"website-agent": a, "crawler": x}, 7) is None
    why = records.untested(root, {"website-agent": a, "crawler": y}, 7)
    assert why.startswith("these images never passed e2e together (website-agent sha256:")


def test_an_e2e_record_expires(root):
    from datetime import datetime, timedelta

    both = {s: image_id(s) for s in ("website-agent", "crawler")}
    now = datetime(2026, 3, 10, tzinfo=UTC)
    records.record_e2e_pass(root, both, "e2e", at=now - timedelta(days=8))
    assert records.untested(root, both, 7, now=now) == (
        "these images passed e2e together 8 days ago; a record expires after 7 days (aws.e2e_max_age_days)"
    )
    assert records.untested(root, both, 9, now=now) is None


def test_promote_refuses_a_set_tested_in_pieces(root):
    records.record_e2e_pass(root, {"website-agent": image_id("website-agent"), "crawler": image_id("other")}, "e2e")
    records.record_e2e_pass(root, {"website-agent": image_id("other"), "crawler": image_id("crawler")}, "e2e")
    ctx = ctx_for(root)
    with pytest.raises(ParityError, match=r"^these images never passed e2e together"):
        promote(ctx, version="v1")
    assert ctx.ecs.calls == [] and ctx.registry.tags == []


# -- happy path ------------------------------------------------------------------


def test_promote_pushes_by_digest_registers_updates_and_waits(root):
    tested(root)
    ctx = ctx_for(
        root, scripts={"crawler": ["IN_PROGRESS", "COMPLETED"], "website-agent": ["COMPLETED"]}, distribution_id="E123"
    )
    result = promote(ctx, version="0123abc")
    # pushed under the git SHA and the image's ID, never :latest; pinned by the digest the push returned
    assert [ref for _img, ref in ctx.registry.tags] == [
        f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/website-agent:0123abc-{image_id('website-agent')[7:19]}",
        f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/crawler:0123abc-{image_id('crawler')[7:19]}",
    ]
    assert ctx.registry.logins == [f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com"]
    for service in ("website-agent", "crawler"):
        arn = result.deployed[service]
        image = ctx.ecs.taskdefs[arn]["containerDefinitions"][0]["image"]
        assert (
            image
            == f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/{service}@{ctx.registry.pushed[image.split('@')[0] + '|' + image_id(service)]}"
        )
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
    assert "forced past: crawler: image" in "\n".join(ctx.lines)


def test_image_never_built(root):
    ctx = ctx_for(root, built=False)
    with pytest.raises(ParityError) as exc:
        promote(ctx, version="v1")
    assert (
        str(exc.value) == "website-agent: image huskit/website-agent:local was never built (hint: `inv up` builds it)"
    )


def test_missing_repository_cluster_service_and_credentials(root):
    tested(root)
    ctx = ctx_for(root)
    ctx.ecs.repos.discard("huskit/crawler")
    with pytest.raises(ParityError) as exc:
        promote(ctx, version="v1")
    assert str(exc.value) == (
        "ECR repository huskit/crawler does not exist in eu-central-1 (hint: `inv infra-apply --env prod` creates it)"
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
    assert {s: v["taskDefinition"] for s, v in ctx.ecs.services.items()} == {
        s: v["taskDefinition"] for s, v in before.items()
    }
    text = "\n".join(ctx.lines)
    assert "dry run: stopping after diff" in text
    assert "<digest after push of sha256:" in text  # never pushed: the digest is not invented
    assert '+      "image":' in text


def test_dry_run_of_untested_images_says_a_promote_would_refuse(root):
    tested(root, ["website-agent"])
    ctx = ctx_for(root)
    assert promote(ctx, version="v1", dry_run=True).dry_run
    assert (
        f"NOT tested: crawler: image {image_id('crawler')[:19]} has not passed e2e (a promote would refuse them)"
        in "\n".join(ctx.lines)
    )
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
    assert msg.startswith(
        "website-agent: rollout ROLLED_BACK: ECS deployment circuit breaker: tasks failed to start.; ECS rolled back to huskit-website-agent:1"
    )
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
    # ...but its rollback deployment is followed to the end before the outcome is reported
    text = "\n".join(ctx.lines)
    assert "website-agent: ECS is rolling back to huskit-website-agent:1" in text
    assert "website-agent: ECS's rollback COMPLETED" in text


def test_a_circuit_breaker_rollback_that_fails_is_its_own_error(root):
    from parity.errors import RollbackFailed

    tested(root)
    ctx = ctx_for(root, scripts={"website-agent": ["IN_PROGRESS", "ROLLBACK", "IN_PROGRESS", "FAILED"]})
    with pytest.raises(RollbackFailed) as exc:
        promote(ctx, version="v1")
    assert exc.value.exit_code == 3
    assert str(exc.value).startswith(
        "website-agent: rollout ROLLED_BACK: ECS deployment circuit breaker: tasks failed to start.; "
        "ECS rolled back to huskit-website-agent:1; the rollback failed too: website-agent to huskit-website-agent:1 FAILED: "
    )
    assert "; rolled back: crawler on huskit-crawler:1 (hint: the service may be down" in str(exc.value)
    assert "ECS events (website-agent, rollback):" in "\n".join(ctx.lines)


def test_timeout_rolls_back(root):
    tested(root)
    ctx = ctx_for(root, scripts={"crawler": ["IN_PROGRESS"] * 1000}, rollout_timeout=30)
    with pytest.raises(
        DeployFailed,
        match=r"^crawler: rollout TIMEOUT: still IN_PROGRESS after 30 s; rolled back: crawler on huskit-crawler:1$",
    ):
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
    assert {s: a.rsplit("/", 1)[-1] for s, a in done.items()} == {
        "crawler": "huskit-crawler:1",
        "website-agent": "huskit-website-agent:1",
    }
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
    assert ctx.registry.tags[0][1] == f"127.0.0.1:5055/huskit/website-agent:v1-{image_id('website-agent')[7:19]}"
    assert ctx.smoke_calls == ["http://127.0.0.1:8080"]


# -- failed revisions are never rolled back to -------------------------------------------


def test_a_failed_promote_deregisters_what_it_registered(root):
    tested(root)
    ctx = ctx_for(root, smoke_ok=False)
    with pytest.raises(DeployFailed):
        promote(ctx, version="v1")
    assert [c for c in ctx.ecs.calls if c[0] == "deregister"] == [
        ("deregister", "huskit-crawler:2"),
        ("deregister", "huskit-website-agent:2"),
    ]
    assert "deregistered huskit-crawler:2: it never ran healthy" in "\n".join(ctx.lines)


def rebuild(root, ctx, suffix):
    """New local images (new IDs) that passed e2e together."""
    ctx.registry.images = {ref: image_id(ref + suffix) for ref in ctx.registry.images}
    records.record_e2e_pass(
        root, {s: ctx.registry.images[f"huskit/{s}:local"] for s in ("website-agent", "crawler")}, "e2e"
    )


def test_rollback_skips_a_revision_that_failed(root):
    """good (2), bad (3: smoke failed, rolled back), good (4): rollback goes to 2."""
    tested(root)
    ctx = ctx_for(root)
    promote(ctx, version="v1")
    rebuild(root, ctx, "bad")
    ctx.smoke = lambda url: False
    with pytest.raises(DeployFailed):
        promote(ctx, version="v2")
    rebuild(root, ctx, "good")
    ctx.smoke = lambda url: True
    promote(ctx, version="v3")
    assert running(ctx, "crawler") == "huskit-crawler:4"
    done = rollback(ctx, ["crawler"])
    assert done["crawler"].endswith("huskit-crawler:2")


# -- architecture ----------------------------------------------------------------------


def test_promote_refuses_an_image_built_for_another_architecture(root):
    tested(root)
    ctx = ctx_for(root)
    ctx.registry.architectures[image_id("crawler")] = "arm64"
    with pytest.raises(ParityError) as exc:
        promote(ctx, version="v1", force=True)
    assert str(exc.value) == (
        f"crawler: image {image_id('crawler')[:19]} is built for arm64, but services.crawler.cpu_architecture is X86_64 (amd64) "
        "(hint: build it for the spec's architecture (docker build --platform), or change the spec)"
    )
    assert ctx.ecs.calls == [] and ctx.registry.tags == []
    promote(ctx, version="v1", dry_run=True)
    assert "is built for arm64" in "\n".join(ctx.lines) and "(a promote would refuse it)" in "\n".join(ctx.lines)


def test_an_arm64_spec_takes_an_arm64_image(root):
    tested(root)
    ctx = ctx_for(root)
    svc = ctx.stack.services["crawler"].model_copy(update={"cpu_architecture": "ARM64"})
    ctx.stack = ctx.stack.model_copy(update={"services": {**ctx.stack.services, "crawler": svc}})
    ctx.registry.architectures[image_id("crawler")] = "arm64"
    result = promote(ctx, version="v1")
    arn = result.deployed["crawler"]
    assert ctx.ecs.taskdefs[arn]["runtimePlatform"] == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}


# -- before the account exists ------------------------------------------------------------


def test_render_and_dry_run_work_without_aws(root):
    tested(root)
    ctx = ctx_for(root)
    ctx.ecs.no_credentials = True
    release = render(ctx, offline_ok=True)
    assert release.account == "ACCOUNT_ID"
    assert release.refs["crawler"].startswith(
        "ACCOUNT_ID.dkr.ecr.eu-central-1.amazonaws.com/huskit/crawler@<digest after push"
    )
    assert release.taskdefs["crawler"]["executionRoleArn"] == "arn:aws:iam::ACCOUNT_ID:role/huskit-ecs-execution-role"
    assert [n.split(":")[0] for n in release.not_compared] == ["the account", "ECR repositories (not checked)"]

    result = promote(ctx, version="v1", dry_run=True)
    assert result.dry_run and ctx.registry.tags == []
    text = "\n".join(ctx.lines)
    assert "crawler: live side NOT compared (cluster_active: no AWS credentials found); rendered in full:" in text
    assert '+      "image": "ACCOUNT_ID.dkr.ecr' in text
    assert (
        "not compared with AWS: the account: account_id: no AWS credentials found; ARNs name ACCOUNT_ID (give --account)"
        in text
    )
    assert (
        "not compared with AWS: live task definitions and services of crawler, website-agent: cluster_active: no AWS credentials found"
        in text
    )


def test_the_account_can_be_given(root):
    tested(root)
    ctx = ctx_for(root)
    ctx.ecs.no_credentials = True
    promote(ctx, version="v1", dry_run=True, account="444455556666")
    text = "\n".join(ctx.lines)
    assert "444455556666.dkr.ecr.eu-central-1.amazonaws.com/huskit/crawler@" in text
    assert "not compared with AWS: the account" not in text
    with pytest.raises(ConfigError, match=r"^--account: 'prod' is not an AWS account ID \(12 digits\)$"):
        promote(ctx, version="v1", dry_run=True, account="prod")


def test_a_real_promote_needs_aws_and_the_right_account(root):
    from parity.errors import AwsUnavailable

    tested(root)
    ctx = ctx_for(root)
    ctx.ecs.no_credentials = True
    with pytest.raises(AwsUnavailable, match="no AWS credentials found"):
        promote(ctx, version="v1")
    ctx.ecs.no_credentials = False
    with pytest.raises(
        ParityError, match=rf"^--account 444455556666: the AWS credentials in use are for account {ACCOUNT}$"
    ):
        promote(ctx, version="v1", account="444455556666")
    assert ctx.ecs.calls == []


def test_aws_call_tells_unavailable_from_refused():
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    from parity.adapters.aws import aws_call
    from parity.errors import AwsUnavailable

    def raising(exc):
        def fn():
            raise exc

        return fn

    def client_error(code):
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "DescribeServices")

    for exc in (
        NoCredentialsError(),
        EndpointConnectionError(endpoint_url="https://ecs"),
        client_error("ExpiredTokenException"),
    ):
        with pytest.raises(AwsUnavailable):
            aws_call("x", raising(exc))
    with pytest.raises(ParityError) as refused:
        aws_call("describe service crawler", raising(client_error("AccessDeniedException")))
    assert not isinstance(refused.value, AwsUnavailable)
    assert str(refused.value) == "describe service crawler: AccessDeniedException: m"


def test_first_promote_starts_a_service_infra_apply_created_at_zero(root):
    """infra-apply creates a service on a placeholder at 0 tasks; the first promote starts it at the spec's count."""
    tested(root)
    ctx = ctx_for(root)
    ctx.ecs.services["crawler"]["desiredCount"] = 0
    promote(ctx, version="v1")
    assert ("desired", "crawler", 1) in ctx.ecs.calls
    assert not [
        c for c in ctx.ecs.calls if c[:2] == ("desired", "website-agent")
    ]  # already running: autoscaling's count stays


def test_once_aws_is_unavailable_the_render_asks_it_nothing_more(root, monkeypatch):
    """The review's finding: without credentials each repository was asked for
    after STS had failed already (each call waits for the credential chain)."""
    tested(root)
    ctx = ctx_for(root)
    ctx.ecs.no_credentials = True
    asked = []
    real = ctx.ecs.__class__.__getattribute__

    def counting(self, name):
        if name in ("account_id", "repository_uri"):
            asked.append(name)
        return real(self, name)

    monkeypatch.setattr(type(ctx.ecs), "__getattribute__", counting)
    release = render(ctx, offline_ok=True)
    assert asked == ["account_id"]
    assert "ECR repositories (not checked): account_id: no AWS credentials found" in release.not_compared
    asked.clear()
    release = render(ctx, account="444455556666", offline_ok=True)  # the account given: the first lookup fails
    assert asked == ["repository_uri"]
    assert release.refs["crawler"].startswith("444455556666.dkr.ecr.eu-central-1.amazonaws.com/huskit/crawler@")
