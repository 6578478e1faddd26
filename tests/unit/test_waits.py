import pytest

from parity.adapters.docker import ContainerState
from parity.errors import NotReady
from parity.waits import wait_healthy

from .conftest import FakeClock


def cs(service, state="running", health="healthy"):
    return ContainerState(name=f"huskit-{service}-1", service=service, state=state, health=health)


def test_returns_when_all_healthy_after_starting():
    clock = FakeClock()
    frames = iter([[cs("web", health="starting")], [cs("web", health="starting")], [cs("web")]])
    states = wait_healthy(lambda: next(frames), ["web"], timeout=10, clock=clock, sleep=clock.sleep)
    assert [s.health for s in states] == ["healthy"]
    assert clock.now == 2.0


def test_times_out_naming_what_is_not_ready():
    clock = FakeClock()
    with pytest.raises(NotReady) as exc:
        wait_healthy(
            lambda: [cs("web"), cs("crawler", health="starting")], ["web", "crawler", "edge"], 5, clock, clock.sleep
        )
    assert str(exc.value).startswith("not healthy after 5 s: crawler, edge")
    assert exc.value.services == ["crawler", "edge"]
    assert "listens on its port" in str(exc.value)


def test_unhealthy_or_exited_fails_at_once():
    clock = FakeClock()
    with pytest.raises(NotReady) as exc:
        wait_healthy(lambda: [cs("web", state="exited", health="none")], ["web"], 60, clock, clock.sleep)
    assert str(exc.value).startswith("web is exited")
    assert clock.now == 0
    with pytest.raises(NotReady, match="crawler is unhealthy"):
        wait_healthy(lambda: [cs("crawler", health="unhealthy")], ["crawler"], 60, clock, clock.sleep)
