"""The first promote against a real moto server (no Docker; images, registry
and bucket faked as in test_infra_moto.py). A failed one: the services
infra-apply created on the placeholder at 0 tasks are left at 0 tasks on it,
and the promote exits non-zero (moto completes every rollout, it runs no
task, so the failure here is the smoke run's; a rollout that fails to pull
the placeholder's image is tests/unit/test_promote_first.py's fake ECS). A
dry run on a fresh emulator: it looks ahead through the bootstrap."""

from __future__ import annotations

import pytest

from parity.adapters.aws import AwsTarget
from parity.adapters.cloudformation import Emulator
from parity.adapters.ecs import Ecs
from parity.app.checks import records
from parity.app.deploy.context import DeployContext
from parity.app.deploy.promote import promote
from parity.errors import DeployFailed, RollbackFailed
from parity.spec import load_stack
from tests.unit.deploy_fakes import FakeCdn, FakeRegistry, FakeStatic, image_id

from .moto_server import moto_server
from .test_infra_moto import REGION, make_root, services

pytestmark = pytest.mark.integration


def test_a_first_promote_that_fails_leaves_every_service_at_zero_tasks(tmp_path):
    with moto_server(MOTO_ECS_SERVICE_RUNNING="2") as moto:
        root = make_root(tmp_path, moto)
        stack = load_stack(root, "local")
        target = AwsTarget(REGION, moto)
        registry = FakeRegistry(stack)
        records.record_e2e_pass(root, {s: image_id(s) for s in stack.services}, "e2e")
        lines: list[str] = []
        ctx = DeployContext(
            root=root, stack=stack, ecs=Ecs(target), registry=registry, static=FakeStatic(), cdn=FakeCdn(),
            smoke=lambda url: False, report=lines.append, poll_interval=0.1, emulator=Emulator(target),
        )  # fmt: skip
        with pytest.raises(DeployFailed) as exc:
            promote(ctx, version="first")
        live = services(moto)
        for name in ("website-agent", "crawler"):
            assert live[name]["taskDefinition"].endswith(f"/huskit-{name}:1")  # the placeholder
            assert live[name]["desiredCount"] == 0
        assert not isinstance(exc.value, RollbackFailed)
        assert (
            "rolled back: website-agent at 0 tasks on huskit-website-agent:1, crawler at 0 tasks on huskit-crawler:1"
            in str(exc.value)
        )
        td = Ecs(target).describe_task_definition(live["crawler"]["taskDefinition"])
        assert td["containerDefinitions"][0]["image"].endswith(":bootstrap")


def test_a_dry_run_on_a_fresh_emulator_shows_the_bootstrap_and_the_rest(tmp_path):
    """Finding 10: `inv promote --env local --dry-run` on an empty emulator reports the
    bootstrap it would do (the template's plan, as infra-plan shows it), then the
    task definitions it would register, and creates nothing."""
    import boto3

    with moto_server(MOTO_ECS_SERVICE_RUNNING="2") as moto:
        root = make_root(tmp_path, moto)
        stack = load_stack(root, "local")
        target = AwsTarget(REGION, moto)
        records.record_e2e_pass(root, {s: image_id(s) for s in stack.services}, "e2e")
        lines: list[str] = []
        ctx = DeployContext(
            root=root, stack=stack, ecs=Ecs(target), registry=FakeRegistry(stack), static=FakeStatic(), cdn=FakeCdn(),
            smoke=lambda url: True, report=lines.append, poll_interval=0.1, emulator=Emulator(target),
        )  # fmt: skip
        result = promote(ctx, dry_run=True)
        text = "\n".join(lines)
        assert result.dry_run
        assert "stack huskit-local (new); revisions kept: website-agent (placeholder, 0 tasks)" in text
        assert "+ add     CrawlerService" in text and "+ add     WebsiteAgentRepository" in text
        assert "[ 4/12] bootstrap emulator: would create " in text
        assert '+      "image": "127.0.0.1:5055/huskit/crawler@<digest after push of sha256:' in text
        assert "not compared with AWS: ECR repository huskit/website-agent: it does not exist yet" in text
        assert (
            "not compared with AWS: live task definitions and services of crawler, website-agent: ECS cluster huskit-prod does not exist"
            in text
        )
        assert "dry run: stopping after diff" in text
        kw = dict(region_name=REGION, endpoint_url=moto, aws_access_key_id="test", aws_secret_access_key="test")
        assert boto3.client("cloudformation", **kw).describe_stacks()["Stacks"] == []
        assert boto3.client("ecr", **kw).describe_repositories()["repositories"] == []
        assert boto3.client("ecs", **kw).list_clusters()["clusterArns"] == []
