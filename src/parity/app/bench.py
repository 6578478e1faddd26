"""`inv bench`: the figures the targets are judged by, measured on the running
stack and printed, never asserted by timed unit tests.

Every request goes to the local edge on loopback, bounded in count and time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from parity.adapters.docker import require_engine
from parity.app.images import image_report
from parity.app.local_stack import compose_for, up
from parity.app.workspace import Workspace
from parity.spec import load_stack


@dataclass
class Figure:
    name: str
    value: str
    target: str = ""


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def latency(client: httpx.Client, path: str, n: int) -> tuple[float, float]:
    """(p50, p95) in ms of ``n`` sequential GETs."""
    samples = sorted(_timed(lambda: client.get(path).raise_for_status()) * 1000 for _ in range(n))
    return statistics.median(samples), samples[max(0, int(n * 0.95) - 1)]


def first_event(client: httpx.Client) -> float:
    """Seconds from request to the first SSE event through the edge."""
    t = time.perf_counter()
    with client.stream("GET", "/api/stream?seconds=2") as r:
        for line in r.iter_lines():
            if line.startswith("event: tick"):
                return time.perf_counter() - t
    raise RuntimeError("the stream ended without a tick")


def bench(ws: Workspace, requests: int = 50) -> list[Figure]:
    stack = load_stack(ws.root, "local")
    require_engine()
    figures: list[Figure] = []
    warm = up(ws, report=lambda _m: None).timings["total"]
    figures.append(Figure("inv up (warm, nothing changed)", f"{warm:.1f} s", "idempotent, no restarts"))
    base = f"http://127.0.0.1:{stack.edge.port}"
    with httpx.Client(base_url=base, timeout=60) as client:
        p50, p95 = latency(client, "/healthz", requests)
        figures.append(Figure(f"GET /healthz via edge ({requests}x)", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"))
        asset = next(line.split('"')[0] for line in client.get("/").text.split('src="')[1:] if line.startswith("/assets/"))
        p50, p95 = latency(client, asset, requests)
        figures.append(Figure(f"GET {asset} via edge ({requests}x)", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", "edge cache"))
        figures.append(Figure("SSE first event via edge", f"{first_event(client) * 1000:.0f} ms", "< 2000 ms"))
        fixture = next(n for n, d in stack.local.dependencies.items() if d.kind == "static-site")
        took = _timed(lambda: client.post("/api/crawl", json={"url": f"http://{fixture}/"}).raise_for_status())
        figures.append(Figure("crawl of the fixture site (edge -> web -> crawler -> Chromium -> MongoDB)", f"{took:.2f} s"))
    for line in image_report(ws):
        name, _, rest = line.partition(" ")
        figures.append(Figure(f"image {name}", rest.strip()))
    for name, (used, limit) in sorted(compose_for(ws, stack).memory().items()):
        figures.append(Figure(f"memory {name}", f"{used / 2**20:.0f} MiB of {limit / 2**20:.0f} MiB"))
    return figures
