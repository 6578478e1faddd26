"""Security headers on what the services serve, and the WAF's rate-based rules.

The rate-limit check sends its burst from a throwaway container with an
address of its own, so it spends neither the run's budget (which every other
check shares) nor finds one spent by an earlier run. The allow-list check
proves the declared client range is the only way around the limits: its
containers are never blocked, and no address the host reaches the edge from
(a bridge gateway) is on the allow-list."""

import ipaddress
import json
import math
import random
import re
import uuid
from datetime import UTC, datetime

import pytest
from e2elib.local import docker
from e2elib.probe import BURST_SH, parse_burst

SAFE_REFERRER = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
WAF_NET_PREFIX = "parity-e2e-waf-"
PATHS = ["/", "/healthz", "/favicon.svg", "/api/crawler/health", "/no-such-page", "/api/no-such-endpoint"]


@pytest.mark.smoke
def test_security_headers(http):
    """nosniff and a safe Referrer-Policy everywhere, no X-Powered-By"""
    problems = []
    for path in PATHS:
        r = http.get(path)
        if r.headers.get("x-content-type-options", "").lower() != "nosniff":
            problems.append(f"{path}: X-Content-Type-Options {r.headers.get('x-content-type-options')!r}")
        if r.headers.get("referrer-policy", "").lower() not in SAFE_REFERRER:
            problems.append(f"{path}: Referrer-Policy {r.headers.get('referrer-policy')!r}")
        if "x-powered-by" in r.headers:
            problems.append(f"{path}: X-Powered-By {r.headers['x-powered-by']!r}")
    assert not problems, "; ".join(problems)


def _burst(local, path: str, count: int) -> tuple[list[str], float]:
    """`count` GETs of `path` from a client address the WAF has never seen.

    Docker hands a freed address straight to the next container, so a client
    on the stack's own network would inherit the spent budget of an earlier
    run. The client sits instead on a private network with a random subnet
    and address, which the edge joins for the burst (and leaves afterwards)."""
    edge = local.edge_container
    tag = uuid.uuid4().hex[:8]
    net, client = f"{WAF_NET_PREFIX}{tag}", f"parity-e2e-waf-client-{tag}"
    _remove_stale_networks()
    for _ in range(5):
        third = random.randrange(256)
        if docker("network", "create", "--subnet", f"10.231.{third}.0/24", net, check=False).returncode == 0:
            break
    else:
        pytest.fail("could not create a network for the WAF client (every subnet tried overlaps)", pytrace=False)
    try:
        docker("network", "connect", net, edge)
        return _burst_from(local, net, path, count, ip=f"10.231.{third}.{random.randrange(10, 250)}", name=client)
    finally:
        docker("network", "disconnect", "--force", net, edge, check=False)
        docker("network", "rm", net, check=False)


def _burst_from(local, net: str, path: str, count: int, ip: str | None = None, name: str | None = None):
    """`count` GETs of `path` from a throwaway container on `net` (the edge's image, its shell)."""
    edge = local.edge_container
    image = local.inspect(edge)["Image"]
    name = name or f"parity-e2e-waf-client-{uuid.uuid4().hex[:8]}"
    try:
        proc = docker(
            "run",
            "--rm",
            "--name",
            name,
            "--network",
            net,
            *(["--ip", ip] if ip else []),
            "--entrypoint",
            "sh",
            image,
            "-c",
            BURST_SH,
            "sh",
            f"http://{edge}{path}",
            str(count),
            timeout=120,
        )
    finally:
        docker("rm", "-f", name, check=False)
    return parse_burst(proc.stdout)


def _remove_stale_networks(older_than: float = 600) -> None:
    """Networks an interrupted run left behind (never one a parallel check is using)."""
    names = docker("network", "ls", "--filter", f"name={WAF_NET_PREFIX}", "--format", "{{.Name}}").stdout.split()
    for name in names:
        found = json.loads(docker("network", "inspect", name, check=False).stdout or "[]")
        if not found:  # removed between the listing and now, by the check that made it
            continue
        info = found[0]
        created = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", info.get("Created", "")).replace("Z", "+00:00"))
        if (datetime.now(UTC) - created).total_seconds() > older_than:
            for container in info.get("Containers") or {}:
                docker("network", "disconnect", "--force", name, container, check=False)
            docker("network", "rm", name, check=False)


def _mixed_case(prefix: str) -> str:
    """/api/auth/ -> /API/Auth/: what WAF still counts (it lowercases the path first)."""
    parts = prefix.strip("/").split("/")
    return "/" + "/".join([parts[0].upper(), *[p.capitalize() for p in parts[1:]]]) + "/"


def pytest_generate_tests(metafunc):
    if "rate_limit" in metafunc.fixturenames:
        rules = metafunc.config._e2e_stack.edge.rate_limits
        cases = [(r, r.path) for r in rules] + [(r, _mixed_case(r.path)) for r in rules]
        metafunc.parametrize(("rate_limit", "prefix"), cases, ids=[p for _, p in cases])


@pytest.mark.container
def test_waf_rate_limit(local, spec, rate_limit, prefix):
    """The WAF answers 429 past each rate-based rule's threshold, whatever the path's case"""
    path = prefix + "e2e-rate-limit-probe"
    # A request counts against every rule its lowercased path starts with: the tightest one binds.
    rl = min((r for r in spec.edge.rate_limits if path.lower().startswith(r.path)), key=lambda r: r.limit)
    codes, elapsed = _burst(local, path, rl.limit + 10)
    assert len(codes) == rl.limit + 10, f"the burst did not finish: {codes}"
    assert "000" not in codes, f"some requests got no answer: {codes}"
    passed = sum(1 for c in codes if c != "429")
    # The bucket refills at limit/window per second while the burst runs.
    refill = math.ceil(elapsed * rl.limit / rl.window) + 1
    first_429 = codes.index("429") if "429" in codes else None
    assert first_429 is not None, f"{path}: no 429 after {len(codes)} requests in {elapsed:.0f} s (limit {rl.limit})"
    assert rl.limit <= passed <= rl.limit + refill, (
        f"{path}: {passed} requests passed (limit {rl.limit} per {rl.window} s, refill allowance {refill}); codes {codes}"
    )
    assert first_429 >= rl.limit, f"{path}: 429 after only {first_429} requests (limit {rl.limit})"


def _allow_listed_network(local, spec) -> str:
    from parity.render.compose import CLIENTS_NETWORK

    if not spec.local.allow_listed_clients:
        pytest.skip("the spec declares no allow-listed clients (local.allow_listed_clients)")
    return local.network(CLIENTS_NETWORK)


@pytest.mark.container
def test_waf_allow_list_is_the_only_way_around(local, spec):
    """Containers on the allow-listed range are never rate-limited; no host address is on the allow-list"""
    net = _allow_listed_network(local, spec)
    rl = min(spec.edge.rate_limits, key=lambda r: r.limit)
    count = rl.limit + 10
    codes, _ = _burst_from(local, net, rl.path + "e2e-allow-list-probe", count)
    assert len(codes) == count and "000" not in codes, f"the burst did not finish: {codes}"
    assert "429" not in codes, f"an allow-listed client ({spec.local.allow_listed_clients}) was rate-limited: {codes}"

    # The host reaches the edge from a bridge gateway (127.0.0.1:8080 arrives from one of them):
    # none may be allow-listed. Read from the running edge, without spending the host's budget.
    conf = local.exec(local.edge_container, ["cat", "/etc/nginx/nginx.conf"]).stdout
    geo = re.search(r"geo \$waf_allowed \{(.*?)\}", conf, re.S)
    assert geo, "the running edge has no WAF allow-list (geo $waf_allowed)"
    allowed = [
        ipaddress.ip_network(c) for c, v in re.findall(r"^\s*([0-9a-fA-F:./]+)\s+(\d);", geo.group(1), re.M) if v == "1"
    ]
    gateways = {
        name: net_info["Gateway"]
        for name, net_info in local.inspect(local.edge_container)["NetworkSettings"]["Networks"].items()
        if net_info.get("Gateway")
    }
    assert net in gateways, f"the edge is not on {net}"
    exempt = [
        f"{name} gateway {gw}" for name, gw in gateways.items() if any(ipaddress.ip_address(gw) in a for a in allowed)
    ]
    assert not exempt, f"host addresses on the allow-list {[str(a) for a in allowed]}: {exempt}"
