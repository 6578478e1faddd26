"""The gated replacement (issue 20, local): blue/green, canary and linear
against a fake fleet and a fake clock; the edge's rendering of the test
listener rule and the weights; the stage file `inv status` reads."""

import json

import pytest

from parity.app.local.gated import STAGES, StateFile, in_progress, replace_gated, split_line, steps
from parity.app.local.replace import registered_answers, replace, target_files, write_targets
from parity.errors import DeployFailed
from parity.render.edge import (
    TEST_TRAFFIC_ENV,
    default_targets,
    edge_command,
    edge_environment,
    gated_origins,
    render_edge,
    split_weights,
)
from parity.spec.load import validate

from .conftest import FakeClock as Clock
from .test_replace import FakeFleet, settings

BLUE, GREEN = ["10.0.0.1", "10.0.0.2"], ["10.0.0.3", "10.0.0.4"]


class GatedFleet(FakeFleet):
    """The rolling fake, plus the edge's two target groups (route)."""

    def __init__(self, clock, **kw):
        super().__init__(clock, **kw)
        self.routes: list[tuple] = []

    def route(self, service, production, test, weights):
        self.routes.append((tuple(production), tuple(test), dict(weights)))


def gated(strategy="blue_green", **kw):
    return settings(strategy=strategy, **kw)


def run(fleet, clock, gate=lambda: [], tmp_path=None, **kw):
    lines: list[str] = []
    state = StateFile(tmp_path, "web") if tmp_path else None
    seen_states: list[dict] = []

    def report(line):
        lines.append(line)
        if state and state.path.exists():
            seen_states.append(json.loads(state.path.read_text()))

    done = replace(gated(**kw), fleet, report=report, clock=clock, sleep=clock.sleep, gate=gate, state=state)
    return done, lines, seen_states


def test_blue_green_sends_test_traffic_first_runs_the_gate_then_shifts_all_then_retires_the_old(tmp_path):
    clock = Clock()
    fleet = GatedFleet(clock)
    at_gate = []

    def gate():
        at_gate.append((list(fleet.routes), dict(fleet.containers)))
        return []

    done, lines, states = run(fleet, clock, gate, tmp_path)
    assert done.old == ["web-1", "web-2"] and done.new == ["web-3", "web-4"]
    # while the gate runs: production on the old replicas only, the test target group on the new ones
    assert at_gate[0][0] == [(tuple(BLUE), tuple(GREEN), {})]
    assert all(at_gate[0][1][c] == "running" for c in ("web-1", "web-2", "web-3", "web-4"))
    # then all production at once, the test rule staying on the new ones (as ECS leaves it)
    assert fleet.routes[1] == (tuple(GREEN), tuple(GREEN), {})
    assert not any(entry[0] == "register" for entry in fleet.log)  # the production group moves by route only
    assert fleet.log[-1][:2] == ("retire", ("web-1", "web-2"))
    # every stage of ECS's lifecycle, in order, each reported with the split
    reported = [s for line in lines for s in STAGES if line.startswith(f"web: {s}")]
    assert reported == [s for s in STAGES if s != "BAKE_TIME"]  # no bake set
    assert any(
        "POST_TEST_TRAFFIC_SHIFT" in line and "production: blue 100% / green 0%; test: green" in line for line in lines
    )
    assert any(
        "PRODUCTION_TRAFFIC_SHIFT" in line and "production: blue 0% / green 100%; test: green" in line for line in lines
    )
    assert lines[-1].startswith("web: replaced 2 replica(s) blue_green in ")
    # the stage file followed the stages and is gone at the end
    assert [s["stage"] for s in states][:3] == ["RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP"]
    gate_state = next(s for s in states if s["stage"] == "POST_TEST_TRAFFIC_SHIFT")
    assert gate_state["split"] == "production: blue 100% / green 0%; test: green"
    assert gate_state["blue"] == ["web-1", "web-2"] and gate_state["green"] == ["web-3", "web-4"]
    assert in_progress(tmp_path) == {}


def test_a_failing_gate_removes_the_new_replicas_and_never_touches_the_old(tmp_path):
    clock = Clock()
    fleet = GatedFleet(clock)
    with pytest.raises(DeployFailed) as caught:
        run(fleet, clock, lambda: ["/healthz answers 200 ok", "the page loads"], tmp_path)
    msg = caught.value.message
    assert msg == ("web: the gate failed (/healthz answers 200 ok, the page loads); the new replicas got test traffic "
                   "only and are removed, the old replicas keep serving")  # fmt: skip
    # production never left the old replicas; the test rule goes back to them too
    assert [r[0] for r in fleet.routes] == [tuple(BLUE), tuple(BLUE)]
    assert fleet.routes[-1] == (tuple(BLUE), tuple(BLUE), {})
    retired = [e for e in fleet.log if e[0] == "retire"]
    assert retired == [("retire", ("web-3", "web-4"), 30, retired[0][3])]
    assert sorted(fleet.containers) == ["web-1", "web-2"]
    assert in_progress(tmp_path) == {}


def test_new_replicas_that_never_get_healthy_never_get_test_traffic():
    clock = Clock()
    fleet = GatedFleet(clock, exits=True)
    gate_ran = []
    with pytest.raises(DeployFailed, match="rolled back, the old replicas keep serving"):
        run(fleet, clock, lambda: gate_ran.append(1) or [])
    assert fleet.routes == [] and gate_ran == []
    assert sorted(fleet.containers) == ["web-1", "web-2"]


def test_canary_shifts_its_share_bakes_then_the_rest(tmp_path):
    clock = Clock()
    fleet = GatedFleet(clock)
    done, lines, _ = run(fleet, clock, tmp_path=tmp_path, strategy="canary", shift=(5.0, 2, 10.0, 6), bake_s=60)
    production = fleet.routes[1:]
    # 5 %: both sides in the production group, weighted 95:5 whatever the counts
    assert production[0][0] == tuple(sorted(BLUE + GREEN))
    w = production[0][2]
    assert sum(w[a] for a in GREEN) * 95 == sum(w[a] for a in BLUE) * 5
    assert production[1] == (tuple(GREEN), tuple(GREEN), {})
    assert any("production: blue 95% / green 5%; test: green" in line for line in lines)
    assert any(line.startswith("web: BAKE_TIME (60 s") for line in lines)
    # the canary's bake (2 min) and the deployment's (60 s) were waited for before the old ones went
    retire_at = next(e[3] for e in fleet.log if e[0] == "retire" and e[1] == ("web-1", "web-2"))
    assert retire_at >= 120 + 60


def test_linear_steps_and_their_bakes():
    assert steps("linear", step_percent=25.0, step_bake_minutes=1) == [
        *[type(steps("blue_green")[0])(p, 60) for p in (25.0, 50.0, 75.0)],
        type(steps("blue_green")[0])(100.0, 0),
    ]
    assert [s.green_percent for s in steps("linear", step_percent=33.0)] == [33.0, 66.0, 99.0, 100.0]
    assert [s.green_percent for s in steps("linear", step_percent=100.0)] == [100.0]
    assert [(s.green_percent, s.bake_s) for s in steps("canary", 0.1, 10)] == [(0.1, 600), (100.0, 0)]
    clock = Clock()
    fleet = GatedFleet(clock)
    run(fleet, clock, strategy="linear", shift=(5.0, 10, 50.0, 1))
    shares = [sum(r[2].get(a, 0) for a in GREEN) / max(1, sum(r[2].values())) for r in fleet.routes[1:-1]]
    assert shares == [0.5]
    assert fleet.routes[-1] == (tuple(GREEN), tuple(GREEN), {})


def test_a_gated_service_without_its_gate_is_refused():
    clock = Clock()
    with pytest.raises(DeployFailed, match="needs its gate"):
        replace(gated(), GatedFleet(clock), report=lambda m: None, clock=clock, sleep=clock.sleep)


def test_split_weights_are_exact_in_tenths_of_a_percent():
    for blue, green, pct in ((["a"], ["b"], 5.0), (["a", "b", "c"], ["d"], 0.1), (["a"], ["b", "c"], 33.3)):
        w = split_weights(blue, green, pct)
        g, b = sum(w[x] for x in green), sum(w[x] for x in blue)
        assert g * 1000 == round(pct * 10) * (g + b)
    assert split_weights(["a"], ["b"], 100.0) == {} and split_weights(["a"], ["b"], 0) == {}
    assert split_line(None, False) == "production: blue 100% / green 0%; test: blue"
    assert split_line(12.5, True) == "production: blue 87.5% / green 12.5%; test: green"


def test_the_edges_target_files_and_their_admin_answers():
    files = target_files(
        5171, "website-agent", ["10.0.0.1", "10.0.0.3"], ["10.0.0.3"], {"10.0.0.1": 950, "10.0.0.3": 50}
    )
    assert files["website-agent.conf"] == "server 10.0.0.1:5171 weight=950;\nserver 10.0.0.3:5171 weight=50;\n"
    assert files["website-agent.test.conf"] == "server 10.0.0.3:5171;\n"
    assert registered_answers(files) == {"/__edge/targets/website-agent": "10.0.0.1=950,10.0.0.3=50",
                                         "/__edge/targets/website-agent/test": "10.0.0.3"}  # fmt: skip
    argv, env = write_targets(files)
    assert argv[:2] == ["sh", "-c"] and argv[2].endswith("&& nginx -s reload")
    assert "10.0.0" not in argv[2] and sorted(env.values()) == sorted(files.values())  # contents by environment


def gated_stack(spec):
    spec["services"]["website-agent"]["deployment"] = {"strategy": "blue_green"}
    spec["edge"]["test_traffic"] = {"header": "X-Test-Traffic", "secret": "edge-test:value"}
    return validate(spec)


def _alb(conf: str) -> str:
    return conf.split("listen 81 reuseport;")[1].split("# ---- the edge's own admin")[0]


def test_the_edge_routes_the_test_header_to_the_test_target_group_only(spec):
    stack = gated_stack(spec)
    conf = render_edge(stack)
    assert gated_origins(stack) == ["website-agent"]
    # the rule: the header's value compared with the secret's (written at start), anything else -> 0
    rule = conf.split("map $http_x_test_traffic $test_traffic {")[1].split("}")[0]
    assert [line.strip() for line in rule.strip().splitlines()] == [
        "default 0;",
        "include /etc/nginx/test-traffic/accepted.conf;",
    ]
    pick = conf.split("map $test_traffic $tg_website_agent_route {")[1].split("}")[0]
    assert [line.strip() for line in pick.strip().splitlines()] == [
        "1 tg_website_agent_test;",
        "default tg_website_agent;",
    ]
    assert "upstream tg_website_agent_test {\n        include /etc/nginx/targets/website-agent.test.conf;" in conf
    # on the ALB part (behind the CloudFront part and its WAF), never on the viewer's own locations
    alb = _alb(conf)
    assert alb.count("proxy_pass http://$tg_website_agent_route;") == 2 and "tg_website_agent_test" not in alb
    viewer = conf.split("listen 80 reuseport;")[1].split("listen 81 reuseport;")[0]
    assert "test_traffic" not in viewer and "tg_website_agent" not in viewer
    # the admin surface lists the test target group, inside the container
    admin = conf.split("# ---- the edge's own admin")[1]
    assert "location = /__edge/targets/website-agent/test {" in admin
    assert default_targets(stack)["website-agent.test.conf"] == "server website-agent:5171;\n"
    # the value comes from the environment, checked, written with umask 077: never in the config
    assert edge_environment(stack)[-1] == TEST_TRAFFIC_ENV
    script = edge_command(stack)[2]
    assert f'case "${TEST_TRAFFIC_ENV}" in ""|*[!A-Za-z0-9_-]*)' in script
    assert '(umask 077 && printf \'"%s" 1;\\n\' "$EDGE_TEST_TRAFFIC" > /etc/nginx/test-traffic/accepted.conf)' in script


def test_a_rolling_service_has_no_test_rule(spec):
    spec["services"]["website-agent"]["deployment"] = {"strategy": "rolling"}
    spec["edge"]["test_traffic"] = {"header": "X-Test-Traffic", "secret": "edge-test:value"}
    stack = validate(spec)
    conf = render_edge(stack)
    assert gated_origins(stack) == [] and "test_traffic" not in conf and "_test" not in conf
    assert "proxy_pass http://tg_website_agent;" in _alb(conf)
    assert TEST_TRAFFIC_ENV not in edge_environment(stack) and "test-traffic" not in edge_command(stack)[2]


def test_the_local_stack_is_gated_and_its_settings_say_so():
    from parity.app.local.replace import Settings
    from parity.spec import load_stack

    from .conftest import ROOT

    stack = load_stack(ROOT, "local")
    web, crawler = Settings.of(stack, "website-agent"), Settings.of(stack, "crawler")
    assert (web.strategy, web.gated, web.bake_s) == ("blue_green", True, 0.0)
    assert not crawler.gated


def test_replace_gated_reports_a_gate_that_cannot_run_as_a_failed_gate():
    clock = Clock()
    fleet = GatedFleet(clock)
    with pytest.raises(DeployFailed, match=r"the gate failed \(the e2e run \(smoke\) failed before any check\)"):
        replace_gated(gated(), fleet, lambda: ["the e2e run (smoke) failed before any check"], report=lambda m: None,
                      clock=clock, sleep=clock.sleep)  # fmt: skip
    assert sorted(fleet.containers) == ["web-1", "web-2"]


def test_the_edge_and_the_gate_get_the_test_header_from_the_secret_never_a_bad_one(spec):
    from parity.app.local import secrets
    from parity.errors import SecretError

    from .test_secrets import MemoryStore

    stack = gated_stack(spec)
    good = "local-" + "x" * 30
    store = MemoryStore({"huskit/prod/edge-test": json.dumps({"value": good})})
    assert secrets.test_traffic_env(stack, store) == {TEST_TRAFFIC_ENV: good}
    assert secrets.test_header(stack, store) == {"X-Test-Traffic": good}
    for bad in ("short", 'has"quote-and-more-than-16'):
        with pytest.raises(SecretError) as caught:
            secrets.test_traffic_env(stack, MemoryStore({"huskit/prod/edge-test": json.dumps({"value": bad})}))
        assert bad not in str(caught.value) and "huskit/prod/edge-test" in str(caught.value)
    with pytest.raises(SecretError, match="secret huskit/prod/edge-test does not exist"):
        secrets.test_traffic_env(stack, MemoryStore())
    spec["services"]["website-agent"]["deployment"] = {"strategy": "rolling"}
    assert secrets.test_traffic_env(validate(spec), MemoryStore()) == {}  # no gated service: nothing asked


def test_the_gate_runs_the_smoke_checks_with_the_header_in_the_environment_and_names_the_failures(
    spec, tmp_path, monkeypatch
):
    from parity.app.checks import e2e_run
    from parity.app.local.gated import e2e_gate

    from .test_secrets import MemoryStore

    stack = gated_stack(spec)
    store = MemoryStore({"huskit/prod/edge-test": json.dumps({"value": "local-" + "y" * 30})})
    calls = []
    outcome = {"passed": True}

    def fake_run(root, base_url, marker=None, group=None, *, extra_env=None):
        calls.append((base_url, marker, extra_env))
        (tmp_path / "reports" / "e2e").mkdir(parents=True, exist_ok=True)
        checks = [{"name": "health", "outcome": "failed"}, {"name": "page", "outcome": "passed"}]
        (tmp_path / "reports" / "e2e" / "checks.json").write_text(json.dumps({"checks": checks}))
        return outcome["passed"]

    monkeypatch.setattr(e2e_run, "run_e2e", fake_run)
    assert e2e_gate(tmp_path, stack, store)() == []
    assert calls[0][:2] == (None, "smoke")
    assert json.loads(calls[0][2]["PARITY_E2E_HEADERS"]) == {"X-Test-Traffic": "local-" + "y" * 30}
    outcome["passed"] = False
    assert e2e_gate(tmp_path, stack, store, "smoke and not long")() == ["health"]
    assert calls[1][1] == "smoke and not long"


def test_status_lists_a_replacement_in_progress(tmp_path, capsys):
    from parity.adapters.docker import ContainerState
    from parity.console import status_json, status_table

    state = StateFile(tmp_path, "website-agent")
    state.write({"strategy": "canary", "stage": "PRODUCTION_TRAFFIC_SHIFT", "split": split_line(5.0, True)})
    found = in_progress(tmp_path)
    assert status_json([], {}, [], found)["deployments"]["website-agent"]["stage"] == "PRODUCTION_TRAFFIC_SHIFT"
    status_table([ContainerState(name="huskit-edge-1", service="edge", state="running", health="healthy")], {}, found)
    assert ("website-agent: canary replacement in progress, stage PRODUCTION_TRAFFIC_SHIFT; "
            "production: blue 95% / green 5%; test: green") in capsys.readouterr().out.replace("\n", " ")  # fmt: skip
    state.remove()
    assert in_progress(tmp_path) == {}
    # a file left by a process that is gone (an `inv up` killed mid-way) is no replacement in progress
    state.write({"stage": "SCALE_UP"})
    body = json.loads(state.path.read_text())
    state.path.write_text(json.dumps({**body, "pid": 2**22 + 12345}))
    assert in_progress(tmp_path) == {}


def test_an_edit_in_watch_mode_rolls_a_gated_service_unless_edits_are_gated(tmp_path):
    """The edit loop is timed in seconds and a gate in tens of them: `inv up
    --watch` rolls website-agent's edits; --gate-edits gates them with the
    smoke checks but the long ones. The crawler rolls either way."""
    from types import SimpleNamespace

    from parity.app.local.watch import edit_settings
    from parity.spec import load_stack

    from .conftest import ROOT
    from .test_secrets import MemoryStore

    session = SimpleNamespace(stack=load_stack(ROOT, "local"), ws=SimpleNamespace(root=tmp_path),
                              store=MemoryStore(), gate_edits=False)  # fmt: skip
    web, gate = edit_settings(session, "website-agent")
    assert (web.strategy, web.gated, gate) == ("rolling", False, None)
    session.gate_edits = True
    web, gate = edit_settings(session, "website-agent")
    assert (web.strategy, web.gated) == ("blue_green", True) and callable(gate)
    crawler, gate = edit_settings(session, "crawler")
    assert not crawler.gated and gate is None


def test_a_rolled_gated_service_keeps_its_test_target_group_on_the_production_replicas():
    """Outside a gated replacement the test listener rule forwards where
    production does (ECS leaves both rules on the new group): a rolling
    replacement of a gated service (an edit in watch mode) moves both, so a
    request with the test header never reaches a replica that is gone."""
    from parity.app.local.replace import DockerFleet
    from parity.spec import load_stack

    from .conftest import ROOT

    stack = load_stack(ROOT, "local")
    fleet = DockerFleet(stack, compose=None, docker=None, env={})
    routed = []
    fleet.route = lambda *args: routed.append(args)
    fleet.register("website-agent", ["10.0.0.3", "10.0.0.4"])
    assert routed == [("website-agent", ["10.0.0.3", "10.0.0.4"], ["10.0.0.3", "10.0.0.4"], {})]
