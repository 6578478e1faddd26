"""A gated replacement of a public service's local containers (issue 20):
ECS's blue/green, canary and linear deployments, stage by stage, in ECS's
words (``lifecycleStage``):

- RECONCILE_SERVICE, PRE_SCALE_UP, SCALE_UP: the new replicas (green) start
  beside the old ones (blue) and pass the target group's health check and
  their container check, as in the rolling replacement;
- POST_SCALE_UP, TEST_TRAFFIC_SHIFT: green becomes the edge's test target
  group: a request carrying the test header with the secret's value reaches
  green, every other request blue (``route``, one graceful edge reload);
- POST_TEST_TRAFFIC_SHIFT: the gate (the e2e smoke group through the edge,
  with the test header) runs against green while blue serves everyone else.
  A failing gate: the test target group goes back to blue, green is stopped
  and removed, blue was never touched: ``DeployFailed`` naming the failing
  checks, a non-zero exit;
- PRODUCTION_TRAFFIC_SHIFT: production moves to green: at once (blue_green),
  the canary share then the rest (canary), or step by step (linear), each
  step waited for its bake (weights in the production target group, as the
  ALB's weighted forward between two target groups);
- POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME: ``deployment.bake_minutes`` with
  blue still running (a failure before its end gives production back to it);
- CLEAN_UP: blue drains (at most the deregistration delay) and stops.

Each stage is reported as it begins, and written to
``.parity/deployments/<service>.json`` (stage, split, replicas) for
`inv status`; the file goes when the replacement ends, however it ends.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from parity.app.local.replicas import PhaseClock, Replaced, drain, start_new, wait_new
from parity.errors import DeployFailed, ParityError
from parity.render.edge import split_weights

STAGES = (
    "RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
)  # fmt: skip  # botocore's ServiceDeploymentLifecycleStage, in order
STATE_DIR = Path(".parity") / "deployments"

Report = Callable[[str], None]
# The gate: runs the checks against the new replicas (through the edge, with the test header)
# and returns the names of the checks that failed ([]: passed).
Gate = Callable[[], list[str]]


class Router(Protocol):
    """What a gated replacement needs from the edge, beyond the rolling one's Fleet."""

    def route(self, service: str, production: list[str], test: list[str], weights: dict[str, int]) -> None: ...


@dataclass(frozen=True)
class Step:
    green_percent: float  # production traffic on the new replicas after this step
    bake_s: float  # how long it holds before the next step


def steps(strategy: str, canary_percent: float = 5.0, canary_bake_minutes: float = 10,
          step_percent: float = 10.0, step_bake_minutes: float = 6) -> list[Step]:  # fmt: skip
    """The production traffic shift of a strategy, as ECS runs it: blue_green
    all at once; canary its share, baked, then the rest; linear by equal
    steps, each baked but the last."""
    if strategy == "canary" and canary_percent < 100:
        return [Step(canary_percent, canary_bake_minutes * 60), Step(100.0, 0)]
    if strategy == "linear" and step_percent < 100:
        out, share = [], step_percent
        while share < 100:
            out.append(Step(round(share, 1), step_bake_minutes * 60))
            share += step_percent
        return [*out, Step(100.0, 0)]
    return [Step(100.0, 0)]


def split_line(green_percent: float | None, test_green: bool) -> str:
    """``production: blue 95% / green 5%; test: green`` (contract item 4)."""
    g = green_percent or 0.0
    prod = f"blue {_pct(100 - g)} / green {_pct(g)}"
    return f"production: {prod}; test: {'green' if test_green else 'blue'}"


def _pct(value: float) -> str:
    return f"{value:g}%"


class StateFile:
    """``.parity/deployments/<service>.json``: the replacement in progress."""

    def __init__(self, root: Path, service: str) -> None:
        self.path = root / STATE_DIR / f"{service}.json"

    def write(self, body: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**body, "pid": os.getpid()}, indent=2) + "\n")
        tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def in_progress(root: Path) -> dict[str, dict]:
    """Service -> its gated replacement in progress (what `inv status` shows).
    A file whose process is gone (an `inv up` killed mid-way) is not one:
    the next `inv up` puts both target groups back on the running replicas."""
    folder = root / STATE_DIR
    out = {}
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            body = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if _alive(body.get("pid")):
            out[f.stem] = body
    return out


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replace_gated(settings, fleet, gate: Gate, report: Report = print, clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep, since: float | None = None,
                  before_traffic: Callable[[], None] | None = None, state: StateFile | None = None):  # fmt: skip
    """Replace every container of a gated service: the new replicas get the
    test traffic, then the gate runs, then production shifts; the old ones
    stop last. See the module docstring."""

    name = settings.service
    phases = PhaseClock(clock, since)
    start, timings, done = phases.start, phases.timings, phases.done
    wall = time.time

    before = fleet.replicas(name)
    old = [c.name for c in before]
    blue = sorted(fleet.addresses(old).values()) if old else []
    new: list[str] = []
    green: list[str] = []
    green_percent: float | None = None
    test_green = False
    stage_at = {"started": wall()}

    def stage(which: str, detail: str = "") -> None:
        stage_at["stage"] = wall()
        if state:
            state.write({
                "service": name, "strategy": settings.strategy, "stage": which, "stage_started": stage_at["stage"],
                "started": stage_at["started"], "split": split_line(green_percent, test_green),
                "production_green_percent": green_percent or 0.0, "test": "green" if test_green else "blue",
                "blue": old, "green": new,
            })  # fmt: skip
        report(f"{name}: {which}" + (f" ({detail})" if detail else "") + f"; {split_line(green_percent, test_green)}")

    report(f"{name}: starting {settings.desired} new replica(s) beside {len(old)} old ({settings.strategy}, gated)")
    try:
        stage("RECONCILE_SERVICE", settings.strategy)
        stage("PRE_SCALE_UP")
        stage("SCALE_UP")
        start_new(settings, fleet, before, new, phases)
        deadline = clock() + settings.start_bound
        members = fleet.addresses(new)
        green = sorted(members.values())

        def container_check(c: str, within: float) -> bool:
            return fleet.healthy(c, settings.health_command, settings.health_timeout, within, settings.port)

        if settings.health_path:
            path = str(settings.health_path)

            def target_check(c: str, within: float) -> bool:
                return fleet.target_healthy(members[c], settings.port, path, settings.health_timeout, within)

            wait_new(settings, fleet, new, target_check, deadline, clock, sleep)
        wait_new(settings, fleet, new, container_check, deadline, clock, sleep)  # healthy for ECS too
        done("healthy")
        if before_traffic:
            before_traffic()
        stage("POST_SCALE_UP")
        stage("TEST_TRAFFIC_SHIFT")
        test_green = True
        fleet.route(name, blue, green, {})
        stage("POST_TEST_TRAFFIC_SHIFT", "the gate runs against the new replicas")
        t = clock()
        failed = gate()
        timings["gate"] = clock() - t
        if failed:
            raise GateFailed(failed)
        for step in steps(settings.strategy, *settings.shift):
            green_percent = step.green_percent
            weights = split_weights(blue, green, step.green_percent)
            production = green if step.green_percent >= 100 else sorted({*blue, *green})
            fleet.route(name, production, green, weights)
            stage("PRODUCTION_TRAFFIC_SHIFT", f"{_pct(step.green_percent)} of production on the new replicas"
                  + (f", baking {step.bake_s:g} s" if step.bake_s else ""))  # fmt: skip
            if step.bake_s:
                sleep(step.bake_s)
        done("registered")  # for a gated service: the test traffic shift, the gate and the production shift
        report(f"{name}: the edge routes to the new replicas; the old ones stay until CLEAN_UP")
        stage("POST_PRODUCTION_TRAFFIC_SHIFT")
        if settings.bake_s:
            stage("BAKE_TIME", f"{settings.bake_s:g} s with the old replicas kept")
            sleep(settings.bake_s)
        stage("CLEAN_UP", "the old replicas drain, then stop")
    except ParityError as exc:
        if test_green:  # production and test traffic back to the old replicas (never stopped)
            fleet.route(name, blue, blue, {})
        fleet.retire(new, grace=settings.grace)
        if state:
            state.remove()
        if isinstance(exc, GateFailed):
            raise DeployFailed(
                f"{name}: the gate failed ({', '.join(exc.checks)}); the new replicas got test traffic only and are "
                "removed, the old replicas keep serving",
                hint="`inv e2e --marker smoke` shows the checks; reports/e2e/ has their output",
            ) from None
        raise DeployFailed(
            f"{name}: {exc.message}; rolled back, the old replicas keep serving", hint=exc.hint
        ) from None
    try:
        drain(settings, fleet, old, clock, sleep)
        timings["drained"] = clock() - start
        fleet.retire(old, grace=settings.grace)
    finally:
        if state:
            state.remove()
    timings["total"] = clock() - start
    report(f"{name}: replaced {len(old)} replica(s) {settings.strategy} in {timings['total']:.1f} s "
           f"(the gate {timings['gate']:.1f} s)")  # fmt: skip
    return Replaced(service=name, old=old, new=new, timings=timings)


class GateFailed(ParityError):
    def __init__(self, checks: list[str]) -> None:
        super().__init__(f"the gate failed: {', '.join(checks)}")
        self.checks = checks


GATE_MARKER = "smoke"  # `inv up`'s gate: the checks promote runs (contract item 3)
WATCH_GATE_MARKER = "smoke and not long"  # the edit loop's: without the 35 s chat stream (README)


def e2e_gate(root: Path, stack, store, marker: str = GATE_MARKER) -> Gate:
    """The gate of a local gated replacement: the e2e checks ``marker``
    selects, through the local edge, every request with the test header
    (``PARITY_E2E_HEADERS`` in the suite's environment only). Returns the
    failing checks' names."""

    def run() -> list[str]:
        from parity.app.checks.e2e_run import failed_checks, run_e2e
        from parity.app.local import secrets

        headers = secrets.test_header(stack, store)
        if run_e2e(root, None, marker=marker, extra_env={"PARITY_E2E_HEADERS": json.dumps(headers)}):
            return []
        return failed_checks(root) or [f"the e2e run ({marker}) failed before any check"]

    return run
