"""Readiness: bounded waits with a hint when they give up. The clock and the
sleep are passed in, so the logic is tested without waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from parity.adapters.docker import ContainerState
from parity.errors import NotReady

Probe = Callable[[], list[ContainerState]]


def _verdict(state: ContainerState, checked: frozenset[str] = frozenset()) -> str:
    """'ready', 'waiting' or 'failed' for one container. ``checked`` names
    containers whose health check already passed when run directly (a rolling
    replacement's probe), while Docker's own first check is still to come."""
    if state.state in ("exited", "dead"):
        return "failed"
    if state.state != "running":
        return "waiting"
    if state.health in ("healthy", "none") or (state.health == "starting" and state.name in checked):
        return "ready"
    return "failed" if state.health == "unhealthy" else "waiting"


def wait_healthy(
    probe: Probe,
    services: Iterable[str],
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    interval: float = 1.0,
    checked: frozenset[str] = frozenset(),
) -> list[ContainerState]:
    """Wait until every container of ``services`` runs and passes its health
    check. A container that exits or turns unhealthy fails at once; otherwise
    give up after ``timeout`` seconds, naming what is not ready."""
    wanted = list(services)
    deadline = clock() + timeout
    while True:
        states = [s for s in probe() if s.service in wanted]
        present = {s.service for s in states}
        failed = [s for s in states if _verdict(s, checked) == "failed"]
        if failed:
            f = failed[0]
            raise NotReady(
                f"{f.service} is {f.health if f.state == 'running' else f.state} ({f.name})",
                hint=f"`inv logs --service {f.service}` shows why",
            ).with_services([s.service for s in failed])
        pending = sorted({s.service for s in states if _verdict(s, checked) != "ready"} | (set(wanted) - present))
        if not pending:
            return states
        if clock() >= deadline:
            raise NotReady(
                f"not healthy after {timeout:.0f} s: {', '.join(pending)}",
                hint="check that the service listens on its port and answers its health check",
            ).with_services(pending)
        sleep(interval)
