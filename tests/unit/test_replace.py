"""The rolling replacement's sequence, against a fake fleet and a fake clock."""

import pytest

from parity.adapters.docker import ContainerState, established
from parity.app.local.replace import PHASES, PROBE_INTERVAL, PROBE_WINDOW, Settings, replace
from parity.errors import DeployFailed, NotReady

from .conftest import FakeClock as Clock


class FakeFleet:
    """Two old web replicas; new ones pass the target group's check after
    ``target_after`` waits each and their container check after
    ``ready_after`` (None: never), or exit at once (``exits``)."""

    def __init__(self, clock, ready_after=2, exits=False, connections=None, target_after=2):
        self.clock = clock
        self.containers = {f"web-{i}": "running" for i in (1, 2)}
        self.ready_after = ready_after
        self.target_after = target_after
        self.exits = exits
        self.probes: dict[str, int] = {}
        self.target_probes: dict[str, int] = {}
        self.open = dict(connections or {})  # container -> seconds until its last connection ends
        self.log: list[tuple] = []

    def replicas(self, service):
        return [
            ContainerState(name=n, service="web", state=s, health="starting")
            for n, s in sorted(self.containers.items())
        ]

    def create(self, service, count):
        self.log.append(("create", count))
        new = [f"web-{i}" for i in range(len(self.containers) + 1, count + 1)]
        for name in new:
            self.containers[name] = "created"
        return new

    def start(self, containers):
        self.log.append(("start", tuple(containers)))
        for name in containers:
            self.containers[name] = "exited" if self.exits else "running"

    def healthy(self, container, command, timeout, within, port):
        """One readiness wait (the ``ready_after``-th passes)."""
        assert (command, port) == ("node healthcheck.js", 5171) and 0 < within <= PROBE_WINDOW
        self.probes[container] = self.probes.get(container, 0) + 1
        return self.ready_after is not None and self.probes[container] >= self.ready_after

    def addresses(self, containers):
        return {c: "10.0.0." + c.split("-")[1] for c in containers}

    def target_healthy(self, address, port, path, timeout, within):
        """One wait for the target group's check of ``address`` (the ``target_after``-th passes)."""
        assert (port, path) == (5171, "/healthz") and 0 < within <= PROBE_WINDOW
        self.target_probes[address] = self.target_probes.get(address, 0) + 1
        if self.containers.get("web-" + address.rsplit(".", 1)[1]) != "running":
            return False
        return self.target_after is not None and self.target_probes[address] >= self.target_after

    def register(self, service, addresses):
        self.log.append(("register", tuple(addresses), self.clock.now))

    def connections(self, container):
        return 1 if self.open.get(container, 0) > self.clock.now else 0

    def retire(self, containers, grace):
        self.log.append(("retire", tuple(containers), grace, self.clock.now))
        for c in containers:
            del self.containers[c]

    def logs(self, container):
        return [f"{container}: boom"]


def settings(**kw):
    base = dict(
        service="web",
        desired=2,
        port=5171,
        health_command="node healthcheck.js",
        health_path="/healthz",
        health_timeout=5,
        start_bound=75,
        public=True,
        deregistration_delay=20,
    )
    return Settings(**{**base, **kw})


def test_new_replicas_serve_before_the_old_ones_drain_and_stop():
    clock = Clock()
    fleet = FakeFleet(clock, connections={"web-1": 4.5})
    done = replace(settings(), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep)
    assert done.old == ["web-1", "web-2"] and done.new == ["web-3", "web-4"]
    assert fleet.log[0] == ("create", 4)  # maximum 200 %: the old ones keep running
    assert fleet.log[1] == ("start", ("web-3", "web-4"))
    # the target group's check passes at the second wait, PROBE_INTERVAL after the first: they take traffic
    assert fleet.log[2] == ("register", ("10.0.0.3", "10.0.0.4"), PROBE_INTERVAL)
    # their container check passes another PROBE_INTERVAL later; only then do the old ones drain,
    # and are stopped once the last connection ended (4.5 s; checked every second), not after the whole delay
    assert fleet.probes == {"web-3": 2, "web-4": 2}
    assert fleet.log[3] == ("retire", ("web-1", "web-2"), 30, 2 * PROBE_INTERVAL + 4.0)
    assert sorted(fleet.containers) == ["web-3", "web-4"]


def test_draining_ends_at_the_deregistration_delay():
    clock = Clock()
    fleet = FakeFleet(clock, connections={"web-2": 1000})
    replace(settings(deregistration_delay=10), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep)
    retire = fleet.log[-1]
    assert retire[0] == "retire" and retire[3] == pytest.approx(2 * PROBE_INTERVAL + 10)


def test_internal_service_is_not_registered_and_not_drained():
    clock = Clock()
    fleet = FakeFleet(clock, connections={"web-1": 1000})
    replace(settings(public=False), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep)
    assert [entry[0] for entry in fleet.log] == ["create", "start", "retire"]
    assert not fleet.target_probes and fleet.probes == {"web-3": 2, "web-4": 2}  # its container check only


@pytest.mark.parametrize(
    "fleet_kw, why", [({"exits": True}, "is exited"), ({"target_after": None}, "not healthy after 75 s")]
)
def test_circuit_breaker_removes_the_new_replicas_and_keeps_the_old(fleet_kw, why):
    clock = Clock()
    fleet = FakeFleet(clock, **fleet_kw)
    lines = []
    with pytest.raises(DeployFailed) as exc:
        replace(settings(), fleet, report=lines.append, clock=clock, sleep=clock.sleep)
    assert why in str(exc.value) and "rolled back, the old replicas keep serving" in str(exc.value)
    assert exc.value.exit_code != 0
    assert not any(entry[0] == "register" for entry in fleet.log)
    assert fleet.log[-1][:2] == ("retire", ("web-3", "web-4"))
    assert sorted(fleet.containers) == ["web-1", "web-2"]
    assert "  web-3: boom" in lines


class HashMismatchFleet(FakeFleet):
    """Creates the new replicas, then finds they carry another config hash
    (what DockerFleet.create checks) and says so."""

    def create(self, service, count):
        super().create(service, count)
        raise NotReady("new replica web-3 has config hash aaa, compose expects bbb").with_services(["web-3"])


def test_replicas_compose_would_recreate_are_rolled_back_at_once():
    clock = Clock()
    fleet = HashMismatchFleet(clock)
    with pytest.raises(DeployFailed) as exc:
        replace(settings(), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep)
    assert "compose expects bbb" in str(exc.value)
    assert fleet.log[-1][:2] == ("retire", ("web-3", "web-4"))
    assert sorted(fleet.containers) == ["web-1", "web-2"]
    assert not fleet.probes


def test_established_counts_connections_to_the_port_only():
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 00000000:1433 00000000:0000 0A 00000000:00000000\n"  # listening on 5171
        "   1: 0B00120A:1433 0200120A:B2D4 01 00000000:00000000\n"  # established to 5171
        "   2: 0B00120A:1433 0200120A:B2D6 06 00000000:00000000\n"  # TIME_WAIT
        "   3: 0B00120A:9C40 0300130A:1538 01 00000000:00000000\n"  # outgoing, to postgres
        "  sl  local_address                         remote_address                        st\n"
        "   0: 0000000000000000FFFF00000B00120A:1433 0000000000000000FFFF00000200120A:C001 01 0\n"
    )
    assert established(text, 5171) == 2
    assert established(text, 4999) == 0


def test_a_replica_that_logged_nothing_is_said_to_have_logged_nothing():
    clock = Clock()
    fleet = FakeFleet(clock, exits=True)
    fleet.logs = lambda container: []
    with pytest.raises(DeployFailed) as exc:
        replace(settings(), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep)
    assert exc.value.hint == "web-3 logged nothing before it stopped; fix it and try again"


class Running:
    """compose and docker as outdated() asks them: two web replicas on image
    ``sha256:a`` created with settings hash ``h1``."""

    def __init__(self, image="sha256:a"):
        self.image = image

    def containers(self):
        return [
            ContainerState(
                name=f"huskit-website-agent-{i}",
                service="website-agent",
                state="running",
                health="healthy",
                image_id="sha256:a",
                config_hash="h1",
            )
            for i in (1, 2)
        ]

    def image_facts(self, refs, label):
        return {ref: (self.image, None) for ref in refs if "website-agent" in ref}


@pytest.mark.parametrize(
    "image, hashes, stale",
    [
        ("sha256:a", {"website-agent": "h1"}, []),  # nothing changed
        ("sha256:b", {"website-agent": "h1"}, ["website-agent"]),  # a new image
        ("sha256:a", {"website-agent": "h2"}, ["website-agent"]),  # new settings: an env value, a re-seeded secret
        ("sha256:a", None, []),  # hashes not asked for: images only (the watch loop)
    ],
)
def test_a_new_image_or_new_settings_make_a_service_outdated(image, hashes, stale):
    from parity.app.local.local_stack import outdated
    from parity.spec import load_stack

    from .conftest import ROOT

    fake = Running(image)
    assert outdated(load_stack(ROOT, "local"), fake, fake, hashes) == stale


def test_a_target_group_that_is_not_the_running_replicas_is_warned_about():
    from parity.app.local.local_stack import target_warnings
    from parity.spec import load_stack

    from .conftest import ROOT

    stack = load_stack(ROOT, "local")
    web = [
        ContainerState(
            name=f"huskit-website-agent-{i}",
            service="website-agent",
            state="running",
            health="healthy",
            addresses={"public": f"10.0.0.{i}", "internal": f"10.1.0.{i}"},
        )
        for i in (3, 4)
    ]
    assert target_warnings(stack, web, {"website-agent": "10.0.0.3,10.0.0.4"}) == []
    assert target_warnings(stack, web, {"website-agent": "default"}) == []  # by DNS name: whatever runs
    assert target_warnings(stack, web, {"website-agent": ""}) == []  # no edge answers
    (warning,) = target_warnings(stack, web, {"website-agent": "10.0.0.1,10.0.0.4"})
    assert warning == (
        "the edge's target group for website-agent is 10.0.0.1,10.0.0.4, its running replicas are 10.0.0.3, 10.0.0.4: "
        "requests may fail; `inv up` registers them again"
    )


class TimedFleet(FakeFleet):
    """Each step takes a known time on the fake clock."""

    def create(self, service, count):
        self.clock.now += 0.4
        return super().create(service, count)

    def start(self, containers):
        self.clock.now += 0.2
        super().start(containers)

    def register(self, service, addresses):
        self.clock.now += 0.15
        super().register(service, addresses)

    def retire(self, containers, grace):
        self.clock.now += 0.5
        super().retire(containers, grace)


def test_each_phase_is_timed_from_since_and_they_add_up():
    clock = Clock()
    clock.now = 10.0
    fleet = TimedFleet(clock)
    synced = []
    done = replace(settings(), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep, since=9.0,
                   before_traffic=lambda: synced.append(clock.now))  # fmt: skip
    assert list(done.timings)[: len(PHASES)] == list(PHASES)
    # create counts from ``since`` (the caller's preparation is in it); healthy when the target group's
    # check passed, at the second wait (the container check comes after the switch, in no phase)
    assert done.timings["create"] == pytest.approx(1.0 + 0.4)
    assert done.timings["start"] == pytest.approx(0.2)
    assert done.timings["healthy"] == pytest.approx(PROBE_INTERVAL)
    assert done.timings["registered"] == pytest.approx(0.15)
    # the client sync is waited for after the new replicas are healthy, before they take traffic
    assert synced == [pytest.approx(10.0 + 0.4 + 0.2 + PROBE_INTERVAL)]
    assert fleet.log[2][0] == "register"


def test_an_internal_service_is_registered_once_healthy_and_the_old_ones_stop_after():
    clock = Clock()
    fleet = TimedFleet(clock)
    done = replace(settings(public=False), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep)
    # no target group: in its discovery name since it started; the old ones' retirement comes after
    assert done.timings["registered"] == 0.0
    assert sum(done.timings[p] for p in PHASES) == pytest.approx(0.4 + 0.2 + PROBE_INTERVAL)
    assert done.timings["total"] == pytest.approx(0.4 + 0.2 + PROBE_INTERVAL + 0.5)


def test_a_client_sync_that_fails_rolls_the_new_replicas_back():
    clock = Clock()
    fleet = FakeFleet(clock)

    def sync():
        raise NotReady("s3://bucket: upload failed")

    with pytest.raises(DeployFailed, match="upload failed; rolled back"):
        replace(settings(), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep, before_traffic=sync)
    assert not any(entry[0] == "register" for entry in fleet.log)
    assert sorted(fleet.containers) == ["web-1", "web-2"]


def test_new_replicas_whose_container_check_fails_after_the_switch_give_the_traffic_back():
    """The target group's check passed, so they took traffic; their container health check never
    does (ECS would mark the tasks unhealthy): the old members are registered again, the new ones go."""
    clock = Clock()
    fleet = FakeFleet(clock, ready_after=None)
    lines = []
    with pytest.raises(DeployFailed, match="not healthy after 75 s; rolled back, the old replicas keep serving"):
        replace(settings(), fleet, report=lines.append, clock=clock, sleep=clock.sleep)
    registers = [entry[1] for entry in fleet.log if entry[0] == "register"]
    assert registers == [("10.0.0.3", "10.0.0.4"), ("10.0.0.1", "10.0.0.2")]
    assert fleet.log[-1][:2] == ("retire", ("web-3", "web-4"))
    assert sorted(fleet.containers) == ["web-1", "web-2"]


def test_a_service_without_a_health_path_waits_for_its_container_check_only():
    clock = Clock()
    fleet = FakeFleet(clock)
    replace(settings(health_path=None), fleet, report=lambda m: None, clock=clock, sleep=clock.sleep)
    assert not fleet.target_probes and fleet.log[2] == ("register", ("10.0.0.3", "10.0.0.4"), PROBE_INTERVAL)
