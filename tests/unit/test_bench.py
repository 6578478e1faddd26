"""The bench's pure parts: the capacity search, the report's shape, the
daily-loop figures slotting in (or named as not measured)."""

import json
import sys
import types

from parity.app.benchmarks.bench import LOOP_FIGURES, Figure, loop_figures, write_report
from parity.app.benchmarks.bench_sse import parse_run, search_upward


def levels_tried(capacity, **kw):
    tried = []

    def held(n):
        tried.append(n)
        return n <= capacity

    return search_upward(held, **kw), tried


def test_search_doubles_until_a_level_fails_then_bisects():
    best, tried = levels_tried(5000, start=1000, cap=16000, bisect=2)
    assert tried == [1000, 2000, 4000, 8000, 6000, 5000]
    assert best == 5000


def test_search_goes_up_to_the_cap_and_no_further():
    best, tried = levels_tried(10**6, start=1000, cap=8000)
    assert (best, tried) == (8000, [1000, 2000, 4000, 8000])


def test_search_reports_zero_when_the_first_level_fails():
    assert levels_tried(10, start=1000, cap=8000) == (0, [1000, 500])


def test_load_generator_output_is_held_only_when_every_stream_is_on_time():
    line = {
        "streams": 100,
        "seconds": 30,
        "ramp_ms": 500,
        "ok": 100,
        "failed": 0,
        "reasons": {},
        "max_open": 100,
        "first_event_ms": {"p50": 1003, "p99": 1050, "max": 1100},
        "wall_s": 31.2,
    }
    assert parse_run("noise\n" + json.dumps(line)).held
    assert not parse_run(json.dumps({**line, "ok": 99, "reasons": {"http_429": 1}})).held
    assert not parse_run(json.dumps({**line, "first_event_ms": {"p50": 1900, "p99": 2300, "max": 2400}})).held
    # a few late first events: not held, but within p99 (the per-task figure's criterion)
    late = parse_run(json.dumps({**line, "ok": 99, "reasons": {"first_event_late": 1}}))
    assert (late.held, late.within_p99) == (False, True)
    cut = parse_run(json.dumps({**line, "ok": 99, "reasons": {"cut_deadline": 1}}))
    assert (cut.held, cut.within_p99) == (False, False)


def test_report_has_the_issues_shape(tmp_path):
    path = write_report(tmp_path / "reports" / "bench.json", [Figure("sse_streams_held", 4000, "streams", ">= 4000")])
    assert json.loads(path.read_text()) == {
        "figures": [{"name": "sse_streams_held", "value": 4000, "unit": "streams", "target": ">= 4000"}]
    }


def test_missing_daily_loop_figures_are_named_not_measured(tmp_path):
    figures = loop_figures(None, module="parity.app.no_such_bench_loop")
    assert [f.name for f in figures] == list(LOOP_FIGURES)
    assert all(f.value is None and f.note.startswith("not measured") for f in figures)


def test_daily_loop_figures_slot_in(monkeypatch):
    fake = types.ModuleType("fake_bench_loop")
    fake.up_warm_vs_compose = lambda ws: Figure("up_warm_vs_compose", 0.4, "ratio", "< 1")
    fake.edit_to_served_s = lambda ws: [
        Figure("edit_to_served_s", 2.0, "s", note="website-agent"),
        Figure("edit_to_served_s", 3.0, "s", note="crawler"),
    ]
    monkeypatch.setitem(sys.modules, "fake_bench_loop", fake)
    figures = loop_figures("ws", module="fake_bench_loop")
    assert [(f.name, f.value) for f in figures] == [
        ("up_warm_vs_compose", 0.4),
        ("edit_to_served_s", 2.0),
        ("edit_to_served_s", 3.0),
        ("rollout_failed_requests", None),
        ("rollout_streams_cut", None),
    ]


def test_sse_figures_say_when_the_search_never_found_the_limit():
    from parity.app.benchmarks.bench import sse_figures
    from parity.app.benchmarks.bench_sse import LoadRun

    class FakeLoad:
        class stack:
            services = {"website-agent": types.SimpleNamespace(cpu=1024, memory=2048)}

        def __init__(self):
            self.runs = {}

        def _run(self, label, n, capacity):
            reasons = {} if n <= capacity else {"cut_deadline": 1}
            run = LoadRun(n, n if n <= capacity else n - 1, reasons, 1000, 1200, n, 30.0, memory_mib=n / 40)
            self.runs.setdefault(label, []).append(run)
            return run

        def through_edge(self, n):
            return self._run("edge", n, 10**6)

        def one_web_task(self, n):
            return self._run("web_task", n, 3000)

        def best(self, label, p99=False):
            return max((r for r in self.runs[label] if (r.within_p99 if p99 else r.held)), key=lambda r: r.streams)

    load = FakeLoad()
    by_name = {f.name: f for f in sse_figures(load, edge_cap=2000, web_cap=16000)}
    held = by_name["sse_streams_held"]
    assert held.value == 16000 and "at least" in held.note  # searched to 16,000 even with a lower cap
    # the level found is run twice more, and the note gives the spread
    assert [r.streams for r in load.runs["edge"]] == [1000, 2000, 4000, 8000, 16000, 16000, 16000]
    assert "3 of 3 runs held at 16000; first-event p99 1200-1200 ms" in held.note
    runs = by_name["sse_streams_held_runs"]
    assert (runs.value, runs.unit, runs.shown.split()[0]) == (3, "of 3 runs", "3")
    assert by_name["sse_edge_memory_mib"].value == 400
    per_task = by_name["sse_streams_per_web_task"]
    assert (per_task.value, per_task.note) == (3000, "")


def test_bench_loop_provides_every_daily_loop_figure():
    import parity.app.benchmarks.bench_loop as loop

    assert all(callable(getattr(loop, name, None)) for name in LOOP_FIGURES)


def test_the_benchs_one_line_edits_still_apply_to_the_services_sources():
    """edit_to_served_s edits each service's source: a service that changed
    under it must fail here, not in the middle of `inv bench`."""
    from pathlib import Path

    from parity.app.benchmarks.bench_loop import EDITS
    from parity.spec import load_stack

    root = Path(__file__).resolve().parents[2]
    stack = load_stack(root, "local")
    assert set(EDITS) == set(stack.services)
    for service, (rel, find, repl) in EDITS.items():
        source = (root / stack.services[service].build.context / rel).read_text()
        assert source.count(find) == 1, f"{service}: {find!r} is not once in {rel}"
        assert "m4rk3r" in source.replace(find, repl.replace("{m}", "m4rk3r"))


def test_load_sends_a_request_again_once_only_when_its_keep_alive_was_closed_unanswered():
    import httpx
    import pytest

    from parity.app.benchmarks.bench_loop import Load

    def client(*errors):
        queue = list(errors)

        def handler(request):
            if queue:
                raise queue.pop(0)
            return httpx.Response(200)

        return httpx.Client(base_url="http://edge", transport=httpx.MockTransport(handler))

    closed = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    load = Load("http://edge")
    assert load._get(client(closed), "/healthz") == 200 and load.retried == 1
    with pytest.raises(httpx.RemoteProtocolError):  # closed twice: a failure, not a race
        load._get(client(closed, closed), "/healthz")
    with pytest.raises(httpx.RemoteProtocolError):  # an answer cut off midway is never sent again
        load._get(
            client(httpx.RemoteProtocolError("peer closed connection without sending complete message body")), "/"
        )
    assert load.retried == 2


def test_the_edit_figure_is_the_median_with_min_max_every_run_and_each_phases_median():
    from parity.app.benchmarks.bench_loop import FIRST_ANSWER, EditRun, edit_figure
    from parity.app.local.watch import PHASES

    def run(total, build):
        phases = {p: 0.1 for p in PHASES} | {"build": build}
        return EditRun(total, phases | {FIRST_ANSWER: round(total - sum(phases.values()), 2)})

    fig = edit_figure("website-agent", [run(2.9, 1.2), run(2.4, 0.8), run(2.6, 0.9)], bound=120)
    assert (fig.name, fig.value, fig.target) == ("edit_to_served_s", 2.6, "<= 3 s")
    body = fig.as_dict()
    assert (body["service"], body["min"], body["max"]) == ("website-agent", 2.4, 2.9)
    assert list(body["phases"]) == [*PHASES, FIRST_ANSWER]
    assert body["phases"]["build"] == 0.9 and len(body["runs"]) == 3
    assert "median of 3, 2.40-2.90 s; detect 0.10, build 0.90" in fig.note
    json.dumps(body)  # the report can hold it


def test_an_edit_that_was_not_served_leaves_the_figure_unmeasured_and_says_so():
    from parity.app.benchmarks.bench_loop import EditRun, edit_figure

    fig = edit_figure("crawler", [EditRun(2.0, {}), EditRun(None)], bound=120)
    assert fig.value is None and fig.note == "crawler: 1 of 2 edits not served within 120 s"


def test_cpu_is_read_from_the_containers_cgroup_v1_or_v2(tmp_path):
    from parity.adapters.docker import cgroup_cpu_seconds

    v1 = tmp_path / "v1" / "cpuacct" / "docker" / "abc"
    v1.mkdir(parents=True)
    (v1 / "cpuacct.usage_user").write_text("1500000000\n")
    (v1 / "cpuacct.usage_sys").write_text("250000000\n")
    assert cgroup_cpu_seconds("abc", root=tmp_path / "v1") == (1.5, 0.25)
    v2 = tmp_path / "v2" / "system.slice" / "docker-abc.scope"
    v2.mkdir(parents=True)
    (v2 / "cpu.stat").write_text("usage_usec 4000000\nuser_usec 3000000\nsystem_usec 1000000\n")
    assert cgroup_cpu_seconds("abc", root=tmp_path / "v2") == (3.0, 1.0)
    assert cgroup_cpu_seconds("other", root=tmp_path / "v2") is None


def test_cpu_percent_is_per_container_between_two_samples_and_the_late_starter_counts_from_zero():
    from parity.app.benchmarks.bench_sse import cpu_percent

    before = (100.0, {"huskit-edge-1": (10.0, 20.0)})
    after = (102.0, {"huskit-edge-1": (10.5, 21.5), "huskit-bench-1": (0.2, 0.1)})
    short = {"huskit-edge-1": "edge-1", "huskit-bench-1": "load"}
    assert cpu_percent(before, after, short) == {"edge-1": [25.0, 75.0], "load": [10.0, 5.0]}


def test_levels_are_stream_counts_within_the_load_generators_open_files():
    import pytest

    from parity.app.benchmarks.bench_sse import MAX_LEVEL, parse_levels
    from parity.errors import ConfigError

    assert parse_levels("10000,10000,8000") == [10000, 10000, 8000]
    for bad in ("10k", "", "0", str(MAX_LEVEL + 1)):
        with pytest.raises(ConfigError, match="--levels"):
            parse_levels(bad)


def test_given_levels_run_in_order_and_the_figure_is_the_highest_level_every_run_of_which_held():
    from parity.app.benchmarks.bench import sse_level_figures
    from parity.app.benchmarks.bench_sse import LoadRun

    outcomes = iter([10000, 9352, 8000, 8000])  # streams on time, per run in order

    class FakeLoad:
        runs: dict = {}

        def through_edge(self, n):
            ok = next(outcomes)
            run = LoadRun(
                n, ok, {} if ok == n else {"first_event_late": n - ok}, 1000, 1500 if ok == n else 2400, n, 31.0, 900.0
            )
            self.runs.setdefault("edge", []).append(run)
            return run

    by_name = {f.name: f for f in sse_level_figures(FakeLoad(), [10000, 10000, 8000, 8000])}
    held = by_name["sse_streams_held"]
    assert held.value == 8000
    assert "10000: 1 of 2 runs held, p99 1500-2400 ms, ok in the others: 9352" in held.note
    assert "8000: 2 of 2 runs held" in held.note
    assert by_name["sse_streams_held_runs"].value == 2
