"""`inv up --watch`: keep the running stack in step with the sources.

A change in a service's build context rebuilds its image with the same
Dockerfile and target as production (so the running layout is the one that
ships) and rolls it out with the rolling replacement, so the stack keeps
serving while it changes. Compose's own ``develop.watch`` would ``sync`` into
the container (website-agent's server is a bundle built in the image, so a
synced source file changes nothing) or ``rebuild`` and recreate every replica
at once (the 502s this replaces). A service with a web client (``static_dir``)
also gets the client synced to the bucket before its new replicas take
traffic, and the edge's cache emptied, as promote invalidates CloudFront.
A change in the spec (stack.yaml, the local overlay, the secrets seed) is
applied as `inv up` applies it: re-rendered, and whatever it changes rolled
replica by replica.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from parity.adapters.aws import SecretStore
from parity.adapters.docker import Compose, Docker
from parity.app import local_stack, secrets
from parity.app.local_stack import compose_for, compose_settings, localstack_target, outdated, sync_static
from parity.app.replace import DockerFleet, Settings, replace
from parity.app.warm import fingerprint
from parity.app.workspace import Workspace
from parity.errors import ParityError
from parity.spec import Stack, load_stack
from parity.spec.load import OVERLAY_DIR, SPEC_FILE

Report = Callable[[str], None]
EDGE_CACHE = "/tmp/edge-cache"


def changed(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """Services whose fingerprint differs."""
    return [name for name in after if before.get(name) != after[name]]


def apply(ws: Workspace, stack: Stack, services: list[str], report: Report) -> list[str]:
    """Rebuild ``services`` and roll out the ones whose image changed."""
    compose = compose_for(ws, stack)
    docker = Docker()
    compose.build(services)
    stale = [s for s in outdated(stack, compose, docker) if s in services]
    if not stale:
        report(f"{', '.join(services)}: the image did not change")
        return []
    target = localstack_target(stack)
    env = {**compose_settings(stack, ws), **secrets.resolve(stack, SecretStore(target), list(stack.services))}
    if any(stack.services[s].static_dir for s in stale):
        report(f"synced {sync_static(stack, docker, target)} static files to s3://{stack.edge.bucket}")
    fleet = DockerFleet(stack, compose, docker, env)
    for name in stale:
        replace(Settings.of(stack, name), fleet, report)
    if any(stack.services[s].static_dir for s in stale):
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
    interval: float = 0.3,
    stop: threading.Event | None = None,
) -> None:
    """Poll the build contexts and the spec, and apply every change until
    ``stop`` is set (or SIGINT/SIGTERM). A changed spec is applied as `inv up`
    applies it (re-rendered; what it changes is rolled replica by replica)."""
    stack = load_stack(ws.root, "local")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())

    def snapshot(stack: Stack) -> tuple[dict[str, dict], dict[str, tuple[int, int] | None]]:
        contexts = {name: fingerprint(ws.root / svc.build.context) for name, svc in stack.services.items()}
        return contexts, _marks(spec_files(ws, stack))

    seen = snapshot(stack)
    watched = [str((ws.root / svc.build.context).relative_to(ws.root)) for svc in stack.services.values()]
    watched += [str(p.relative_to(ws.root)) for p in spec_files(ws, stack)]
    report(f"watching {', '.join(watched)} (Ctrl-C to stop)")
    while not stop.wait(interval):
        if snapshot(stack) == seen:
            continue
        time.sleep(0.1)  # an editor's save is often two writes
        now = snapshot(stack)
        spec_changed, todo = now[1] != seen[1], changed(seen[0], now[0])
        seen = now
        t = time.monotonic()
        try:
            if spec_changed:
                report("changed: the spec; applying it as `inv up` does")
                local_stack.up(ws, report=report)
                stack = load_stack(ws.root, "local")
                seen = snapshot(stack)  # a build context may have moved
                report(f"the stack is in step with the spec in {time.monotonic() - t:.1f} s")
                continue
            if not todo:
                continue
            report(f"changed: {', '.join(todo)}")
            done = apply(ws, stack, todo, report)
        except ParityError as exc:  # a broken edit must not end the watch: say why, wait for the next
            report(f"not applied: {exc}")
            for line in exc.details:
                report(f"  {line}")
            continue
        if done:
            report(f"{', '.join(done)} updated in {time.monotonic() - t:.1f} s")
