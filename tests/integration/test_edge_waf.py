"""The local edge as production's edge would answer, on a real nginx running
the rendered config in front of a recording origin (no shared stack):

- WAF's managed rules (finding 3): every request of the corpus gets from the
  local edge what the model of the rendered web ACL (prod's template) gives
  it: blocked with 403 before anything reaches the origin, or passed with its
  body intact. Among them a 12 KB chat body carrying <script>: passed on
  /api/chat, blocked on any other path;
- the origin lock (finding 2): the ALB part forwards only a request carrying
  the secret CloudFront adds (current or previous value) and answers
  everything else with 403, nothing reaching a target;
- Host (finding 4): the app gets the origin's name as Host and the public
  host as X-Forwarded-Host, whatever Host the viewer sent;
- the response headers policy (finding 5), on both kinds of behaviour;
- the edge's admin surface (finding 6) answers on neither port.
"""

from __future__ import annotations

import secrets

import pytest

from parity.render.edge import LOCAL_ORIGIN_HOST, admin_url
from parity.render.parity_infra import infra_template
from parity.render.waf import evaluate, web_acl_of
from parity.spec import load_stack

from ..waf_corpus import CORPUS, chat_body
from .conftest import ROOT, docker
from .edge_harness import dump, edge_with_recorder, lock_env, raw_request, response_headers

pytestmark = pytest.mark.integration

LOCAL = load_stack(ROOT, "local")
CURRENT, PREVIOUS = secrets.token_urlsafe(24), secrets.token_urlsafe(24)


def _files():
    from parity.app.workspace import Workspace, rendered

    ws = Workspace(root=ROOT)
    return {p.name: text for p, text in rendered(LOCAL, ws).items() if p.parent == ws.edge_file.parent}


@pytest.fixture(scope="module")
def edge():
    with edge_with_recorder(LOCAL, _files(), env=lock_env(CURRENT, PREVIOUS)) as running:
        yield running


def _send(edge, request, port=None, extra_headers=None):
    before = len(edge.recorder.arrivals())
    headers = {k: v for k, v in request.headers.items() if k.lower() != "user-agent"}
    ua = request.header("user-agent")
    status, response = raw_request(
        port or edge.port, request.target, request.method, {**headers, **({"User-Agent": ua} if ua else {}), **(extra_headers or {})},
        request.body, user_agent=False,
    )  # fmt: skip
    return status, response, edge.recorder.arrivals()[before:]


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_local_edge_answers_as_the_rendered_waf(edge, name):
    request = CORPUS[name]
    verdict = evaluate(web_acl_of(infra_template(load_stack(ROOT, "prod"))), request)
    status, response, arrived = _send(edge, request)
    if verdict.action == "block":
        assert status == verdict.status, (
            f"{name}: the rendered WAF blocks ({verdict.rule}) with {verdict.status}, the local edge said {status}"
        )
        assert not arrived, f"{name}: blocked, yet it reached the origin: {dump(arrived)}"
    else:
        assert status == 200, f"{name}: the rendered WAF lets it pass, the local edge said {status}: {response[:300]!r}"
        assert len(arrived) == 1 and arrived[0].body == request.body, f"{name}: the body did not arrive intact"


def test_a_12kb_chat_body_with_script_passes_on_the_chat_path_only(edge):
    body = chat_body(12 * 1024)
    assert len(body) > 12 * 1024 and b"<script>" in body
    for path, want in (("/api/chat", 200), ("/api/crawl", 403), ("/api/Chat", 403)):
        request = CORPUS["chat-12k-script"].__class__("POST", path, CORPUS["chat-12k-script"].headers, body)
        status, _, arrived = _send(edge, request)
        assert (status, len(arrived)) == (want, 1 if want == 200 else 0), path


def test_the_alb_forwards_only_with_the_secret_cloudfront_adds(edge):
    # through CloudFront: the current value is added (whatever the viewer sent in its place)
    status, _, arrived = _send(edge, CORPUS["plain-page"], extra_headers={"X-Origin-Verify": "forged"})
    assert status == 200 and arrived[0].header("X-Origin-Verify") == CURRENT
    # straight at the ALB: nothing without the header, nothing with a wrong one
    for headers in ({}, {"X-Origin-Verify": "forged"}, {"X-Origin-Verify": CURRENT[:-1]}, {"X-Origin-Verify": ""}):
        status, response, arrived = _send(edge, CORPUS["plain-page"], port=edge.alb_port, extra_headers=headers)
        assert status == 403 and not arrived, f"{headers}: {status} {response[:200]!r}"
    # the current and, during a rotation, the previous value are accepted
    for value in (CURRENT, PREVIOUS):
        status, _, arrived = _send(
            edge, CORPUS["plain-page"], port=edge.alb_port, extra_headers={"X-Origin-Verify": value}
        )
        assert status == 200 and len(arrived) == 1


def test_after_a_rotation_the_value_before_the_previous_one_is_refused():
    newer = secrets.token_urlsafe(24)
    with edge_with_recorder(LOCAL, _files(), env=lock_env(newer, CURRENT)) as rotated:
        for value, want in ((newer, 200), (CURRENT, 200), (PREVIOUS, 403)):
            status, _, arrived = _send(
                rotated, CORPUS["plain-page"], port=rotated.alb_port, extra_headers={"X-Origin-Verify": value}
            )
            assert (status, len(arrived)) == (want, 1 if want == 200 else 0)


def test_without_a_usable_secret_the_edge_does_not_start():
    with pytest.raises(AssertionError, match="EDGE_ORIGIN_VERIFY"):
        with edge_with_recorder(LOCAL, _files(), env=lock_env("bad value with spaces")):
            pass


def test_the_app_gets_the_origins_host_and_the_public_host(edge):
    status, _, arrived = _send(
        edge, CORPUS["plain-page"], extra_headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    )
    assert status == 200
    got = arrived[0]
    assert got.header("Host") == LOCAL_ORIGIN_HOST
    assert got.header("X-Forwarded-Host") == "127.0.0.1:8080"  # the host of PUBLIC_URL (deploy/local.yaml)
    assert got.header("X-Forwarded-For").endswith(", 127.0.0.1")  # the viewer, then CloudFront


def test_every_behaviour_carries_the_response_headers_policy(edge):
    wanted = {k.lower(): v for k, v in LOCAL.edge.response_headers.items()}
    for target, extra in (("/", {}), ("/api/stream", {}), ("/assets/app.js", LOCAL.edge.static_response_headers)):
        status, response = raw_request(edge.port, target)
        got = response_headers(response)
        for name, value in {**wanted, **{k.lower(): v for k, v in extra.items()}}.items():
            assert got.get(name) == value, f"{target}: {name} {got.get(name)!r}"


def test_the_edge_admin_surface_is_on_neither_port(edge):
    for port, headers in ((edge.port, {}), (edge.alb_port, {"X-Origin-Verify": CURRENT})):
        for path in ("/__edge/health", "/__edge/targets/website-agent"):
            status, response, arrived = _send(edge, CORPUS["plain-page"].__class__("GET", path, CORPUS["plain-page"].headers),
                                              port=port, extra_headers=headers)  # fmt: skip
            # what answers is the origin (the recorder), never the edge's own list of replicas
            assert status == 200 and len(arrived) == 1 and response.endswith(b"recorded\n"), (
                port,
                path,
                response[:200],
            )
    inside = docker("exec", edge.container, "wget", "-q", "-O", "-", admin_url("/__edge/targets/website-agent")).stdout
    assert inside.strip() == "default"
