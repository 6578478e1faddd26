"""`inv parity` against the real local stack and the moto ECS emulator: clean
when nothing was touched, and a container changed by hand shows up."""

import re

import pytest

from .conftest import containers_of, docker, inspect, inv

pytestmark = pytest.mark.integration


def verdicts(out: str) -> list[tuple[str, str]]:
    """(verdict, field) of every difference listed."""
    return re.findall(r"^\s+(NG|ok|--)\s+(\S+)", out, flags=re.M)


def test_the_running_stack_matches_the_spec(stack):
    proc = inv("parity")
    assert "parity: every difference is declared (local)" in proc.stdout
    # running vs spec vs rendered: nothing differs; the only differences are the local
    # network's (a Docker network admits both ways; the edge's host clients) and the managed
    # rules the local edge does not emulate, each declared
    assert sorted(verdicts(proc.stdout)) == [
        ("ok", "edge.ingress"),
        ("ok", "edge.waf.rules"),
        ("ok", "ingress"),
        ("ok", "ingress"),
    ]
    assert "not emulated locally: AWSManagedRulesKnownBadInputsRuleSet/Host_localhost_HEADER" in proc.stdout


def test_the_running_edge_matches_prods_waf_cloudfront_and_alb(stack):
    """Managed rule overrides, the origin lock and the response headers: the running edge against prod's template."""
    proc = inv("parity", "--env", "prod")
    assert "parity: every difference is declared (prod)" in proc.stdout
    edge = {field for v, field in verdicts(proc.stdout.split("\nedge:", 1)[1])}
    # declared: the listener (no certificate locally), PUBLIC_URL (prod has none yet), what is not emulated
    assert edge == {"edge.ingress", "edge.listener", "edge.forwarded_host", "edge.waf.rules"}, proc.stdout


def test_limits_changed_by_hand_show_up_and_fail(stack):
    (crawler,) = containers_of("crawler")
    host = inspect(crawler)["HostConfig"]
    docker("update", "--cpus", "1", "--memory", "1g", "--memory-swap", "2g", crawler)
    try:
        proc = inv("parity", check=False)
    finally:
        docker("update", "--cpus", str(host["NanoCpus"] / 1e9), "--memory", str(host["Memory"]),
               "--memory-swap", str(host["MemorySwap"]), crawler)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert ["NG", "cpu", "running=1024", "spec", "local=2048"] == lines[[w[:2] for w in lines].index(["NG", "cpu"])][:5]
    assert any(w[:3] == ["NG", "memory", "running=1024"] for w in lines)
    assert "parity: 2 undeclared differences" in proc.stderr
    assert inv("parity").returncode == 0  # restored


def test_live_in_the_emulator_after_a_promote(stack):
    inv("promote", "--env", "local", "--force")
    proc = inv("parity", "--env", "local")
    # the live task definitions say what the rendered ones say, and run the
    # images just pushed: the same on every side
    assert "live local: ECS in" in proc.stdout
    for service in ("website-agent", "crawler"):
        assert re.search(
            rf"^{service}: \d+ differences \(\d+ fields the same on every side: [^)]*rendered, live\b",
            proc.stdout,
            re.M,
        )
    assert all(
        field in ("ingress", "edge.ingress", "edge.waf.rules") and v == "ok" for v, field in verdicts(proc.stdout)
    ), proc.stdout
