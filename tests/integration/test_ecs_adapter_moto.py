"""The ECS adapter against a real moto server (HTTP, started here on a free
port; no Docker needed): the calls the unit tests' fake stands in for."""

from __future__ import annotations

import pytest

from parity.adapters.aws import AwsTarget
from parity.adapters.ecs import Ecs

from .moto_server import free_port, moto_server

REGION = "eu-central-1"
pytestmark = pytest.mark.integration  # a real server, no Docker


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


def taskdef(family: str) -> dict:
    return {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "r/app@sha256:" + "ab" * 32}],
    }


def test_a_deregistered_revision_is_no_longer_a_rollback_candidate(endpoint):
    ecs = Ecs(AwsTarget(REGION, endpoint))
    arns = [ecs.register_task_definition(taskdef("adapter-dereg")) for _ in range(3)]
    assert ecs.task_definition_revisions("adapter-dereg") == arns
    ecs.deregister_task_definition(arns[1])
    assert ecs.task_definition_revisions("adapter-dereg") == [arns[0], arns[2]]


def test_no_endpoint_is_aws_unavailable_not_a_traceback():
    from parity.errors import AwsUnavailable

    port = free_port()  # nothing listens there
    with pytest.raises(
        AwsUnavailable, match=r"^who am I \(sts get-caller-identity\): Could not connect to the endpoint URL"
    ):
        Ecs(AwsTarget(REGION, f"http://127.0.0.1:{port}")).account_id()


def test_a_registered_rendered_definition_diffs_clean_as_moto_describes_it(endpoint):
    from pathlib import Path

    from parity.render.diff import taskdef_diff
    from parity.render.taskdef import render_taskdef
    from parity.spec.load import load_stack

    root = Path(__file__).resolve().parents[2]
    td = render_taskdef(load_stack(root, "prod"), "crawler", "r/huskit/crawler@sha256:" + "cd" * 32, "123456789012")
    ecs = Ecs(AwsTarget(REGION, endpoint))
    live = ecs.describe_task_definition(ecs.register_task_definition(td))
    assert live["runtimePlatform"] == {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}
    assert taskdef_diff(live, td, "td") == ""
