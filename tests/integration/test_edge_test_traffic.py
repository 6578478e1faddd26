"""The test listener rule on a real nginx running the rendered edge (the
local stack's config, website-agent gated) in front of a recording origin;
no shared stack:

- a request through the viewer's port carrying the test header with the
  secret's value reaches the test target group (another recorder port here)
  and nothing else; without the header, or with a wrong value, the
  production one; the raw request URI reaches either as sent;
- test traffic passes the WAF like any request (a blocked one reaches no one);
- the ALB part still forwards nothing without the origin lock;
- weights in the production target group split production traffic;
- the edge switches both groups in one graceful reload (the same command
  `inv up` runs), and its admin surface answers what each holds.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter

import pytest

from parity.app.local.replace import registered_answers, write_targets
from parity.render.edge import TEST_TRAFFIC_ENV, admin_url, render_registered
from parity.spec import load_stack

from ..waf_corpus import CORPUS
from .conftest import ROOT, docker
from .edge_harness import edge_with_recorder, lock_env, raw_request

pytestmark = pytest.mark.integration

LOCAL = load_stack(ROOT, "local")
VALUE = secrets.token_urlsafe(24)
HEADER = LOCAL.edge.test_traffic.header if LOCAL.edge.test_traffic else "X-Test-Traffic"
BLUE_PORT = LOCAL.services["website-agent"].port
GREEN_PORT = 5999  # the recorder's stand-in for the new replicas


def _files():
    from parity.app.workspace import Workspace, rendered

    ws = Workspace(root=ROOT)
    return {p.name: text for p, text in rendered(LOCAL, ws).items() if p.parent == ws.edge_file.parent}


def route(edge, production: str, weights: dict[str, int] | None = None, test_port: int = GREEN_PORT) -> None:
    """Both target groups, written and reloaded by the command DockerFleet.route
    runs; the members are the recorder's alias on two ports (blue: the
    service's, green: GREEN_PORT), the admin answers name them by port."""
    port = {"blue": BLUE_PORT, "green": GREEN_PORT}
    if production == "split":
        w = weights or {}
        members = {f"website-agent:{port[side]}": w[side] for side in ("blue", "green")}
    else:
        members = {f"website-agent:{port[production]}": 0}
    files = {
        "website-agent.conf": "".join(f"server {m}" + (f" weight={n}" if n else "") + ";\n" for m, n in members.items()),
        "website-agent.registered": render_registered([m.split(":")[1] for m in members],
                                                      {m.split(":")[1]: n for m, n in members.items() if n}),
        "website-agent.test.conf": f"server website-agent:{test_port};\n",
        "website-agent.test.registered": render_registered([str(test_port)]),
    }  # fmt: skip
    argv, env = write_targets(files)
    docker("exec", *[f"--env={k}={v}" for k, v in env.items()], edge.container, *argv)
    want = registered_answers(files)
    got: dict[str, str] = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = {p: docker("exec", edge.container, "wget", "-q", "-O", "-", admin_url(p)).stdout.strip() for p in want}
        if got == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"the edge did not answer {want}: {got}")


@pytest.fixture(scope="module")
def edge():
    assert LOCAL.edge.test_traffic and LOCAL.services["website-agent"].deployment.gated, (
        "deploy/local.yaml gates website-agent"
    )
    with edge_with_recorder(
        LOCAL, _files(), env={**lock_env(), TEST_TRAFFIC_ENV: VALUE}, extra_ports=(GREEN_PORT,)
    ) as running:
        yield running


def send(edge, target: str, headers: dict[str, str] | None = None, port: int | None = None, method: str = "GET"):
    before = len(edge.recorder.arrivals())
    status, _ = raw_request(port or edge.port, target, method, headers or {})
    return status, edge.recorder.arrivals()[before:]


def test_the_test_header_reaches_the_test_target_group_only(edge):
    route(edge, "blue")
    status, arrived = send(edge, "/api/x%2F..%0d%0aY?q=%41", {HEADER: VALUE})
    assert status == 200 and [a.port for a in arrived] == [GREEN_PORT]
    assert arrived[0].target == "/api/x%2F..%0d%0aY?q=%41"  # the raw URI, through the variable's proxy_pass
    for headers in ({}, {HEADER: VALUE[:-1]}, {HEADER: VALUE + "x"}, {HEADER: ""}, {"X-Other": VALUE}):
        status, arrived = send(edge, "/healthz", headers)
        assert status == 200 and [a.port for a in arrived] == [BLUE_PORT], headers
    status, arrived = send(edge, "/", {HEADER: VALUE})
    assert [a.port for a in arrived] == [GREEN_PORT]


def test_test_traffic_passes_the_waf_like_any_request(edge):
    route(edge, "blue")
    blocked = CORPUS["crawl-event-handler"]
    status, arrived = raw_request(
        edge.port, blocked.target, blocked.method, {**dict(blocked.headers), HEADER: VALUE}, blocked.body
    )
    assert status == 403
    assert not [a for a in edge.recorder.arrivals() if a.target == blocked.target]


def test_the_alb_part_still_wants_the_origin_lock(edge):
    route(edge, "blue")
    status, arrived = send(edge, "/healthz", {HEADER: VALUE}, port=edge.alb_port)
    assert status == 403 and arrived == []


def test_production_weights_split_and_the_test_group_stays(edge):
    route(edge, "split", {"blue": 3, "green": 1})
    counts = Counter(a.port for n in range(80) for a in send(edge, f"/healthz?n={n}")[1])
    assert sum(counts.values()) == 80
    # nginx's weighted round robin, per worker (4): 3:1 within a worker's share, so near 60:20
    assert 50 <= counts[BLUE_PORT] <= 70 and 10 <= counts[GREEN_PORT] <= 30, counts
    status, arrived = send(edge, "/healthz", {HEADER: VALUE})
    assert [a.port for a in arrived] == [GREEN_PORT]
    route(edge, "green")
    counts = Counter(a.port for n in range(20) for a in send(edge, f"/healthz?m={n}")[1])
    assert counts == {GREEN_PORT: 20}
    # the gate failed: the test rule back on the old replicas
    route(edge, "blue", test_port=BLUE_PORT)
    status, arrived = send(edge, "/healthz", {HEADER: VALUE})
    assert [a.port for a in arrived] == [BLUE_PORT]


def test_an_edge_without_the_test_secret_refuses_to_start():
    with pytest.raises(AssertionError, match=r"EDGE_TEST_TRAFFIC \(the test traffic secret\) is missing"):
        with edge_with_recorder(LOCAL, _files(), env=lock_env(), test_secret=False):
            pass
