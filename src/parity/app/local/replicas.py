"""What the rolling and the gated replacement share: their phases timed
(``PhaseClock``), new replicas created and started (``start_new``), waited for
side by side (``wait_new``), old ones drained (``drain``), and the record of
one replacement (``Replaced``, its phases)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from parity.errors import NotReady, ParityError

PROBE_WINDOW = 5.0  # seconds one readiness wait runs in the container before the states are looked at
PROBE_INTERVAL = 0.25  # seconds between two such waits (a wait ends early when the container exits)

PHASES = ("create", "start", "healthy", "registered")  # Replaced.timings, in order


@dataclass
class Replaced:
    service: str
    old: list[str]
    new: list[str]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (PHASES), then drained and total


class PhaseClock:
    """A replacement's ``Replaced.timings`` as it goes: each phase the seconds
    since the previous one ended (the first since ``since``, else the start)."""

    def __init__(self, clock: Callable[[], float], since: float | None = None) -> None:
        self.clock = clock
        self.start = clock()
        self.mark = since if since is not None else self.start
        self.timings: dict[str, float] = {}

    def done(self, phase: str) -> None:
        now = self.clock()
        self.timings[phase] = now - self.mark
        self.mark = now


def start_new(settings: Any, fleet: Any, before: list[Any], new: list[str], phases: PhaseClock) -> None:
    """Create ``settings.desired`` new replicas beside ``before`` and start
    them, into ``new``: when a step fails, ``new`` holds whatever was created,
    for the caller to retire with the rest."""
    old = {c.name for c in before}
    try:
        new[:] = fleet.create(settings.service, len(before) + settings.desired)
        phases.done("create")
        if len(new) < settings.desired:
            raise NotReady(f"only {len(new)} of {settings.desired} new replicas were created")
        fleet.start(new)
        phases.done("start")
    except ParityError:
        new[:] = [c.name for c in fleet.replicas(settings.service) if c.name not in old]
        raise


def wait_new(
    settings: Any, fleet: Any, new: list[str], check: Callable[[str, float], bool], deadline: float, clock, sleep
) -> None:
    """Until ``check(container, within)`` passed for every new replica; one that exits fails at once."""
    pending = list(new)
    while True:
        # waited for side by side, each for at most PROBE_WINDOW s; the states looked at only for
        # the ones that did not pass
        within = min(PROBE_WINDOW, max(PROBE_INTERVAL, deadline - clock()))
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            probes = pool.map(check, pending, [within] * len(pending))
            passed = {c for c, ok in zip(pending, probes, strict=True) if ok}
        pending = [c for c in pending if c not in passed]
        if not pending:
            return
        states = {c.name: c for c in fleet.replicas(settings.service)}
        for c in pending:
            state = states.get(c)
            # "restarting": it exited and Docker's restart policy brings it back (ECS: a stopped task)
            if state is None or state.state in ("exited", "dead", "restarting") or state.health == "unhealthy":
                what = "gone" if state is None else (state.health if state.state == "running" else state.state)
                raise NotReady(f"new replica {c} is {what}").with_services([c])
        if clock() >= deadline:
            raise NotReady(f"new replica {pending[0]} not healthy after {settings.start_bound:.0f} s").with_services(
                pending
            )
        sleep(PROBE_INTERVAL)


def drain(settings: Any, fleet: Any, old: list[str], clock, sleep) -> None:
    """Until the deregistered replicas hold no connection, at most the delay."""
    deadline = clock() + settings.deregistration_delay
    busy = list(old)
    while busy and clock() < deadline:
        busy = [c for c in busy if fleet.connections(c) > 0]
        if busy:
            sleep(1.0)
