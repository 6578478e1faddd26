"""Rolling replacement of a service's local containers, as ECS does it with
minimum healthy 100 % and maximum 200 %:

1. start the new replicas beside the old ones (the service scaled to 2x);
2. wait until each new one passes the spec's health check (probed every
   0.25 s while it starts, as Engine 25's ``start_interval`` would; the
   steady interval stays the task definition's);
3. public services: register the new ones in the edge's target group and
   deregister the old ones in one graceful edge reload, then check that the
   edge answers with the new members (``/__edge/targets/<service>``);
4. let the old ones drain: until they hold no connection, at most the
   spec's ``deregistration_delay`` (the ALB finishes early the same way);
5. stop them gracefully and remove them.

A new replica that exits, turns unhealthy or never passes its check within
the start period plus its retries is removed and the old ones keep serving
(the deployment circuit breaker): ``DeployFailed``, a non-zero exit.

The sequence runs against the small ``Fleet`` interface, so it is tested
with fakes; ``DockerFleet`` is the real thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol


from parity.adapters.docker import Compose, ContainerState, Docker
from parity.errors import DeployFailed, NotReady, ParityError
from parity.render.compose import PUBLIC_NETWORK
from parity.render.edge import TARGETS_DIR, TARGETS_PATH, admin_url, render_registered, render_targets
from parity.spec import Stack

Report = Callable[[str], None]
STOP_GRACE = 30  # ECS's default stopTimeout
PROBE_INTERVAL = 0.25  # seconds between a new replica's probes while it starts


class Fleet(Protocol):
    """What the replacement needs from the engine and the edge."""

    def replicas(self, service: str) -> list[ContainerState]: ...

    def scale(self, service: str, count: int) -> list[str]: ...  # the replicas it started

    def healthy(self, container: str, command: str, timeout: float) -> bool: ...

    def address(self, container: str) -> str: ...

    def register(self, service: str, addresses: list[str]) -> None: ...

    def connections(self, container: str) -> int: ...

    def retire(self, containers: list[str], grace: int) -> None: ...

    def logs(self, container: str) -> list[str]: ...


@dataclass(frozen=True)
class Settings:
    """A service's deployment settings, from the spec."""

    service: str
    desired: int
    health_command: str
    health_timeout: float
    start_bound: float  # start period + interval x retries: how long a new replica may take
    public: bool
    deregistration_delay: float
    grace: int = STOP_GRACE

    @classmethod
    def of(cls, stack: Stack, name: str) -> Settings:
        svc = stack.services[name]
        h = svc.health
        return cls(
            service=name,
            desired=svc.desired_count,
            health_command=h.command,
            health_timeout=h.timeout,
            start_bound=h.start_period + h.interval * h.retries,
            public=name in stack.public_services(),
            deregistration_delay=svc.deregistration_delay,
        )


@dataclass
class Replaced:
    service: str
    old: list[str]
    new: list[str]
    timings: dict[str, float] = field(default_factory=dict)


def replace(
    settings: Settings,
    fleet: Fleet,
    report: Report = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Replaced:
    """Replace every container of one service, without dropping a request."""
    name = settings.service
    start = clock()
    before = fleet.replicas(name)
    old = [c.name for c in before]
    report(f"{name}: starting {settings.desired} new replica(s) beside {len(old)} old")
    new: list[str] = []
    timings: dict[str, float] = {}
    try:
        try:
            new = fleet.scale(name, len(before) + settings.desired)
        except ParityError:  # whatever was created is rolled back with the rest
            new = [c.name for c in fleet.replicas(name) if c.name not in old]
            raise
        _wait_new(settings, fleet, new, clock, sleep)
        timings["healthy"] = clock() - start
        if settings.public:
            fleet.register(name, sorted(fleet.address(c) for c in new))
            report(f"{name}: the edge routes to the new replicas; draining the old ones")
    except ParityError as exc:
        culprit = exc.services[0] if isinstance(exc, NotReady) and exc.services else None
        lines = fleet.logs(culprit) if culprit else []
        for line in lines:
            report(f"  {line}")
        fleet.retire(new, grace=settings.grace)
        hint = exc.hint
        if culprit:
            hint = (f"the lines above are {culprit}'s last log lines" if lines else f"{culprit} logged nothing before it stopped")
            hint += "; fix it and try again"
        raise DeployFailed(f"{name}: {exc.message}; rolled back, the old replicas keep serving", hint=hint) from None
    timings["serving"] = clock() - start
    _drain(settings, fleet, old if settings.public else [], clock, sleep)
    timings["drained"] = clock() - start
    fleet.retire(old, grace=settings.grace)
    timings["total"] = clock() - start
    report(f"{name}: replaced {len(old)} replica(s) in {timings['total']:.1f} s")
    return Replaced(service=name, old=old, new=new, timings=timings)


def _wait_new(settings: Settings, fleet: Fleet, new: list[str], clock, sleep) -> None:
    if len(new) < settings.desired:
        raise NotReady(f"only {len(new)} of {settings.desired} new replicas were created")
    deadline = clock() + settings.start_bound
    pending = list(new)
    while True:
        # probed side by side first (each probe is a process start in the container), the states
        # looked at only for the ones that did not pass
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            probes = pool.map(lambda c: fleet.healthy(c, settings.health_command, settings.health_timeout), pending)
            passed = {c for c, ok in zip(pending, probes) if ok}
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
            raise NotReady(
                f"new replica {pending[0]} not healthy after {settings.start_bound:.0f} s"
            ).with_services(pending)
        sleep(PROBE_INTERVAL)


def _drain(settings: Settings, fleet: Fleet, old: list[str], clock, sleep) -> None:
    """Until the deregistered replicas hold no connection, at most the delay."""
    deadline = clock() + settings.deregistration_delay
    busy = list(old)
    while busy and clock() < deadline:
        busy = [c for c in busy if fleet.connections(c) > 0]
        if busy:
            sleep(1.0)


class DockerFleet:
    """The Fleet of the local stack: compose for scaling, docker for the
    containers, the edge container for the target groups."""

    def __init__(self, stack: Stack, compose: Compose, docker: Docker, env: dict[str, str]) -> None:
        self.stack = stack
        self.compose = compose
        self.docker = docker
        self.env = env
        self._edge = ""  # the edge container's name, once looked up

    def replicas(self, service: str) -> list[ContainerState]:
        return [c for c in self.compose.containers() if c.service == service]

    def scale(self, service: str, count: int) -> list[str]:
        """Create the new replicas, check that each carries the config hash a
        plain ``up`` would give it (one that does not would be recreated by
        the next ``inv up``, all at once: the outage this replacement avoids,
        so it is rolled back now instead), then start them."""
        before = {c.name for c in self.replicas(service)}
        self.compose.create_replicas(service, count, env=self.env)
        new = [c for c in self.replicas(service) if c.name not in before]
        want = self.compose.config_hashes(env=self.env).get(service)
        for c in new:
            if want and c.config_hash != want:
                raise NotReady(
                    f"new replica {c.name} has config hash {c.config_hash[:12]}, compose expects {want[:12]}: "
                    "the next `up` would recreate it"
                ).with_services([c.name])
        self.docker.start([c.name for c in new])
        return [c.name for c in new]

    def healthy(self, container: str, command: str, timeout: float) -> bool:
        return self.docker.succeeds(container, command, timeout)

    def address(self, container: str) -> str:
        return self.docker.address(container, f"{self.stack.project}_{PUBLIC_NETWORK}")

    def connections(self, container: str) -> int:
        service = next((c.service for c in self.compose.containers() if c.name == container), None)
        return self.docker.connections(container, self.stack.services[service].port) if service else 0

    def retire(self, containers: list[str], grace: int) -> None:
        self.docker.stop_and_remove(containers, grace)

    def logs(self, container: str) -> list[str]:
        return self.docker.logs(container, tail=15)

    def registered(self, service: str) -> str:
        return registered(self.stack, service, self.compose)

    def register(self, service: str, addresses: list[str]) -> None:
        """Make ``addresses`` the target group's members: write the files, test
        the config, reload gracefully, and wait until the edge answers with them."""
        edge = self._edge or next(c.name for c in self.compose.containers() if c.service == "edge" and c.state == "running")
        self._edge = edge
        port = self.stack.services[service].port
        # one exec: both files, then a config test and a graceful reload (the old workers finish their requests)
        self.compose.exec(
            edge,
            ["sh", "-c", (f'printf "%s" "$TARGETS" > {TARGETS_DIR}/{service}.conf && '
                          f'printf "%s" "$REGISTERED" > {TARGETS_DIR}/{service}.registered && nginx -t -q && nginx -s reload')],
            env={"TARGETS": render_targets(port, addresses), "REGISTERED": render_registered(addresses)},
        )
        want = ",".join(sorted(addresses))
        for _ in range(50):
            if self.registered(service) == want:
                return
            time.sleep(0.1)
        raise NotReady(f"the edge did not take the new members of {service} within 5 s", hint="`inv logs edge`")


def registered(stack: Stack, service: str, compose: Compose) -> str:
    """What the running edge answers for the service's target group: its
    members' addresses, ``default`` (every replica by DNS name), or '' when no
    edge answers. Asked on the edge's admin surface, inside its container
    (nothing on the viewer's port answers for the edge itself)."""
    edge = next((c.name for c in compose.containers() if c.service == "edge" and c.state == "running"), None)
    if edge is None:
        return ""
    try:
        return compose.exec(edge, ["wget", "-q", "-T", "2", "-O", "-", admin_url(f"{TARGETS_PATH}/{service}")]).strip()
    except ParityError:
        return ""


def target_members(containers: list[ContainerState], service: str) -> list[str]:
    """What the edge's target group for ``service`` should be: the addresses
    of its running replicas on the edge's network, sorted."""
    return sorted(
        c.addresses[PUBLIC_NETWORK]
        for c in containers
        if c.service == service and c.state == "running" and PUBLIC_NETWORK in c.addresses
    )


def register_all(stack: Stack, fleet: DockerFleet) -> list[str]:
    """Put the running replicas of every public service in its target group
    where the edge has anything else (a fresh edge, or containers replaced
    outside a rolling replacement). Returns the services registered."""
    done = []
    for name in stack.public_services():
        addresses = target_members(fleet.replicas(name), name)
        if addresses and fleet.registered(name) != ",".join(addresses):
            fleet.register(name, addresses)
            done.append(name)
    return done
