"""`inv up --watch`: keep the running stack in step with the sources.

A change in a service's build context rebuilds its image with the same
Dockerfile and target as production (so the running layout is the one that
ships) and rolls it out with the rolling replacement, so the stack keeps
serving while it changes. A gated service (blue/green, canary, linear) is
rolled too: the edit loop is timed in seconds and a gate takes tens of them;
`inv up` and promote gate what ships. ``--gate-edits`` gates each edit as
well (app/local/gated.py, the smoke checks but the long ones). Compose's own ``develop.watch`` would ``sync`` into
the container (website-agent's server is a bundle built in the image, so a
synced source file changes nothing) or ``rebuild`` and recreate every replica
at once (the 502s this replaces). A service with a web client (``static_dir``)
also gets the client synced to the bucket before its new replicas take
traffic, and the edge's cache emptied, as promote invalidates CloudFront.
A change in the spec (stack.yaml, the local overlay, the secrets seed) is
applied as `inv up` applies it: re-rendered, and whatever it changes rolled
replica by replica.

An edit is timed from its save (the newest mtime among the changed files) to
the new replicas taking traffic, phase by phase (``PHASES``): one line per
service, ``served N s after the save: detect .., build .., create .., start
.., healthy .., registered ..``, which `inv bench` reads for its breakdown.
What costs time is done once per watch (the spec, the Docker and LocalStack
clients, compose's config hash while the settings stay the same) or
meanwhile: the secrets are resolved while the image builds; the client is
copied out of the new image and synced (only the files the bucket does not
hold already) while the new replicas start, and waited for before they take
traffic.
"""

from __future__ import annotations

import dataclasses
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from parity.adapters.aws import Bucket, SecretStore
from parity.adapters.docker import Compose, Docker
from parity.app.local import local_stack, secrets
from parity.app.local.gated import WATCH_GATE_MARKER, Gate, StateFile, e2e_gate
from parity.app.local.local_stack import compose_for, compose_settings, localstack_target, outdated
from parity.app.local.replace import DockerFleet, Settings, replace
from parity.app.local.replicas import PHASES as REPLACE_PHASES
from parity.app.local.static import publish_clients
from parity.app.local.warm import digest, fingerprint
from parity.app.workspace import Workspace
from parity.errors import ParityError
from parity.render.compose import image_name
from parity.spec import Stack, load_stack
from parity.spec.load import OVERLAY_DIR, SPEC_FILE

Report = Callable[[str], None]
EDGE_CACHE = "/tmp/edge-cache"
POLL = 0.05  # seconds between two looks at the sources (a few dozen stat calls)
SETTLE = 0.05  # a change is applied once the sources stayed the same this long (an editor's save is often two writes)
SETTLE_MAX = 1.0  # ... or after this long, if they keep changing
PHASES = ("detect", "build", *REPLACE_PHASES)  # from the save to the new replicas taking traffic


@dataclass
class Session:
    """What stays the same from one edit to the next: the spec and the
    clients of Docker and LocalStack (a boto3 client costs a tenth of a second)."""

    ws: Workspace
    stack: Stack
    compose: Compose
    docker: Docker
    store: SecretStore
    bucket: Bucket
    gate_edits: bool = False  # a gated service's edits gated too (else rolled: the edit loop)
    _fleet: DockerFleet | None = None
    _fleet_env: str = ""  # a digest of the settings the fleet was made with

    @classmethod
    def open(cls, ws: Workspace, gate_edits: bool = False) -> Session:
        stack = load_stack(ws.root, "local")
        target = localstack_target(stack)
        store, bucket = SecretStore(target), Bucket(target, stack.edge.bucket)
        return cls(ws, stack, compose_for(ws, stack), Docker(), store, bucket, gate_edits)

    def fleet(self) -> DockerFleet:
        """The fleet with the settings compose hands the services now (the
        secrets resolved again: a LocalStack that restarted has new values);
        the same fleet, and config hash, while they stay the same."""
        env = {
            **compose_settings(self.stack, self.ws),
            **secrets.resolve(self.stack, self.store, list(self.stack.services)),
        }
        key = digest(sorted(env.items()))
        if self._fleet is None or key != self._fleet_env:
            self._fleet, self._fleet_env = DockerFleet(self.stack, self.compose, self.docker, env), key
            self._fleet.config_hash(next(iter(self.stack.services)))  # compose's hashes, computed now
        return self._fleet

    def sync_client(self, service: str) -> tuple[int, float]:
        """The service's client, copied out of its image, into the bucket: the
        files it does not hold already. Returns how many were uploaded, and
        the seconds it took."""
        t = time.monotonic()
        self.bucket.ensure()
        image = image_name(self.stack, service)
        count = publish_clients(self.stack, self.docker, self.bucket, {service: image}, skip_unchanged=True)
        return count, time.monotonic() - t


def changed(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """Services whose fingerprint differs."""
    return [name for name in after if before.get(name) != after[name]]


def saved_at(before: dict[str, dict], after: dict[str, dict], now: float) -> float:
    """When the edit was saved (wall clock): the newest mtime among the files
    that changed, ``now`` when only removals did."""
    newest = [
        mark[0] / 1e9
        for name, files in after.items()
        for path, mark in files.items()
        if before.get(name, {}).get(path) != mark
    ]
    return max(newest, default=now)


def served_line(service: str, phases: dict[str, float]) -> str:
    """``<service>: served N s after the save: detect 0.05 s, build 0.80 s, ...``"""
    shown = [p for p in PHASES if p in phases]
    total = sum(phases[p] for p in shown)
    return f"{service}: served {total:.2f} s after the save: " + ", ".join(f"{p} {phases[p]:.2f} s" for p in shown)


_SERVED = re.compile(r"(?P<service>[\w.-]+): served (?P<total>[0-9.]+) s after the save: (?P<phases>.*)$")


def parse_served(line: str) -> tuple[str, dict[str, float]] | None:
    """(service, phase -> seconds) from a ``served_line`` as printed (after
    `inv up --watch`'s bullet); None for any other line."""
    m = _SERVED.search(line.strip())
    if not m:
        return None
    phases = {}
    for part in m.group("phases").split(", "):
        name, value, _unit = part.split(" ")
        phases[name] = float(value)
    return m.group("service"), phases


def edit_settings(session: Session, name: str) -> tuple[Settings, Gate | None]:
    """How an edit of ``name`` is replaced: a gated service's edit is rolled
    (the gate is for what ships: `inv up`, `inv promote`), or with
    ``session.gate_edits`` gated by the smoke checks but the long ones."""
    settings = Settings.of(session.stack, name)
    if not settings.gated:
        return settings, None
    if session.gate_edits:
        return settings, e2e_gate(session.ws.root, session.stack, session.store, WATCH_GATE_MARKER)
    return dataclasses.replace(settings, strategy="rolling"), None


def apply(
    session: Session,
    services: list[str],
    report: Report,
    saved: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[str]:
    """Rebuild ``services`` and roll out the ones whose image changed.
    ``saved``: when the edit was saved (on ``clock``), the start of its "detect" phase."""
    stack, compose, docker = session.stack, session.compose, session.docker
    detected = clock()
    uploaded, took = 0, 0.0
    with ThreadPoolExecutor(max_workers=1 + len(services)) as pool:
        fleet = pool.submit(session.fleet)  # the secrets resolved while the image builds
        compose.build(services)
        stale = [s for s in outdated(stack, compose, docker) if s in services]
        if not stale:
            report(f"{', '.join(services)}: the image did not change")
            return []
        built = clock()
        # the new image's client goes to the bucket while its replicas start
        clients = [s for s in stale if stack.services[s].static_dir]
        syncs: dict[str, Future[tuple[int, float]]] = {s: pool.submit(session.sync_client, s) for s in clients}
        for name in stale:
            sync = syncs.get(name)
            settings, gate = edit_settings(session, name)
            done = replace(settings, fleet.result(), report, clock=clock, since=built,
                           before_traffic=sync.result if sync else None, gate=gate, state=StateFile(session.ws.root, name))  # fmt: skip
            if sync:
                uploaded, took = uploaded + sync.result()[0], took + sync.result()[1]
            report(
                served_line(
                    name,
                    {
                        "detect": detected - saved if saved is not None else 0.0,
                        "build": built - detected,
                        **done.timings,
                    },
                )
            )
            built = detected = clock()  # a second service's phases start where the first one's ended
            saved = None
    if clients:
        report(
            f"synced {uploaded} static files to s3://{stack.edge.bucket} in {took:.2f} s, while the replicas started "
            "(the others were there already)"
        )
    if uploaded:
        invalidate_edge_cache(compose)
        report("emptied the edge's cache (the CloudFront invalidation)")
    return stale


def invalidate_edge_cache(compose: Compose) -> None:
    edge = next(c.name for c in compose.containers() if c.service == "edge" and c.state == "running")
    compose.exec(edge, ["sh", "-c", f"rm -rf {EDGE_CACHE}/*"])


def spec_files(ws: Workspace, stack: Stack) -> list[Path]:
    """What the local stack is made of besides the build contexts."""
    return [ws.root / SPEC_FILE, ws.root / OVERLAY_DIR / "local.yaml", ws.root / stack.local.seed]


def _marks(paths: list[Path]) -> dict[str, tuple[int, int] | None]:
    out: dict[str, tuple[int, int] | None] = {}
    for path in paths:
        try:
            st = path.stat()
            out[str(path)] = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            out[str(path)] = None
    return out


def watch(
    ws: Workspace,
    report: Report = print,
    interval: float = POLL,
    stop: threading.Event | None = None,
    gate_edits: bool = False,
) -> None:
    """Poll the build contexts and the spec, and apply every change until
    ``stop`` is set (or SIGINT/SIGTERM). A changed spec is applied as `inv up`
    applies it (re-rendered; what it changes is rolled replica by replica).
    A gated service's edits are rolled unless ``gate_edits``: the edit loop
    is timed in seconds, a gate in tens of them."""
    session = Session.open(ws, gate_edits)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())

    def snapshot(stack: Stack) -> tuple[dict[str, dict], dict[str, tuple[int, int] | None]]:
        contexts = {name: fingerprint(ws.root / svc.build.context) for name, svc in stack.services.items()}
        return contexts, _marks(spec_files(ws, stack))

    def settled(stack: Stack, now: tuple) -> tuple:
        """The sources once they stayed the same for SETTLE seconds (at most SETTLE_MAX)."""
        deadline = time.monotonic() + SETTLE_MAX
        while time.monotonic() < deadline:
            time.sleep(SETTLE)
            again = snapshot(stack)
            if again == now:
                break
            now = again
        return now

    seen = snapshot(session.stack)
    watched = [str((ws.root / svc.build.context).relative_to(ws.root)) for svc in session.stack.services.values()]
    watched += [str(p.relative_to(ws.root)) for p in spec_files(ws, session.stack)]
    report(f"watching {', '.join(watched)} (Ctrl-C to stop)")
    for name, svc in session.stack.services.items():
        if Settings.of(session.stack, name).gated:
            report(
                f"{name} deploys {svc.deployment.strategy}: "
                + ("each edit is gated by the smoke checks but the long ones" if gate_edits else
                   "each edit is rolled out (`inv up` and promote gate it; --gate-edits gates edits too)")
            )  # fmt: skip
    while not stop.wait(interval):
        now = snapshot(session.stack)
        if now == seen:
            continue
        now = settled(session.stack, now)
        spec_changed, todo = now[1] != seen[1], changed(seen[0], now[0])
        saved = time.monotonic() - (time.time() - saved_at(seen[0], now[0], time.time()))
        seen = now
        t = time.monotonic()
        try:
            if spec_changed:
                report("changed: the spec; applying it as `inv up` does")
                local_stack.up(ws, report=report)
                session = Session.open(ws, gate_edits)
                seen = snapshot(session.stack)  # a build context may have moved
                report(f"the stack is in step with the spec in {time.monotonic() - t:.1f} s")
                continue
            if not todo:
                continue
            report(f"changed: {', '.join(todo)}")
            done = apply(session, todo, report, saved=saved)
        except ParityError as exc:  # a broken edit must not end the watch: say why, wait for the next
            report(f"not applied: {exc}")
            for line in exc.details:
                report(f"  {line}")
            continue
        if done:
            report(f"{', '.join(done)} updated in {time.monotonic() - t:.1f} s")
