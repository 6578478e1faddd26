"""SSE capacity: how many concurrent streams the edge holds, and one web task.

The load generator (``sse_load.mjs``, one Node process, raw sockets) runs in a
throwaway container of the website-agent image:
- through the edge, from the ``allow-listed-clients`` network, whose addresses are on
  ``edge.allow_list`` (the WAF's IP-set allow rule), so the WAF's rate rules
  stay as they are for everyone else;
- straight at one website-agent container on the ``public`` network (what the
  ALB does), to find what one task holds at its Fargate CPU/memory limits.

A level is held when every stream is complete (all ticks, then ``done``) and
on time (first event within the limit, ``done`` within the stream's length
plus slack). Every run is bounded in streams and time.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from parity.adapters.docker import Compose, Docker
from parity.errors import ConfigError
from parity.render.compose import CLIENTS_NETWORK, PUBLIC_NETWORK, image_name
from parity.spec import Stack

SCRIPT = Path(__file__).with_name("sse_load.mjs")
FIRST_EVENT_LIMIT_MS = 2000
NOFILE = 20000  # the load generator's sockets; Docker's default limit on the build machines
OPEN_RATE = 500  # new streams per second while a level ramps up


@dataclass
class LoadRun:
    """One level: what the load generator saw, and memory sampled while held."""

    streams: int
    ok: int
    reasons: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None
    max_open: int
    wall_s: float
    memory_mib: float | None = None
    # per container (project prefix dropped; the load generator is "load"), in % of one core:
    # {"ramp": {name: [user, system]}, "held": {...}}: while the streams open, then while all are open
    cpu: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    load_average: float | None = None  # the host's 1-minute load average when the level ended

    @property
    def held(self) -> bool:
        """Every stream complete and on time (the edge's figure)."""
        return self.ok == self.streams and self.p99_ms is not None and self.p99_ms <= FIRST_EVENT_LIMIT_MS

    @property
    def within_p99(self) -> bool:
        """Every stream complete, and first-event p99 within the limit (the per-task
        capacity figure: a few late first events are what p99 allows)."""
        complete = set(self.reasons) <= {"first_event_late"}
        return complete and self.p99_ms is not None and self.p99_ms <= FIRST_EVENT_LIMIT_MS

    def as_dict(self) -> dict:
        return {
            "streams": self.streams, "held": self.held, "within_p99": self.within_p99, "ok": self.ok, "reasons": self.reasons,
            "first_event_p50_ms": self.p50_ms, "first_event_p99_ms": self.p99_ms,
            "max_open": self.max_open, "wall_s": self.wall_s, "memory_mib": self.memory_mib,
            "cpu_percent": self.cpu, "load_average": self.load_average,
        }  # fmt: skip


def parse_run(output: str) -> LoadRun:
    """The load generator's JSON line as a LoadRun."""
    data = json.loads(output.strip().splitlines()[-1])
    return LoadRun(
        streams=data["streams"], ok=data["ok"], reasons=data["reasons"],
        p50_ms=data["first_event_ms"]["p50"], p99_ms=data["first_event_ms"]["p99"],
        max_open=data["max_open"], wall_s=data["wall_s"],
    )  # fmt: skip


CpuSample = tuple[float, dict[str, tuple[float, float]]]  # (monotonic time, {container: (user s, system s)})


def cpu_percent(before: CpuSample, after: CpuSample, short: dict[str, str]) -> dict[str, list[float]]:
    """Per container, [user, system] CPU in % of one core between two samples; a container absent from
    the first sample (the load generator, started after it) counts from zero."""
    (t0, a), (t1, b) = before, after
    span = max(t1 - t0, 1e-6)
    out = {}
    for name, (user, system) in b.items():
        u0, s0 = a.get(name, (0.0, 0.0))
        out[short.get(name, name)] = [round((user - u0) * 100 / span, 1), round((system - s0) * 100 / span, 1)]
    return out


MAX_LEVEL = NOFILE - 1000  # the load generator's open-file limit, less what Node itself holds


def parse_levels(text: str) -> list[int]:
    """``--levels``: comma-separated stream counts, each from 1 to MAX_LEVEL."""
    try:
        levels = [int(x) for x in str(text).split(",")]
    except ValueError:
        raise ConfigError(
            f"--levels: {text!r} is not a comma-separated list of stream counts (e.g. 10000,10000)"
        ) from None
    if any(not 1 <= n <= MAX_LEVEL for n in levels):
        raise ConfigError(
            f"--levels: each level must be from 1 to {MAX_LEVEL} streams (the load generator's open files)"
        )
    return levels


def search_upward(held: Callable[[int], bool], start: int, cap: int, bisect: int = 1, step: int = 250) -> int:
    """The highest level ``held`` at: double from ``start`` until a level fails
    or ``cap`` passes, then ``bisect`` halvings between the last pass and the
    first failure (levels rounded to ``step``). 0 if even ``start`` fails."""
    best, failed = 0, None
    level = start
    while level <= cap:
        if not held(level):
            failed = level
            break
        best = level
        level *= 2
    for _ in range(bisect if failed else 0):
        mid = (best + failed) // 2 // step * step
        if mid <= best or mid >= failed:
            break
        if held(mid):
            best = mid
        else:
            failed = mid
    return best


@dataclass
class SseLoad:
    """Runs levels against the stack; every run is kept for the report."""

    stack: Stack
    compose: Compose
    docker: Docker = field(default_factory=Docker)
    runs: dict[str, list[LoadRun]] = field(default_factory=dict)
    report: Callable[[str], None] = print

    def _container(self, service: str, index: int = 0) -> str:
        names = sorted(c.name for c in self.compose.containers() if c.service == service and c.state == "running")
        if not names:
            raise RuntimeError(f"no running {service} container: run `inv up`")
        return names[index]

    def run(self, label: str, network: str, host: str, port: int, streams: int, seconds: int, watch: str) -> LoadRun:
        """One level: ``streams`` streams of ``seconds`` s; ``watch``'s memory sampled while they are held."""
        ramp_ms = max(500, streams * 1000 // OPEN_RATE)
        opts = {
            "host": host, "port": port, "streams": streams, "seconds": seconds, "rampMs": ramp_ms,
            "firstEventLimitMs": FIRST_EVENT_LIMIT_MS, "hostHeader": f"127.0.0.1:{self.stack.edge.port}",
        }  # fmt: skip
        out: dict[str, str | Exception] = {}
        load_name = f"{self.stack.project}-bench-{uuid.uuid4().hex[:8]}"

        def generate() -> None:
            try:
                out["stdout"] = self.docker.run_once(
                    image_name(self.stack, "website-agent"),
                    ["/bench/sse_load.mjs", json.dumps(opts)],
                    name=load_name,
                    network=network,
                    entrypoint="node",
                    mounts={SCRIPT: "/bench/sse_load.mjs"},
                    nofile=NOFILE,
                    timeout=seconds + ramp_ms / 1000 + 60,
                )
            except Exception as exc:  # noqa: BLE001 - re-raised below, in the caller's thread
                out["error"] = exc

        worker = threading.Thread(target=generate, daemon=True)
        names = [c.name for c in self.compose.containers() if c.state == "running"] + [load_name]
        cpu_at = [(time.monotonic(), self.docker.cpu_seconds(names[:-1]))]
        started = cpu_at[0][0]
        worker.start()
        peak = 0
        ramp_s = ramp_ms / 1000
        # memory sampled while every stream is open (after the ramp, before the first ones end);
        # CPU time at the start, at the ramp's end, and when the first streams end
        samples = sorted([(ramp_s + 2, "mem"), (seconds * 0.6, "mem"), (seconds * 0.8, "mem"),
                          (ramp_s, "cpu"), (max(seconds, ramp_s + 1), "cpu")])  # fmt: skip
        for at, what in samples:
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            if not worker.is_alive():
                break
            if what == "mem":
                peak = max(peak, self.docker.memory_used(watch))
            else:
                cpu_at.append((time.monotonic(), self.docker.cpu_seconds(names)))
        worker.join()
        if "error" in out:
            raise out["error"]  # type: ignore[misc]
        result = parse_run(str(out["stdout"]))
        result.memory_mib = round(peak / 2**20, 1) if peak else None
        prefix = f"{self.stack.project}-"
        short = {n: "load" if n == load_name else n.removeprefix(prefix) for n in names}
        result.cpu = {
            window: cpu_percent(a, b, short)
            for window, a, b in zip(("ramp", "held"), cpu_at, cpu_at[1:], strict=False)
        }  # fmt: skip
        result.load_average = round(os.getloadavg()[0], 2)
        self.runs.setdefault(label, []).append(result)
        verdict = "held" if result.held else f"NOT held {result.reasons or ''} p99 {result.p99_ms} ms"
        if not result.held and result.within_p99:
            verdict += " (within p99)"
        self.report(f"  {label}: {streams} streams x {seconds} s -> {verdict} (load average {result.load_average})")
        for window, usage in result.cpu.items():
            shown = ", ".join(f"{n} {u + s:.0f}% ({s:.0f}% system)" for n, (u, s) in usage.items() if u + s >= 1)
            self.report(f"    CPU {window} (% of one core): {shown}")
        return result

    def through_edge(self, streams: int, seconds: int = 30) -> LoadRun:
        network = f"{self.stack.project}_{CLIENTS_NETWORK}"
        return self.run("edge", network, "edge", 80, streams, seconds, self._container("edge"))

    def one_web_task(self, streams: int, seconds: int = 15) -> LoadRun:
        seconds = max(seconds, -(-streams // OPEN_RATE) + 10)  # every stream open at once, after the ramp
        web = self._container("website-agent")
        network = f"{self.stack.project}_{PUBLIC_NETWORK}"
        address = self.docker.address(web, network)
        port = self.stack.services["website-agent"].port
        return self.run("web_task", network, address, port, streams, seconds, web)

    def best(self, label: str, p99: bool = False) -> LoadRun | None:
        """The highest level held (``p99``: within p99)."""
        held = [r for r in self.runs.get(label, []) if (r.within_p99 if p99 else r.held)]
        return max(held, key=lambda r: r.streams) if held else None
