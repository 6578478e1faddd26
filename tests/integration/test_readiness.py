"""The rolling replacement's readiness wait (``Docker.passes_within``) in a
real container of the website-agent image, against a server that starts
listening late: it passes as soon as the port listens and the health command
answers, not before; it gives up after its window when the command never
passes, and at once when the container is gone. Needs the image (any `inv up`
or `inv build`), not the running stack."""

from __future__ import annotations

import time
import uuid

import pytest

from parity.adapters.docker import Docker
from parity.render.compose import image_name
from parity.spec import load_stack

from .conftest import ROOT, docker

pytestmark = pytest.mark.integration

PORT = 5171
# /healthz answers 200 once the server listens, LISTEN_AFTER seconds after the container starts
LISTEN_AFTER = 1.5
SERVER = (
    "setTimeout(() => require('http').createServer((q, r) => { r.statusCode = q.url === '/healthz' ? 200 : 404; r.end(); })"
    f".listen({PORT}), {int(LISTEN_AFTER * 1000)})"
)


@pytest.fixture
def late_server():
    image = image_name(load_stack(ROOT, "local"), "website-agent")
    if docker("image", "inspect", image, check=False).returncode != 0:
        pytest.skip(f"no image {image}: `inv build` makes it")
    name = f"parity-readiness-test-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, "--cpus", "1", "--entrypoint", "node", image, "-e", SERVER)
    started = time.monotonic()
    try:
        yield name, started
    finally:
        docker("rm", "-f", name, check=False)


def test_passes_as_soon_as_the_port_listens_and_not_before(late_server):
    name, started = late_server
    assert Docker().passes_within(name, "node healthcheck.js", timeout=5, within=10, port=PORT)
    took = time.monotonic() - started
    assert LISTEN_AFTER <= took < LISTEN_AFTER + 1.5, f"passed {took:.2f} s after the start"
    listening = docker("exec", name, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout
    assert f":{PORT:04X} " in listening


def test_gives_up_after_its_window_when_the_command_never_passes(late_server):
    name, _ = late_server
    t = time.monotonic()
    assert not Docker().passes_within(name, "exit 1", timeout=5, within=1.0, port=PORT)
    assert 1.0 <= time.monotonic() - t < 2.5


def test_a_command_that_passes_without_the_port_passes_at_once(late_server):
    name, started = late_server
    assert Docker().passes_within(name, "true", timeout=5, within=5, port=PORT)
    assert time.monotonic() - started < LISTEN_AFTER  # the first pass runs the command, listening or not


def test_ends_at_once_when_the_container_is_gone(late_server):
    name, _ = late_server
    docker("rm", "-f", name)
    t = time.monotonic()
    assert not Docker().passes_within(name, "node healthcheck.js", timeout=5, within=10, port=PORT)
    assert time.monotonic() - t < 2
