"""The e2e suite's pure helpers: SSE timing, probe output parsing, the summary
tree, and the `inv e2e` command line."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "e2e"))

from e2elib.probe import parse_burst, parse_reach  # noqa: E402
from e2elib.report import CheckResult, render_tree  # noqa: E402
from e2elib.sse import Event, parse, timing_problems  # noqa: E402

from parity.app.checks.e2e_run import e2e_command  # noqa: E402


def stream(times, seconds=None):
    ticks = [Event(at=t, name="tick", id=str(n)) for n, t in enumerate(times, start=1)]
    return ticks + [Event(at=times[-1] + 0.01, name="done")]


def test_parse_reads_events_at_their_blank_line():
    lines = [
        (0.0, ": stream open"),
        (0.0, ""),
        (1.0, "event: tick"),
        (1.0, "id: 1"),
        (1.0, 'data: {"n":1}'),
        (1.01, ""),
        (2.0, "event: done"),
        (2.0, "data: {}"),
        (2.0, ""),
    ]
    events = list(parse(lines))
    assert [(e.name, e.id, e.at) for e in events] == [("tick", "1", 1.01), ("done", "", 2.0)]
    assert events[0].data == '{"n":1}'


def test_a_live_stream_has_no_problems():
    assert timing_problems(stream([1.0 + n + 0.01 * n for n in range(35)]), 35) == []


def test_a_buffered_stream_is_reported():
    problems = timing_problems(stream([35.0] * 35), 35)
    assert any("first tick after 35.00 s" in p for p in problems)
    assert any("batches" in p for p in problems)


def test_a_stream_released_in_chunks_is_reported():
    times = [1.0] * 10 + [float(n) for n in range(11, 36)]  # ten held back, then live
    assert any("off schedule" in p for p in timing_problems(stream(times), 35))


def test_missing_or_reordered_ticks_are_reported():
    events = stream([1.0, 2.0, 3.0])
    events[0], events[1] = events[1], events[0]
    problems = timing_problems(events, 3)
    assert any("wanted 1..3" in p for p in problems)
    assert any("`done`" in p for p in timing_problems(events[:-1], 3))


def test_probe_output_parsing():
    assert parse_reach("000 0 http://a:1/x\n200 1 http://b/\n") == {
        "http://a:1/x": ("000", False),
        "http://b/": ("200", True),
    }
    assert parse_burst("404\n404\n429\nelapsed 3\n") == (["404", "404", "429"], 3.0)


def test_summary_tree_marks_each_check():
    ok = CheckResult("test_page.py::test_a", name="page loads")
    ok.add_phase("call", "passed", 1.25)
    ng = CheckResult("test_stream.py::test_b", name="stream")
    ng.add_phase("call", "failed", 35.0)
    skip = CheckResult("test_health.py::test_c", name="containers")
    skip.add_phase("setup", "skipped", 0.0, "needs container access: remote")
    lines = render_tree([ok, ng, skip], "http://x", 36.5)
    text = "\n".join(lines)
    assert lines[0] == "e2e checks against http://x"
    assert re.search(r"├── page and cross-origin isolation\n│   └── OK\s+1\.[23]s  page loads", text)
    assert re.search(r"└── NG\s+35\.0s  stream", text)
    assert re.search(r"└── SKIP\s+containers  \(needs container access: remote\)", text)
    assert lines[-1] == "3 checks: 1 OK, 1 NG, 1 SKIP · wall time 36.5 s (longest check 35.0 s)"


def test_e2e_command():
    argv = e2e_command("https://staging.example.com", "smoke")
    assert argv[1:6] == ["-m", "pytest", "-c", "e2e/pytest.ini", "e2e"]
    assert argv[argv.index("--base-url") + 1] == "https://staging.example.com"
    assert argv[-2:] == ["-m", "smoke"]
    assert "--junitxml=reports/e2e-junit.xml" in argv and "-n" in argv


def test_e2e_command_names_the_edge_when_reached_another_way():
    argv = e2e_command("http://127.0.0.1:40123", edge_container="huskit-edge-1")
    assert argv[argv.index("--base-url") + 1] == "http://127.0.0.1:40123"
    assert argv[argv.index("--edge-container") + 1] == "huskit-edge-1"
    assert "--edge-container" not in e2e_command("http://127.0.0.1:8080")


def test_e2e_client_subnets_are_fresh_and_distinct():
    import ipaddress
    import random

    from parity.app.checks.e2e_client import subnet_candidates

    pairs = subnet_candidates(random.Random(7))
    assert len({s for s, _ in pairs}) == len(pairs) == 8
    for subnet, ip in pairs:
        net = ipaddress.ip_network(subnet)
        assert ipaddress.ip_address(ip) in net and ip != str(next(net.hosts()))  # never the gateway


class _FakeDocker:
    """Records what own_client_address asks of Docker."""

    def __init__(self, taken: int = 1):
        self.calls: list[tuple] = []
        self.taken = taken

    def labelled_leftovers(self, label, older_than):
        self.calls.append(("leftovers", label, older_than))
        return ["parity-e2e-client-old"], ["parity-e2e-client-old"]

    def create_network(self, name, subnet):
        self.calls.append(("create_network", name, subnet))
        self.taken -= 1
        return self.taken < 0

    def connect(self, network, container):
        self.calls.append(("connect", network, container))

    def run_detached(self, image, name, network, ip, entrypoint, args, port, labels):
        self.calls.append(("run", image, name, network, ip, entrypoint, args[-1], port, tuple(labels)))

    def host_port(self, container, port):
        return 40123

    def remove_quietly(self, container=None, network=None, disconnect=None):
        self.calls.append(("remove", container, network, disconnect))


class _FakeCompose:
    def containers(self):
        from parity.adapters.docker import ContainerState

        return [
            ContainerState("huskit-website-agent-1", "website-agent", "running", "healthy"),
            ContainerState("huskit-edge-1", "edge", "running", "healthy"),
        ]


def test_own_client_address_forwards_from_a_fresh_network_and_cleans_up(monkeypatch):
    from parity.app.checks import e2e_client
    from parity.spec.load import load_stack

    from .conftest import ROOT

    waited = []
    monkeypatch.setattr(e2e_client, "_wait_forwarding", waited.append)
    docker = _FakeDocker(taken=1)
    with e2e_client.own_client_address(load_stack(ROOT, "local"), _FakeCompose(), docker) as (url, edge):
        assert (url, edge) == ("http://127.0.0.1:40123", "huskit-edge-1")
        assert waited == [url]
    kinds = [c[0] for c in docker.calls]
    # an interrupted run's leftovers first; a taken subnet is retried with another
    assert kinds == ["leftovers", "remove", "remove", "create_network", "create_network", "connect", "run", "remove"]
    net = docker.calls[4][1]
    assert docker.calls[3][2] != docker.calls[4][2]
    run = docker.calls[6]
    assert run[1] == "huskit/website-agent:local" and run[3] == net and run[6] == "huskit-edge-1"
    assert "com.docker.compose.project=parity-e2e-client" in run[8]  # never taken for a member of the stack
    assert docker.calls[-1] == ("remove", net, net, "huskit-edge-1")


def test_own_client_address_cleans_up_when_the_forwarder_does_not_answer(monkeypatch):
    import pytest

    from parity.app.checks import e2e_client
    from parity.errors import NotReady
    from parity.spec.load import load_stack

    from .conftest import ROOT

    def silent(url):
        raise NotReady("no answer")

    monkeypatch.setattr(e2e_client, "_wait_forwarding", silent)
    docker = _FakeDocker(taken=0)
    with pytest.raises(NotReady), e2e_client.own_client_address(load_stack(ROOT, "local"), _FakeCompose(), docker):
        pass
    assert docker.calls[-1][0] == "remove" and docker.calls[-1][3] == "huskit-edge-1"


def test_checks_for_the_report_page_keep_the_failures_message_in_the_trees_order():
    from e2elib.report import tree_order

    health = CheckResult("test_health.py::test_h", name="health answers", order=9)
    page = CheckResult("test_page.py::test_p", name="page renders", order=1)
    page.add_phase("setup", "passed", 0.1)
    page.add_phase("call", "failed", 2.0, message="E   assert 'agent' in '<h1>502</h1>'")
    page.add_phase("teardown", "failed", 0.1, message="E   a second failure, in teardown")
    assert [r.nodeid for r in tree_order([health, page])] == ["test_page.py::test_p", "test_health.py::test_h"]
    assert page.as_dict() == {
        "nodeid": "test_page.py::test_p", "name": "page renders", "area": "page and cross-origin isolation",
        "outcome": "failed", "duration": 2.2, "reason": "error in teardown", "message": "E   assert 'agent' in '<h1>502</h1>'",
        "order": 1,
    }  # fmt: skip
