"""The rolling replacement on the real stack, under steady load through the
edge (loopback, non-/api/ paths only, so the WAF's /api/ budget is not spent,
plus one SSE stream):

- a changed website-agent is replaced with no failed request and no cut
  stream, and a second `inv up` recreates nothing (same container IDs);
- a new replica that never gets healthy (its server exits at start) is rolled
  back: `inv up` exits non-zero and the old replicas keep serving.

Each test edits website-agent's source in the worktree and restores it (and
the stack) in a ``finally``. Load is bounded (two threads, ~40 requests/s
each, at most 300 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from parity.app.benchmarks.bench_loop import Load, Stream

from .conftest import PROJECT, ROOT, containers_of, docker, inv

pytestmark = pytest.mark.integration

EDGE = "http://127.0.0.1:8080"
WEB = ROOT / "services" / "website-agent"
STREAM_SECONDS = 20  # below the local deregistration delay (30 s): draining lets it finish


@contextmanager
def edited(path: Path, find: str, replace: str) -> Iterator[None]:
    original = path.read_text()
    assert find in original, f"{find!r} is not in {path}"
    path.write_text(original.replace(find, replace, 1))
    try:
        yield
    finally:
        path.write_text(original)


def stack_containers() -> dict[str, str]:
    """Container name -> ID of every container of the stack."""
    out = docker(
        "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "--format", "{{.Names}} {{.ID}}"
    )
    return dict(line.split() for line in out.stdout.splitlines())


def of(service: str, containers: dict[str, str]) -> dict[str, str]:
    return {n: i for n, i in containers.items() if n.startswith(f"{PROJECT}-{service}-")}


def failures(load: Load) -> str:
    return ", ".join(f"{n} x {what}" for what, n in Counter(load.failed).most_common(5))


def rollout() -> tuple[str, Stream, bool]:
    """`inv up` as a user runs it; an SSE stream is opened as the replacement
    starts. Returns the output, the stream and whether it was still open when
    the edge switched to the new replicas."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "up"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )
    lines: list[str] = []
    stream: Stream | None = None
    open_at_switch = False
    deadline = time.monotonic() + 600
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line)
            if stream is None and "website-agent: starting" in line:
                stream = Stream(EDGE, STREAM_SECONDS).start()
            if "website-agent: the edge routes to the new replicas" in line:
                open_at_switch = stream is not None and stream._thread is not None and stream._thread.is_alive()
            if time.monotonic() > deadline:
                break
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    assert code == 0, f"inv up exited {code}\n{out[-3000:]}"
    assert stream is not None, f"no replacement started\n{out[-3000:]}"
    return out, stream, open_at_switch


@pytest.fixture(scope="module", autouse=True)
def settled():
    inv("up", timeout=600)
    yield


def test_changed_service_is_replaced_without_a_lost_request_and_stays_put():
    marker = uuid.uuid4().hex[:8]
    healthz = ("res.status(200).json({ status: 'ok', ", f"res.status(200).json({{ status: 'ok', rolling: '{marker}', ")
    before = stack_containers()
    try:
        with edited(WEB / "src" / "app.ts", *healthz):
            inv("build", "--service", "website-agent", timeout=600)  # so the rollout starts at once, stream open
            with Load(EDGE) as load:
                out, stream, open_at_switch = rollout()
                stream.join()
                time.sleep(1)
            after = stack_containers()
            assert "website-agent: replaced 2 replica(s)" in out, out[-2000:]
            assert load.ok > 200, f"only {load.ok} requests went through"
            assert not load.failed, (
                f"{len(load.failed)} of {load.ok + len(load.failed)} requests failed: {failures(load)}"
            )
            assert load.retried <= 4, f"{load.retried} requests met a keep-alive connection the edge closed unanswered"
            assert open_at_switch, (
                "the stream had ended before the edge switched: the test proved nothing about draining"
            )
            assert not stream.cut, (
                f"the SSE stream was cut ({stream.error or 'no done event'}; events: {stream.events[-3:]})"
            )
            assert marker in httpx.get(f"{EDGE}/healthz", timeout=5).text, "the edge does not serve the new version"
            # only website-agent was replaced: the edge and everything else are the same containers
            assert not set(of("website-agent", after).values()) & set(of("website-agent", before).values())
            assert len(of("website-agent", after)) == 2
            unchanged = {n: i for n, i in before.items() if n not in of("website-agent", before)}
            assert {n: after.get(n) for n in unchanged} == unchanged
            # a second `inv up` (nothing changed) recreates nothing, the new replicas included; its
            # record dropped, so it takes the full path (compose up) rather than the warm shortcut
            (ROOT / ".parity" / "up-state.json").unlink(missing_ok=True)
            out = inv("up", timeout=600).stdout
            assert "nothing changed since the last" not in out
            assert stack_containers() == after
    finally:
        inv("up", timeout=600)  # back to the committed source (another rolling replacement)


def test_replica_that_never_gets_healthy_is_rolled_back_and_the_old_keep_serving():
    crash = ("const here = ", "process.exit(3); // rolling test: this build never starts\nconst here = ")
    before = of("website-agent", stack_containers())
    try:
        with edited(WEB / "server.ts", *crash):
            with Load(EDGE) as load:
                proc = inv("up", check=False, timeout=600)
            assert proc.returncode != 0, proc.stdout[-2000:]
            assert "rolled back, the old replicas keep serving" in proc.stdout + proc.stderr, proc.stdout[-2000:]
            assert of("website-agent", stack_containers()) == before  # the new ones are gone, the old untouched
            assert load.ok > 100, f"only {load.ok} requests went through"
            assert not load.failed, (
                f"{len(load.failed)} of {load.ok + len(load.failed)} requests failed: {failures(load)}"
            )
            assert load.retried <= 4, f"{load.retried} requests met a keep-alive connection the edge closed unanswered"
            answered = edge_targets("website-agent")
            addresses = {
                docker(
                    "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{PROJECT}_public").IPAddress}}}}', c
                ).stdout.strip()
                for c in before.values()
            }
            assert answered in ("default", ",".join(sorted(addresses))), answered
    finally:
        inv("up", timeout=600)
    # the restored source builds the image the old replicas run: nothing to replace
    assert of("website-agent", stack_containers()) == before


def edge_targets(service: str) -> str:
    """The members of the edge's target group, as its admin surface (inside the container) lists them."""
    from parity.render.edge import TARGETS_PATH, admin_url

    edge = containers_of("edge")[0]
    return docker("exec", edge, "wget", "-q", "-O", "-", admin_url(f"{TARGETS_PATH}/{service}")).stdout.strip()


def public_address(container: str) -> str:
    return docker(
        "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{PROJECT}_public").IPAddress}}}}', container
    ).stdout.strip()


def test_status_warns_about_a_target_group_whose_replica_is_gone_and_up_heals_it():
    """After a rollout the edge's target group holds replica addresses; a replica removed outside
    `inv up` leaves one that answers nobody: `inv status` says so, `inv up` registers again."""
    from parity.adapters.docker import Docker
    from parity.app.local.local_stack import compose_for
    from parity.app.local.replace import DockerFleet, register_all
    from parity.app.workspace import Workspace
    from parity.spec import load_stack

    ws = Workspace.from_env(ROOT)
    stack = load_stack(ROOT, "local")
    register_all(stack, DockerFleet(stack, compose_for(ws, stack), Docker(), {}))  # addresses, as after a rollout
    assert json.loads(inv("status", "--json").stdout)["warnings"] == []
    victim = min(of("website-agent", stack_containers()))
    gone, image = public_address(victim), docker("inspect", "-f", "{{.Config.Image}}", victim).stdout.strip()
    docker("rm", "-f", victim)
    # something else takes the freed address, so the replacement replica gets another (as on ECS)
    squatter = docker(
        "run", "-d", "--rm", "--network", f"{PROJECT}_public", "--entrypoint", "sleep", image, "300"
    ).stdout.strip()
    try:
        warnings = json.loads(inv("status", "--json").stdout)["warnings"]
        assert any(w.startswith("the edge's target group for website-agent is ") for w in warnings), warnings
        out = inv("up", timeout=600).stdout
        running = sorted(public_address(c) for c in of("website-agent", stack_containers()))
        if gone not in running:
            assert "registered the replicas of website-agent in the edge's target group" in out, out[-2000:]
        assert edge_targets("website-agent") == ",".join(running)
        assert json.loads(inv("status", "--json").stdout)["warnings"] == []
    finally:
        docker("rm", "-f", squatter, check=False)
        inv("up", timeout=600)


def test_a_target_group_the_edge_refuses_says_why_and_the_old_members_keep_serving():
    """The switch reloads without a config test first (nginx tests as it reloads and keeps the old
    config); when the edge does not take the new members, `nginx -t` is run to say why."""
    from parity.adapters.docker import Docker
    from parity.app.local.local_stack import compose_for
    from parity.app.local.replace import DockerFleet, register_all
    from parity.app.workspace import Workspace
    from parity.errors import CommandFailed
    from parity.spec import load_stack

    ws = Workspace.from_env(ROOT)
    stack = load_stack(ROOT, "local")
    fleet = DockerFleet(stack, compose_for(ws, stack), Docker(), {})
    register_all(stack, fleet)
    members = fleet.registered("website-agent")  # the edge's admin surface, inside its container
    assert members and "<" not in members, members
    try:
        with pytest.raises(CommandFailed) as exc:
            fleet.register("website-agent", ["not-an-address:x"])
        assert "nginx" in str(exc.value) and "not-an-address" in exc.value.output, exc.value.output
        assert fleet.registered("website-agent") == members
        assert httpx.get(f"{EDGE}/healthz", timeout=5).status_code == 200  # the old members still serve
    finally:
        fleet.register("website-agent", members.split(","))


def test_the_target_group_health_check_is_asked_from_the_edge():
    """What decides when new replicas take traffic (as an ALB's target health check does): GET the
    spec's health.path of the replica's address from the edge, a 2xx; a 404 never passes."""
    from parity.adapters.docker import Docker
    from parity.app.local.local_stack import compose_for
    from parity.app.local.replace import DockerFleet
    from parity.app.workspace import Workspace
    from parity.spec import load_stack

    ws = Workspace.from_env(ROOT)
    stack = load_stack(ROOT, "local")
    fleet = DockerFleet(stack, compose_for(ws, stack), Docker(), {})
    replica = min(of("website-agent", stack_containers()))
    address = fleet.addresses([replica])[replica]
    assert address == public_address(replica)
    t = time.monotonic()
    assert fleet.target_healthy(address, 5171, stack.services["website-agent"].health.path, 5, within=5)
    assert time.monotonic() - t < 2
    t = time.monotonic()
    assert not fleet.target_healthy(address, 5171, "/no-such-path", 5, within=1.0)
    assert time.monotonic() - t >= 1.0
