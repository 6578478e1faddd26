"""The daily loop's figures for `inv bench`: warm `inv up` against plain
compose, a rolling replacement under load, and edit-to-served in watch mode.

Each function returns ``Figure`` objects (see ``app.bench``). Edits made to
measure are one line, made in the worktree and always undone. Every request
goes to the local edge on loopback, bounded in count and time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from parity.app.benchmarks.bench import Figure
from parity.app.checks.e2e_client import allow_listed_client
from parity.app.local.local_stack import compose_for, up
from parity.app.local.watch import PHASES, parse_served
from parity.app.workspace import Workspace
from parity.spec import load_stack

MAX_REQUESTS = 20_000
EDIT_TARGET = "<= 3 s"  # issue 21: a saved edit served through the edge, either service, median of 3 or more


# -- load through the edge ---------------------------------------------------


@dataclass
class Load:
    """Steady GETs through the edge from a few threads until stopped."""

    base: str
    paths: tuple[str, ...] = ("/", "/healthz")
    threads: int = 2
    max_seconds: float = 300
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    retried: int = 0  # sent again once: its keep-alive connection was closed before any answer
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, i: int) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(base_url=self.base, timeout=30) as client:
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline and self.ok + len(self.failed) < MAX_REQUESTS:
                path = self.paths[(n + i) % len(self.paths)]
                n += 1
                try:
                    status = self._get(client, path)
                    outcome = None if status < 500 else f"{path}: HTTP {status}"
                except httpx.HTTPError as exc:
                    outcome = f"{path}: {type(exc).__name__}"
                with self._lock:
                    if outcome:
                        self.failed.append(outcome)
                    else:
                        self.ok += 1
                time.sleep(0.02)  # ~40 requests/s per thread: steady, not a stress test

    def _get(self, client: httpx.Client, path: str) -> int:
        try:
            return client.get(path).status_code
        except httpx.RemoteProtocolError as exc:
            if "without sending a response" not in str(exc):
                raise
            # Sent on an idle keep-alive connection that the edge closed as it reloaded (a graceful
            # nginx reload closes idle client connections; an ALB changing its targets does not):
            # sent again once, as browsers do with a request no byte of which was answered.
            with self._lock:
                self.retried += 1
            return client.get(path).status_code

    def __enter__(self) -> Load:
        self._workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)]
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for w in self._workers:
            w.join(timeout=40)


@dataclass
class Stream:
    """One SSE stream through the edge, read to its end in a thread; ``cut``
    unless it ended with its ``done`` event."""

    base: str
    seconds: int
    events: list[str] = field(default_factory=list)
    error: str = ""
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=httpx.Timeout(30, read=self.seconds + 30)) as client:
                with client.stream("GET", f"/api/stream?seconds={self.seconds}") as r:
                    for line in r.iter_lines():
                        if line.startswith("event: "):
                            self.events.append(line[7:])
        except httpx.HTTPError as exc:
            self.error = type(exc).__name__

    def start(self) -> Stream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self) -> None:
        if self._thread:
            self._thread.join(timeout=self.seconds + 60)

    @property
    def cut(self) -> bool:
        return not self.events or self.events[-1] != "done"


# -- one-line edits, always undone -------------------------------------------

# (service, file in its build context, text to find, text with the marker) -- a one-line change in
# what the service answers, seen through the edge at PROBE[service].
EDITS = {
    "website-agent": (
        "src/app.ts",
        "res.status(200).json({ status: 'ok', ",
        "res.status(200).json({ status: 'ok', bench: '{m}', ",
    ),
    "crawler": ("crawler_app/app.py", '"browser": browser,', '"browser": browser, "bench": "{m}",'),
}
PROBE = {"website-agent": "/healthz", "crawler": "/api/crawler/health"}


@contextmanager
def edited(ws: Workspace, service: str, marker: str) -> Iterator[Path]:
    """The service's source with a one-line change carrying ``marker``; undone on exit."""
    stack = load_stack(ws.root, "local")
    rel, find, repl = EDITS[service]
    path = ws.root / stack.services[service].build.context / rel
    original = path.read_text()
    if find not in original:
        raise RuntimeError(f"cannot make the bench's edit: {find!r} is not in {path}")
    path.write_text(original.replace(find, repl.replace("{m}", marker), 1))
    try:
        yield path
    finally:
        path.write_text(original)


# -- the figures ---------------------------------------------------------------


def _wall(argv: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - t


def up_warm_vs_compose(ws: Workspace, runs: int = 3) -> list[Figure]:
    """Warm `inv up` (a fresh process, as a user runs it) against
    `docker compose up -d --no-recreate --no-build --wait` on the same files
    (the medians of ``runs``)."""
    stack = load_stack(ws.root, "local")
    compose_cmd = ["docker", "compose", "-p", stack.project]
    for f in compose_for(ws, stack).files:
        compose_cmd += ["-f", str(f)]
    compose_cmd += ["up", "-d", "--no-recreate", "--no-build", "--wait"]
    _wall([sys.executable, "-m", "invoke", "up"], ws.root)  # reach the warm state first
    inv = sorted(_wall([sys.executable, "-m", "invoke", "up"], ws.root) for _ in range(runs))[runs // 2]
    plain = sorted(_wall(compose_cmd, ws.root) for _ in range(runs))[runs // 2]
    return [
        Figure("up_warm_inv_s", round(inv, 2), "s"),
        Figure("up_warm_compose_s", round(plain, 2), "s", "docker compose up -d --no-recreate --no-build --wait"),
        Figure("up_warm_vs_compose", round(inv / plain, 2), "x", "<= 1.2x"),
    ]


@dataclass
class Rollout:
    requests: int
    failed: list[str]
    retried: int
    streams: int  # opened while the replacement ran
    streams_cut: int  # of them (1 when none was opened: nothing proves none would be)
    open_at_switch: bool
    took: float


_ROLLOUTS: dict[Path, Rollout] = {}


STREAM_EVERY = 10.0  # s between two SSE streams opened while a replacement runs


def rollout_under_load(
    ws: Workspace,
    service: str = "website-agent",
    stream_seconds: int = 20,
    report: Callable[[str], None] = lambda _m: None,
) -> Rollout:
    """A one-line change in ``service``, then `inv up`, under steady load
    through the edge. From the replacement's start until it ends, an SSE
    stream of ``stream_seconds`` is opened every STREAM_EVERY s, so some are
    open across every switch (a gated replacement's test and production
    shifts come a gate apart) and must survive it and the draining."""
    from parity.app.local.images import build

    stack = load_stack(ws.root, "local")
    base = f"http://127.0.0.1:{stack.edge.port}"
    up(ws, report=lambda _m: None)  # start from a settled stack
    marker = uuid.uuid4().hex[:8]
    streams: list[Stream] = []
    started, ended = threading.Event(), threading.Event()
    open_at_switch = False

    def opener() -> None:
        started.wait()
        while not ended.is_set():
            streams.append(Stream(base, stream_seconds).start())
            ended.wait(STREAM_EVERY)

    def watched(message: str) -> None:
        nonlocal open_at_switch
        report(message)
        if message.startswith(f"{service}: starting"):
            started.set()
        if message.startswith(f"{service}: the edge routes to the new replicas"):
            open_at_switch = any(s._thread is not None and s._thread.is_alive() for s in streams)

    streamer = threading.Thread(target=opener, daemon=True)
    streamer.start()
    try:
        with Load(base) as load:
            with edited(ws, service, marker):
                build(ws, service, report=lambda _m: None)  # so the replacement starts at once
                t = time.perf_counter()
                up(ws, report=watched)
                took = time.perf_counter() - t
            ended.set()
            started.set()
            streamer.join()
            for stream in streams:
                stream.join()
            time.sleep(1)
    finally:
        ended.set()
        started.set()
        up(ws, report=report)  # back to the committed source (a second replacement, not measured)
    for failure, count in Counter(load.failed).most_common(5):
        report(f"failed: {count} x {failure}")
    cut = [s for s in streams if s.cut]
    return Rollout(
        requests=load.ok + len(load.failed),
        failed=list(load.failed),
        retried=load.retried,
        streams=len(streams),
        streams_cut=len(cut) if streams else 1,
        open_at_switch=open_at_switch,
        took=took,
    )


def _rollout(ws: Workspace) -> Rollout:
    if ws.root not in _ROLLOUTS:
        _ROLLOUTS[ws.root] = rollout_under_load(ws)
    return _ROLLOUTS[ws.root]


def rollout_failed_requests(ws: Workspace) -> list[Figure]:
    r = _rollout(ws)
    return [
        Figure(
            "rollout_requests",
            r.requests,
            "",
            note=f"inv up took {r.took:.1f} s; {r.retried} sent again on a closed keep-alive",
        ),
        Figure("rollout_failed_requests", len(r.failed), "", "0"),
    ]


def rollout_streams_cut(ws: Workspace) -> Figure:
    r = _rollout(ws)
    note = f"{r.streams} streams of 20 s opened every {STREAM_EVERY:g} s while it ran" + (
        "" if r.open_at_switch else "; none was open at the production switch"
    )
    return Figure("rollout_streams_cut", r.streams_cut, "", "0", note=note)


EDIT_RUNS = 3  # edits per service; the figure is their median
POLL_EVERY = 0.05  # seconds between two looks through the edge while an edit is awaited
FIRST_ANSWER = "first answer"  # the last phase: the new replicas registered -> the edit seen through the edge


@dataclass
class EditRun:
    """One edit: seconds from its save to its first answer through the edge,
    and the watcher's phases (``watch.PHASES``) plus the first answer."""

    served_s: float | None
    phases: dict[str, float] = field(default_factory=dict)


def edit_figure(service: str, runs: list[EditRun], bound: float) -> Figure:
    """The median of the runs, with min, max, every run and the median of each phase."""
    served = sorted(r.served_s for r in runs if r.served_s is not None)
    if len(served) < len(runs) or not served:
        missing = len(runs) - len(served)
        return Figure("edit_to_served_s", None, "s", EDIT_TARGET,
                      note=f"{service}: {missing} of {len(runs)} edits not served within {bound:.0f} s")  # fmt: skip
    names = [*PHASES, FIRST_ANSWER]
    phases = {n: round(statistics.median(r.phases.get(n, 0.0) for r in runs), 2) for n in names}
    median = round(statistics.median(served), 2)
    breakdown = ", ".join(f"{n} {phases[n]:.2f}" for n in names)
    return Figure(
        "edit_to_served_s", median, "s", EDIT_TARGET,
        note=f"{service}: median of {len(runs)}, {served[0]:.2f}-{served[-1]:.2f} s; {breakdown}",
        extra={"service": service, "min": round(served[0], 2), "max": round(served[-1], 2), "phases": phases,
               "runs": [{"served_s": round(r.served_s or 0.0, 2), "phases": r.phases} for r in runs]},
    )  # fmt: skip


def edit_to_served_s(
    ws: Workspace, services: tuple[str, ...] = ("website-agent", "crawler"), runs: int = EDIT_RUNS, bound: float = 120
) -> list[Figure]:
    """Seconds from a one-line edit's save (its file's mtime) to its first
    answer through the edge, with `inv up --watch` running (started here as a
    user starts it): ``runs`` edits per service, each undone and the undo
    served before the next. The edge is asked every 0.05 s from the
    allow-listed clients' network (the crawler's answer is under /api/, whose
    rate rule would otherwise stop the polling). The watcher's phases come
    from its ``served ... after the save`` line; "first answer" is the rest."""
    stack = load_stack(ws.root, "local")
    watch = subprocess.Popen(
        [sys.executable, "-m", "invoke", "up", "--watch"],
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
    )
    lines: list[str] = []
    try:
        _await_line(watch, "watching", bound=600, into=lines)
        results: dict[str, list[EditRun]] = {s: [] for s in services}
        with (
            allow_listed_client(stack, compose_for(ws, stack)) as base,
            httpx.Client(base_url=base, timeout=10) as client,
        ):
            for _ in range(runs):
                for service in services:
                    results[service].append(_one_edit(ws, service, client, lines, bound))
    finally:
        watch.terminate()
        try:
            watch.wait(timeout=60)
        except subprocess.TimeoutExpired:
            watch.kill()
    return [edit_figure(service, results[service], bound) for service in services]


def _one_edit(ws: Workspace, service: str, client: httpx.Client, lines: list[str], bound: float) -> EditRun:
    marker = uuid.uuid4().hex[:8]
    since = len(lines)

    def seen() -> bool:
        return marker in client.get(PROBE[service]).text

    with edited(ws, service, marker) as path:
        saved = path.stat().st_mtime_ns / 1e9
        served = _poll(seen, bound, every=POLL_EVERY, clock=time.time)
        phases = _served_phases(lines, service, since, bound=bound if served else 0)
    # the undo is a change too: wait until it is served, and the watcher is done with it, before the next edit
    undo = len(lines)
    _poll(lambda: not seen(), bound, every=0.25)
    _served_phases(lines, service, undo, bound=bound)
    _wait_for(lambda: any(f"{service} updated in" in line for line in lines[undo:]), bound=bound)
    if served is None:
        return EditRun(None)
    total = served - saved
    # what the watcher did not account for: the edge's first answer with the edit (its own check of
    # the target group can end a moment after the first answer: never below 0)
    phases[FIRST_ANSWER] = round(max(0.0, total - sum(phases.values())), 2)
    return EditRun(round(total, 2), phases)


def _served_phases(lines: list[str], service: str, since: int, bound: float) -> dict[str, float]:
    """The phases of the watcher's next ``served`` line for ``service`` (waited for up to ``bound`` s)."""
    found: dict[str, float] = {}

    def parsed() -> bool:
        for line in lines[since:]:
            got = parse_served(line)
            if got and got[0] == service:
                found.update(got[1])
                return True
        return False

    _wait_for(parsed, bound=bound)
    return found


def _wait_for(check: Callable[[], bool], bound: float) -> bool:
    deadline = time.monotonic() + bound
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _poll(
    check: Callable[[], bool], bound: float, every: float = 0.25, clock: Callable[[], float] = time.perf_counter
) -> float | None:
    """When ``check`` first passed (on ``clock``), asked every ``every`` s for at most ``bound`` s."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            if check():
                return clock()
        except httpx.HTTPError:
            pass
        time.sleep(every)
    return None


def _await_line(proc: subprocess.Popen, text: str, bound: float, into: list[str] | None = None) -> None:
    """Until ``proc`` prints ``text``; its output then keeps being read (into ``into``)."""
    deadline = time.monotonic() + bound
    assert proc.stdout is not None
    out = into if into is not None else []
    for line in proc.stdout:
        out.append(line.rstrip("\n"))
        if text in line:
            threading.Thread(
                target=lambda: [out.append(line.rstrip("\n")) for line in proc.stdout], daemon=True
            ).start()
            return
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"`inv up --watch` did not print {text!r} (exit {proc.poll()})")
