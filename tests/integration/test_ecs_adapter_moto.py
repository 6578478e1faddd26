"""The ECS adapter against a real moto server (HTTP, started here on a free
port; no Docker needed): the calls the unit tests' fake stands in for."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from parity.adapters.aws import AwsTarget
from parity.adapters.ecs import Ecs

REGION = "eu-central-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
