"""The gated (blue/green) replacement of website-agent on the real stack,
under steady load through the edge (as test_rolling.py: loopback, two
threads of ~40 GETs/s on non-/api/ paths, SSE streams), issue 20:

- a changed website-agent is replaced blue/green: its new replicas get the
  test traffic and the e2e smoke checks with the test header, then all
  production traffic; 0 failed requests, 0 cut streams (one open across the
  test traffic shift, one across the production shift), every stage reported
  in ECS's words, `inv status` showing the stage and split meanwhile, the
  test header's value in no output or report;
- a revision whose smoke checks fail (/healthz answers 200 with a wrong
  body: healthy for the target group, not for the gate) never receives a
  production request: it logs each request it gets as test (the test
  header) or production, and only test ones arrive; `inv up` exits non-zero
  naming the failing check, the old replicas are the same containers and
  served everything.

The deployment strategy comes from deploy/local.yaml (website-agent:
blue_green, no bake). Each test edits website-agent's source in the worktree
and restores it (and the stack) in a ``finally``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from parity.app.benchmarks.bench_loop import Load, Stream
from parity.app.local.gated import STAGES

from .conftest import ROOT, docker, inv
from .test_rolling import EDGE, WEB, edited, failures, of, stack_containers

pytestmark = pytest.mark.integration

STREAM_SECONDS = 20  # below the local deregistration delay (30 s): draining lets it finish
# The failing revision's own record of what reaches it (the test header's presence, never its value).
RECORDING = (
    "  app.disable('x-powered-by');\n",
    # through the edge's ALB part a request carries X-Amzn-Trace-Id; the health checks (the edge's target
    # check, Docker's) come straight to the replica and are logged apart
    (
        "  app.disable('x-powered-by');\n  app.use((req, _res, next) => { console.log(`gate-test ${req.get('x-test-traffic') ? 'test' : "
        "req.get('x-amzn-trace-id') ? 'production' : 'health'} ${req.method} ${req.path}`); next(); });\n"
    ),
)


@pytest.fixture(scope="module", autouse=True)
def settled():
    inv("up", timeout=900)
    yield


def header_value() -> str:
    """The test header's value, as the edge holds it (to check it is printed nowhere)."""
    edge = of("edge", stack_containers())
    name = next(iter(edge))
    return docker("exec", name, "printenv", "EDGE_TEST_TRAFFIC").stdout.strip()


class Rollout:
    """`inv up` as a user runs it, read line by line, with hooks on its lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.code: int | None = None

    def run(self, on_line) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "up"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        )
        deadline = time.monotonic() + 900
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                self.lines.append(line)
                on_line(line)
                if time.monotonic() > deadline:
                    break
            self.code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        return "".join(self.lines)


def test_blue_green_replacement_under_load_fails_nothing_and_cuts_no_stream():
    marker = uuid.uuid4().hex[:8]
    healthz = ("res.status(200).json({ status: 'ok', ", f"res.status(200).json({{ status: 'ok', gated: '{marker}', ")
    before = stack_containers()
    value = header_value()
    assert len(value) >= 16
    streams: dict[str, Stream] = {}
    open_at: dict[str, bool] = {}
    status_at_gate: list[dict] = []

    def on_line(line: str) -> None:
        if "website-agent: RECONCILE_SERVICE" in line and "scale" not in streams:
            streams["scale"] = Stream(EDGE, STREAM_SECONDS).start()  # across the scale-up and the test traffic shift
        if "website-agent: POST_TEST_TRAFFIC_SHIFT" in line and not status_at_gate:
            open_at["test shift"] = streams["scale"]._thread is not None and streams["scale"]._thread.is_alive()
            status_at_gate.append(json.loads(inv("status", "--json").stdout))
        if "e2e finished in" in line and "production" not in streams:
            streams["production"] = Stream(EDGE, STREAM_SECONDS).start()  # across the production traffic shift
            time.sleep(0.5)  # connected to the old replicas before the shift
        if "website-agent: PRODUCTION_TRAFFIC_SHIFT" in line:
            s = streams.get("production")
            open_at["production shift"] = s is not None and s._thread is not None and s._thread.is_alive()

    try:
        with edited(WEB / "src" / "app.ts", *healthz):
            inv("build", "--service", "website-agent", timeout=600)  # so the rollout starts at once
            rollout = Rollout()
            started, since = time.monotonic(), int(time.time())
            with Load(EDGE) as load:
                out = rollout.run(on_line)
                for s in streams.values():
                    s.join()
                time.sleep(1)
            took = time.monotonic() - started
            after = stack_containers()
            assert rollout.code == 0, f"inv up exited {rollout.code}\n{out[-3000:]}"
            # every stage, in ECS's words and order (no bake locally)
            seen = [s for line in out.splitlines() for s in STAGES if f"website-agent: {s}" in line]
            assert seen == [s for s in STAGES if s != "BAKE_TIME"], seen
            assert re.search(
                r"website-agent: replaced 2 replica\(s\) blue_green in [\d.]+ s \(the gate [\d.]+ s\)", out
            ), out[-2000:]
            print(
                f"gated replacement under load: {took:.1f} s, {load.ok} requests, {len(load.failed)} failed, "
                f"{load.retried} retried; "
                + next((ln.strip() for ln in out.splitlines() if "replaced 2 replica" in ln), "")
            )
            assert load.ok > 200, f"only {load.ok} requests went through"
            assert open_at == {"test shift": True, "production shift": True}, open_at
            for name, s in streams.items():
                assert not s.cut, f"the {name} stream was cut ({s.error or 'no done event'}; events: {s.events[-3:]})"
            # while the gate ran, `inv status` showed the stage and the split
            d = status_at_gate[0]["deployments"]["website-agent"]
            assert (d["stage"], d["split"], d["strategy"]) == (
                "POST_TEST_TRAFFIC_SHIFT",
                "production: blue 100% / green 0%; test: green",
                "blue_green",
            )
            assert len(d["blue"]) == 2 and len(d["green"]) == 2
            assert marker in httpx.get(f"{EDGE}/healthz", timeout=5).text, "the edge does not serve the new version"
            assert not set(of("website-agent", after).values()) & set(of("website-agent", before).values())
            assert len(of("website-agent", after)) == 2
            assert json.loads(inv("status", "--json").stdout)["deployments"] == {}
            # the secret reached no output and no report
            assert value not in out
            for f in (ROOT / "reports").rglob("*"):
                if f.is_file() and f.stat().st_size < 50_000_000:
                    assert value.encode() not in f.read_bytes(), f"{f} holds the test header's value"
            assert not load.failed, (f"{len(load.failed)} of {load.ok + len(load.failed)} requests failed: {failures(load)}; "
                                     f"the edge said: {edge_errors(since)}")  # fmt: skip
            assert load.retried <= 8, f"{load.retried} requests met a keep-alive connection the edge closed unanswered"
    finally:
        inv("up", timeout=900)  # back to the committed source (another gated replacement)


def edge_errors(since: int) -> list[str]:
    """The edge's 5xx answers and error lines since ``since`` (epoch seconds)."""
    edge = next(iter(of("edge", stack_containers())))
    got = docker("logs", "--since", str(since), edge, check=False)
    lines = (got.stdout + got.stderr).splitlines()
    return [ln[:300] for ln in lines if re.search(r'" 5\d\d |\[(error|crit|alert)\]', ln)][-10:]


def test_a_revision_whose_gate_fails_never_gets_a_production_request():
    broken = ("res.status(200).json({ status: 'ok', ", "res.status(200).json({ status: 'gate-test-broken', ")
    before = of("website-agent", stack_containers())
    seen_logs: dict[str, str] = {}
    stop = threading.Event()

    def record_new_replicas() -> None:
        """The new replicas' logs, read until they are gone (they are removed on failure)."""
        while not stop.is_set():
            for name in of("website-agent", stack_containers()):
                if name not in before:
                    got = docker("logs", name, check=False)
                    if got.returncode == 0:
                        seen_logs[name] = got.stdout + got.stderr
            time.sleep(0.2)

    try:
        with edited(WEB / "src" / "app.ts", *broken), edited(WEB / "src" / "app.ts", *RECORDING):
            inv("build", "--service", "website-agent", timeout=600)
            watcher = threading.Thread(target=record_new_replicas, daemon=True)
            watcher.start()
            with Load(EDGE) as load:
                proc = inv("up", check=False, timeout=900)
            stop.set()
            watcher.join(timeout=10)
            out = proc.stdout + proc.stderr
            assert proc.returncode != 0, out[-2000:]
            assert re.search(
                r"website-agent: the gate failed \([^)]*/healthz[^)]*\); the new replicas got test traffic only", out
            ), out[-2000:]
            assert of("website-agent", stack_containers()) == before  # the new ones are gone, the old untouched
            assert not load.failed, (
                f"{len(load.failed)} of {load.ok + len(load.failed)} requests failed: {failures(load)}"
            )
            assert load.ok > 200, f"only {load.ok} requests went through"
            # per replica: what reached the new ones
            assert len(seen_logs) == 2, f"the new replicas' logs were not read: {list(seen_logs)}"
            counts = {name: {kind: len(re.findall(rf"^gate-test {kind} ", text, re.M)) for kind in ("test", "production")}
                      for name, text in seen_logs.items()}  # fmt: skip
            assert sum(c["test"] for c in counts.values()) > 0, f"the gate never reached the new replicas: {counts}"
            assert all(c["production"] == 0 for c in counts.values()), (
                f"production requests reached the new replicas: {counts}"
            )
            print(f"failing gate: per new replica {counts}; {load.ok} production requests, all on the old replicas")
    finally:
        stop.set()
        inv("up", timeout=900)
    assert of("website-agent", stack_containers()) == before  # the restored source is what the old replicas run
