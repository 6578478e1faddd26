"""A failed first promote against a real moto server (no Docker; images,
registry and bucket faked as in test_infra_moto.py): the services infra-apply
created on the placeholder at 0 tasks are left at 0 tasks on it, and the
promote exits non-zero. moto completes every rollout (it runs no task), so
the failure here is the smoke run's; a rollout that fails to pull the
placeholder's image is tests/unit/test_promote_first.py's fake ECS."""

from __future__ import annotations

import pytest

from parity.adapters.aws import AwsTarget
from parity.adapters.cloudformation import Emulator
from parity.adapters.ecs import Ecs
from parity.app import records
from parity.app.context import DeployContext
from parity.app.promote import promote
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
        assert not isinstance(exc.value, RollbackFailed)
        assert "rolled back: website-agent at 0 tasks on huskit-website-agent:1, crawler at 0 tasks on huskit-crawler:1" in str(exc.value)
        live = services(moto)
        for name in ("website-agent", "crawler"):
            assert live[name]["desiredCount"] == 0
            assert live[name]["taskDefinition"].endswith(f"/huskit-{name}:1")  # the placeholder
        td = Ecs(target).describe_task_definition(live["crawler"]["taskDefinition"])
        assert td["containerDefinitions"][0]["image"].endswith(":bootstrap")
