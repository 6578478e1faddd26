"""Request splitting through the local edge (issue 17, finding 1): every
route of the rendered edge, fuzzed with encoded CR, LF, NUL, spaces, dot
segments, encoded slashes and overlong paths, against a recording origin
behind a real nginx running the rendered config. For each request either
exactly one request reaches the origin, with the path exactly as the viewer
sent it, or the edge refuses it and nothing reaches the origin.

No shared stack is used (a throwaway network, the edge's image and a
recorder): this module needs Docker and the stand-in images only."""

from __future__ import annotations

import itertools

import pytest

from parity.spec import load_stack

from .conftest import ROOT
from .edge_harness import dump, edge_with_recorder, lock_env, raw_request

pytestmark = pytest.mark.integration

# What follows a route's prefix. Each one is sent as is (already encoded).
PAYLOADS = {
    "crlf-header": "a%0d%0aX-Injected:%20yes",
    "crlf-request": "a%0d%0a%0d%0aPUT%20/huskit-static-assets-prod/assets/evil.js%20HTTP/1.1%0d%0aHost:%20localstack%0d%0a%0d%0a",
    "lf-only": "a%0aDELETE%20/x%20HTTP/1.1",
    "cr-only": "a%0dGET%20/x%20HTTP/1.1",
    "crlf-upper": "a%0D%0AX-Injected:%20yes",
    "nul": "a%00b.js",
    "space": "a%20b.js",
    "tab": "a%09b.js",
    "dot-dot-encoded-slash": "..%2f..%2fapi%2fsecret",
    "dot-dot-slash": "x/..%2f..%2f..%2fetc%2fpasswd",
    "encoded-dots": "%2e%2e/%2e%2e/secret",
    "double-encoded": "a%250d%250aX:1",
    "query-crlf": "a.js?x=%0d%0aX-Injected:%20yes",
    "query-space": "a.js?x=1%20HTTP/1.1%0d%0aX:1",
    "utf8": "caf%C3%A9.js",
    "plus-and-semicolon": "a+b;c=d.js",
    "long-1k": "L" * 1000,
    "long-4k": "L" * 4000,
    "long-9k": "L" * 9000,  # past nginx's 8k request-line buffer
    "long-64k": "L" * 65000,
}


def _cases(stack):
    return [(route, name) for route in sorted(r.path for r in stack.edge.routes) for name in PAYLOADS]


STACK = load_stack(ROOT, "local")
_fresh = itertools.count()


def _target(route: str, payload: str) -> str:
    """A path no earlier request used: the S3 behaviour caches, and a cached
    answer reaches no origin."""
    return f"{route}fz{next(_fresh)}-{PAYLOADS[payload]}"


def _expected(stack, route: str, target: str) -> str:
    """What must arrive: the path as sent (the S3 origin: under the bucket,
    without the query string, as CloudFront's caching behaviour forwards none)."""
    origin = next(r.origin for r in stack.edge.routes if r.path == route)
    if origin == "s3":
        return f"/{stack.edge.bucket}{target.split('?', 1)[0]}"
    return target


@pytest.fixture(scope="module")
def edge():
    from parity.app.workspace import Workspace, rendered

    ws = Workspace(root=ROOT)
    files = {p.name: text for p, text in rendered(STACK, ws).items() if p.parent == ws.edge_file.parent}
    with edge_with_recorder(STACK, files, env=lock_env()) as running:
        yield running


@pytest.mark.parametrize(("route", "payload"), _cases(STACK), ids=[f"{r}{p}" for r, p in _cases(STACK)])
def test_one_request_with_the_path_as_sent_or_none(edge, route, payload):
    target = _target(route, payload)
    before = len(edge.recorder.arrivals())
    status, response = raw_request(edge.port, target)
    arrived = edge.recorder.arrivals()[before:]
    if not arrived:
        assert 400 <= status < 500, f"{target[:80]}: nothing reached the origin, yet the edge answered {status}"
        return
    assert len(arrived) == 1, f"{target[:80]}: {len(arrived)} connections reached the origin: {dump(arrived)}"
    got = arrived[0]
    assert len(got.request_lines) == 1, f"{target[:80]}: {len(got.request_lines)} requests in one: {dump(arrived)}"
    assert got.target == _expected(STACK, route, target), f"{target[:80]}: arrived as {got.target[:120]!r}"
    assert got.header("X-Injected") is None, f"{target[:80]}: a header was injected: {dump(arrived)}"
    assert status == 200, f"{target[:80]}: the origin answered, the edge said {status}: {response[:200]!r}"


def test_the_fuzz_reaches_the_origin_at_all(edge):
    """The test above passes vacuously if the edge refuses everything: the
    harmless payloads must arrive on every route."""
    for route in sorted(r.path for r in STACK.edge.routes):
        for name in ("space", "utf8", "crlf-header"):
            before = len(edge.recorder.arrivals())
            target = _target(route, name)
            status, _ = raw_request(edge.port, target)
            arrived = edge.recorder.arrivals()[before:]
            assert status == 200 and len(arrived) == 1, f"{target}: HTTP {status}, {len(arrived)} arrivals"
