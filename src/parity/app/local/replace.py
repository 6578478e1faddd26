"""Rolling replacement of a service's local containers, as ECS does it with
minimum healthy 100 % and maximum 200 %:

1. create the new replicas beside the old ones (the service scaled to 2x),
   then start them;
2. wait until each new one is healthy. A public service's new replicas take
   traffic once the target group's health check passes, as behind an ALB:
   ``GET health.path`` from the edge (which stands for the ALB), every
   0.05 s. An internal service's, once the spec's container health check
   passes: run in the container as soon as it listens on its port (looked
   for every 0.05 s in the container's own socket table), then again until
   it passes, at the latest every second (the steady interval stays the task
   definition's);
3. public services: register the new ones in the edge's target group and
   deregister the old ones in one graceful edge reload, then check that the
   edge answers with the new members (``/__edge/targets/<service>``); then
   wait for the container health check as well (ECS counts a task healthy
   only then, and stops the old ones only then): if it fails, the old
   members are registered again;
4. let the old ones drain: until they hold no connection, at most the
   spec's ``deregistration_delay`` (the ALB finishes early the same way);
5. stop them gracefully and remove them.

A new replica that exits, turns unhealthy or never passes its checks within
the start period plus its retries is removed and the old ones keep serving
(the deployment circuit breaker): ``DeployFailed``, a non-zero exit.

Each step is timed (``Replaced.timings``: create, start, healthy, registered,
from ``since``): `inv up --watch` reports them per edit and `inv bench` takes
its phase breakdown from them. An internal service has no target group: its
new replicas are in its discovery name from their start, so its "registered"
ends with "healthy"; clients holding a connection to an old replica move when
it stops (the bench's "first answer").

The sequence runs against the small ``Fleet`` interface, so it is tested
with fakes; ``DockerFleet`` is the real thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from parity.adapters.docker import Compose, ContainerState, Docker
from parity.app.local.gated import Gate, StateFile, replace_gated
from parity.app.local.replicas import PhaseClock, Replaced, drain, start_new, wait_new
from parity.errors import DeployFailed, NotReady, ParityError
from parity.render.compose import PUBLIC_NETWORK
from parity.render.edge import (
    TARGETS_DIR,
    TARGETS_PATH,
    TEST,
    admin_url,
    gated_origins,
    render_registered,
    render_targets,
)
from parity.spec import Stack

Report = Callable[[str], None]
STOP_GRACE = 30  # ECS's default stopTimeout
# The target group's health check, run in the edge: wget exits non-zero unless the answer is 2xx.
_TARGET_CHECK = 'until wget -q -T {timeout} -O /dev/null "$PARITY_TARGET"; do sleep 0.05; done'


class Fleet(Protocol):
    """What the replacement needs from the engine and the edge."""

    def replicas(self, service: str) -> list[ContainerState]: ...

    def create(self, service: str, count: int) -> list[str]: ...  # the replicas it created (not started)

    def start(self, containers: list[str]) -> None: ...

    def healthy(
        self, container: str, command: str, timeout: float, within: float, port: int
    ) -> bool: ...  # within ``within`` s

    def addresses(self, containers: list[str]) -> dict[str, str]: ...  # container -> address on the edge's network

    def target_healthy(self, address: str, port: int, path: str, timeout: float, within: float) -> bool: ...

    def register(self, service: str, addresses: list[str]) -> None: ...

    def connections(self, container: str) -> int: ...

    def retire(self, containers: list[str], grace: int) -> None: ...

    def logs(self, container: str) -> list[str]: ...


@dataclass(frozen=True)
class Settings:
    """A service's deployment settings, from the spec."""

    service: str
    desired: int
    port: int
    health_command: str
    health_path: str | None  # what the target group's health check asks (public services)
    health_timeout: float
    start_bound: float  # start period + interval x retries: how long a new replica may take
    public: bool
    deregistration_delay: float
    grace: int = STOP_GRACE
    # deployment.strategy; a gated one (not rolling) is replaced by app/local/gated.py
    strategy: str = "rolling"
    shift: tuple[float, float, float, float] = (5.0, 10, 10.0, 6)  # canary percent, bake min; linear step %, bake min
    bake_s: float = 0.0  # deployment.bake_minutes, in seconds

    @property
    def gated(self) -> bool:
        return self.strategy != "rolling"

    @classmethod
    def of(cls, stack: Stack, name: str) -> Settings:
        svc = stack.services[name]
        h = svc.health
        d = svc.deployment
        canary, linear = d.canary, d.linear
        return cls(
            service=name,
            desired=svc.desired_count,
            port=svc.port,
            health_command=h.command,
            health_path=h.path,
            health_timeout=h.timeout,
            start_bound=h.start_period + h.interval * h.retries,
            public=name in stack.public_services(),
            deregistration_delay=svc.deregistration_delay,
            # a gated strategy needs the edge's test listener rule: a public service with edge.test_traffic
            strategy=d.strategy if name in gated_origins(stack) else "rolling",
            shift=(
                canary.percent if canary else 5.0,
                canary.bake_minutes if canary else 10,
                linear.step_percent if linear else 10.0,
                linear.step_bake_minutes if linear else 6,
            ),
            bake_s=d.bake_minutes * 60.0,
        )


def replace(
    settings: Settings,
    fleet: Fleet,
    report: Report = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    since: float | None = None,
    before_traffic: Callable[[], None] | None = None,
    gate: Gate | None = None,
    state: StateFile | None = None,
) -> Replaced:
    """Replace every container of one service, without dropping a request.
    ``since``: when the first phase began (on ``clock``; default now), so a
    caller's own preparation counts in it. ``before_traffic`` runs before the
    new replicas take traffic (the watch's client sync, done meanwhile).
    A gated service (``settings.gated``) is replaced by app/local/gated.py with
    ``gate`` (required) between its test and production traffic shifts;
    ``state`` records its stages for `inv status`."""
    if settings.gated:
        if gate is None:
            raise DeployFailed(
                f"{settings.service}: a {settings.strategy} replacement needs its gate (the e2e smoke checks)"
            )
        return replace_gated(settings, fleet, gate, report, clock, sleep, since, before_traffic, state)
    name = settings.service
    phases = PhaseClock(clock, since)
    start, timings, done = phases.start, phases.timings, phases.done
    before = fleet.replicas(name)
    old = [c.name for c in before]
    report(f"{name}: starting {settings.desired} new replica(s) beside {len(old)} old")
    new: list[str] = []
    switched = False
    try:
        start_new(settings, fleet, before, new, phases)  # whatever was created is rolled back with the rest
        deadline = clock() + settings.start_bound

        def container_check(c: str, within: float) -> bool:
            return fleet.healthy(c, settings.health_command, settings.health_timeout, within, settings.port)

        by_target_check = bool(settings.public and settings.health_path)
        members = fleet.addresses(new) if settings.public else {}
        if by_target_check:
            path = str(settings.health_path)

            def target_check(c: str, within: float) -> bool:
                return fleet.target_healthy(members[c], settings.port, path, settings.health_timeout, within)

            wait_new(settings, fleet, new, target_check, deadline, clock, sleep)
        else:
            wait_new(settings, fleet, new, container_check, deadline, clock, sleep)
        done("healthy")
        if before_traffic:
            before_traffic()
        if settings.public:
            fleet.register(name, sorted(members.values()))
            switched = True
            report(f"{name}: the edge routes to the new replicas; draining the old ones")
        # an internal service's new replicas are in its discovery name since they started (Docker's
        # DNS, as Cloud Map once the task runs): its clients reach them as they open connections
        done("registered")
        if by_target_check:  # healthy for ECS too before the old ones go
            wait_new(settings, fleet, new, container_check, deadline, clock, sleep)
    except ParityError as exc:
        if switched:  # the old replicas still run: they take the traffic back
            fleet.register(name, sorted(fleet.addresses(old).values()))
        culprit = exc.services[0] if isinstance(exc, NotReady) and exc.services else None
        lines = fleet.logs(culprit) if culprit else []
        for line in lines:
            report(f"  {line}")
        fleet.retire(new, grace=settings.grace)
        hint = exc.hint
        if culprit:
            hint = (
                f"the lines above are {culprit}'s last log lines"
                if lines
                else f"{culprit} logged nothing before it stopped"
            )
            hint += "; fix it and try again"
        raise DeployFailed(f"{name}: {exc.message}; rolled back, the old replicas keep serving", hint=hint) from None
    drain(settings, fleet, old if settings.public else [], clock, sleep)
    timings["drained"] = clock() - start
    fleet.retire(old, grace=settings.grace)
    timings["total"] = clock() - start
    report(f"{name}: replaced {len(old)} replica(s) in {timings['total']:.1f} s")
    return Replaced(service=name, old=old, new=new, timings=timings)


def target_files(
    port: int, service: str, production: list[str], test: list[str], weights: dict[str, int]
) -> dict[str, str]:
    """The edge's files for a gated service's two target groups (name under
    TARGETS_DIR -> text): production, with weights while traffic is split,
    and the test listener rule's."""
    return {
        f"{service}.conf": render_targets(port, production, weights),
        f"{service}.registered": render_registered(production, weights),
        f"{service}.{TEST}.conf": render_targets(port, test),
        f"{service}.{TEST}.registered": render_registered(test),
    }


def write_targets(files: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """One shell command (and its environment) that writes ``files`` into
    TARGETS_DIR, then reloads nginx gracefully (the old workers finish their
    requests and streams)."""
    env = {f"PARITY_FILE_{i}": text for i, text in enumerate(files.values())}
    writes = " && ".join(f'printf "%s" "$PARITY_FILE_{i}" > {TARGETS_DIR}/{name}' for i, name in enumerate(files))
    return ["sh", "-c", f"{writes} && nginx -s reload"], env


def registered_answers(files: dict[str, str]) -> dict[str, str]:
    """Admin path -> what the edge answers once it runs on ``files``."""
    out = {}
    for name, text in files.items():
        if name.endswith(".registered"):
            stem = name.removesuffix(".registered")
            path = f"{TARGETS_PATH}/{stem.replace('.' + TEST, '/' + TEST)}"
            out[path] = text.split('"')[1].replace("\\n", "")
    return out


class DockerFleet:
    """The Fleet of the local stack: compose for scaling, docker for the
    containers, the edge container for the target groups."""

    def __init__(self, stack: Stack, compose: Compose, docker: Docker, env: dict[str, str]) -> None:
        self.stack = stack
        self.compose = compose
        self.docker = docker
        self.env = env
        self._edge = ""  # the edge container's name, once looked up
        self._hashes: dict[str, str] | None = None

    def replicas(self, service: str) -> list[ContainerState]:
        return [c for c in self.compose.containers() if c.service == service]

    def create(self, service: str, count: int) -> list[str]:
        """Create the new replicas and check that each carries the config hash
        a plain ``up`` would give it (one that does not would be recreated by
        the next ``inv up``, all at once: the outage this replacement avoids,
        so it is rolled back now instead)."""
        before = set(self.compose.names(service))
        self.compose.create_replicas(service, count, env=self.env)
        new = self.compose.containers([n for n in self.compose.names(service) if n not in before])
        want = self.config_hash(service)
        for c in new:
            if want and c.config_hash != want:
                raise NotReady(
                    f"new replica {c.name} has config hash {c.config_hash[:12]}, compose expects {want[:12]}: "
                    "the next `up` would recreate it"
                ).with_services([c.name])
        return [c.name for c in new]

    def config_hash(self, service: str) -> str | None:
        """The config hash compose gives the service's containers with this
        fleet's settings (one ``config --hash`` per fleet)."""
        if self._hashes is None:
            self._hashes = self.compose.config_hashes(env=self.env)
        return self._hashes.get(service)

    def start(self, containers: list[str]) -> None:
        self.docker.start(containers)

    def healthy(self, container: str, command: str, timeout: float, within: float, port: int) -> bool:
        return self.docker.passes_within(container, command, timeout, within, port)

    def addresses(self, containers: list[str]) -> dict[str, str]:
        """Their addresses on the edge's network, from one ``docker inspect``."""
        found = {c.name: c.addresses.get(PUBLIC_NETWORK) for c in self.compose.containers(containers)}
        missing = [c for c in containers if not found.get(c)]
        if missing:
            raise NotReady(f"replica {missing[0]} has no address on the {PUBLIC_NETWORK} network").with_services(
                missing
            )
        return {c: str(found[c]) for c in containers}

    def target_healthy(self, address: str, port: int, path: str, timeout: float, within: float) -> bool:
        """The target group's health check, as the ALB runs it: ``GET path`` from
        the edge, answered 200, asked every 0.05 s for at most ``within`` s."""
        return self.docker.passes_in(self.edge(), _TARGET_CHECK.format(timeout=int(max(1, timeout))), within,
                                     env={"PARITY_TARGET": f"http://{address}:{port}{path}"})  # fmt: skip

    def connections(self, container: str) -> int:
        service = next((c.service for c in self.compose.containers() if c.name == container), None)
        return self.docker.connections(container, self.stack.services[service].port) if service else 0

    def retire(self, containers: list[str], grace: int) -> None:
        self.docker.stop_and_remove(containers, grace)

    def logs(self, container: str) -> list[str]:
        return self.docker.logs(container, tail=15)

    def registered(self, service: str) -> str:
        return registered(self.stack, service, self.compose)

    def route(self, service: str, production: list[str], test: list[str], weights: dict[str, int]) -> None:
        """A gated service's two target groups: ``production`` (weighted while
        its traffic is split) and the test listener rule's ``test``, in one
        graceful reload; returns once the edge answers with both."""
        edge = self.edge()
        files = target_files(self.stack.services[service].port, service, production, test, weights)
        argv, env = write_targets(files)
        self.compose.exec(edge, argv, env=env)
        want = registered_answers(files)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if all(self.answer(edge, path) == text for path, text in want.items()):
                return
            time.sleep(0.02)
        self.compose.exec(edge, ["nginx", "-t", "-q"])  # a config nginx refused: CommandFailed with its reason
        raise NotReady(
            f"the edge did not take the new target groups of {service} within 5 s", hint="`inv logs --service edge`"
        )

    def answer(self, edge: str, path: str) -> str:
        """What the edge's admin surface answers at ``path`` ('' when nothing does)."""
        try:
            return self.compose.exec(edge, ["wget", "-q", "-T", "2", "-O", "-", admin_url(path)]).strip()
        except ParityError:
            return ""

    def edge(self) -> str:
        """The edge container's name (looked up once)."""
        if not self._edge:
            self._edge = next(c.name for c in self.compose.containers() if c.service == "edge" and c.state == "running")
        return self._edge

    def register(self, service: str, addresses: list[str]) -> None:
        """Make ``addresses`` the target group's members: write the files,
        reload gracefully, and wait until the edge answers with them. nginx
        tests the config itself as it reloads and keeps the old one when it
        fails; only then is ``nginx -t`` run, to say why (it costs 0.1 s with
        the edge's config, on every switch)."""
        if service in gated_origins(self.stack):  # outside a gated replacement its test group is production's
            self.route(service, addresses, addresses, {})
            return
        edge = self.edge()
        port = self.stack.services[service].port
        # one exec: both files, then a graceful reload (the old workers finish their requests)
        self.compose.exec(
            edge,
            [
                "sh",
                "-c",
                (
                    f'printf "%s" "$TARGETS" > {TARGETS_DIR}/{service}.conf && '
                    f'printf "%s" "$REGISTERED" > {TARGETS_DIR}/{service}.registered && nginx -s reload'
                ),
            ],
            env={"TARGETS": render_targets(port, addresses), "REGISTERED": render_registered(addresses)},
        )
        want = ",".join(sorted(addresses))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.registered(service) == want:
                return
            time.sleep(0.02)  # the new workers answer within a few hundredths of a second
        self.compose.exec(edge, ["nginx", "-t", "-q"])  # a config nginx refused: CommandFailed with its reason
        raise NotReady(
            f"the edge did not take the new members of {service} within 5 s", hint="`inv logs --service edge`"
        )


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
    gated = gated_origins(stack)
    for name in stack.public_services():
        addresses = target_members(fleet.replicas(name), name)
        if not addresses:
            continue
        if name in gated:  # both target groups: a gated replacement that was cut short left the split behind
            want = registered_answers(target_files(stack.services[name].port, name, addresses, addresses, {}))
            if any(fleet.answer(fleet.edge(), path) != text for path, text in want.items()):
                fleet.route(name, addresses, addresses, {})
                done.append(name)
        elif fleet.registered(name) != ",".join(addresses):
            fleet.register(name, addresses)
            done.append(name)
    return done
