"""The edge: what production blocks, the local edge blocks; nothing gets around
either (issue 17).

- WAF's managed rules: requests get from the edge what the model of the
  rendered web ACL (prod's template, overrides and scope-down rules read from
  it) gives them; a 12 KB chat body carrying <script> passes on /api/chat and
  its reply streams for longer than CloudFront's 30 s;
- the origin lock: a request that skips CloudFront (straight at the ALB part)
  is refused without the secret header CloudFront adds;
- Host: the app gets the origin's name and the public host, not the viewer's Host;
- the response headers policy on every behaviour, and a module worker loaded
  from /assets/ by the isolated page, under that policy's CSP;
- the edge's own admin surface does not answer on the viewer's port.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from e2elib.sse import describe, parse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests/waf_corpus.py

from parity.render.edge import ALB_PORT, LOCAL_ORIGIN_HOST  # noqa: E402
from parity.render.parity_infra import infra_template  # noqa: E402
from parity.render.waf import Request, evaluate, web_acl_of  # noqa: E402
from parity.spec import load_stack  # noqa: E402
from tests.waf_corpus import CORPUS, UA, chat_body  # noqa: E402

# A few of the corpus, chosen to spend little of the run's WAF budgets (none on /api/auth/).
WAF_CHECKS = (
    "chat-path-case",
    "crawl-event-handler",
    "body-8193",
    "no-user-agent",
    "propfind",
    "long-query",
    "plain-page",
)
CHAT_SECONDS = 35


def _rendered_waf_verdict(request: Request):
    return evaluate(web_acl_of(infra_template(load_stack(Path(__file__).resolve().parents[1], "prod"))), request)


def _send(base_url: str, request: Request) -> httpx.Response:
    headers = dict(request.headers)
    with httpx.Client(base_url=base_url, timeout=20) as client:
        if "User-Agent" not in headers:
            client.headers.pop("user-agent", None)  # really without one
        return client.request(request.method, request.target, headers=headers, content=request.body or None)


@pytest.mark.smoke
@pytest.mark.parametrize("name", WAF_CHECKS)
def test_waf_managed_rules_answer_as_the_rendered_web_acl(base_url, name):
    """The edge answers a request as the rendered WAF (managed rules, overrides) would"""
    request = CORPUS[name]
    verdict = _rendered_waf_verdict(request)
    r = _send(base_url, request)
    if verdict.action == "block":
        assert r.status_code == verdict.status, (
            f"{name}: the rendered WAF blocks it ({verdict.rule}), the edge answered {r.status_code}"
        )
    else:
        assert r.status_code != 403, f"{name}: the rendered WAF lets it pass, the edge answered 403"


@pytest.mark.smoke
@pytest.mark.long
def test_chat_with_12kb_of_code_streams_its_reply_through_the_edge(base_url):
    """A 12 KB chat body with <script> passes the WAF on /api/chat and its SSE reply (35 s) arrives token by token"""
    body = chat_body(12 * 1024)
    request = Request("POST", f"/api/chat?seconds={CHAT_SECONDS}", UA, body)
    assert len(body) > 12 * 1024 and b"<script>" in body
    verdict = _rendered_waf_verdict(Request("POST", "/api/chat", UA, body))
    assert verdict.action == "allow", (
        f"the rendered WAF blocks the chat body ({verdict.rule}): the spec's override is gone"
    )
    events, start = [], time.monotonic()
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(10, read=5)) as client:
        with client.stream("POST", request.target, headers=request.headers, content=body) as r:
            assert r.status_code == 200, f"POST /api/chat answered {r.status_code}: {r.read()[:200]!r}"
            assert r.headers.get("content-type", "").startswith("text/event-stream")
            lines = ((time.monotonic() - start, line) for line in r.iter_lines())
            for event in parse(lines):
                events.append(event)
                if event.name == "done":
                    break
    tokens = [e for e in events if e.name == "token"]
    assert [e.id for e in tokens] == [str(n) for n in range(1, CHAT_SECONDS + 1)], describe(events)
    assert events[-1].name == "done" and json.loads(events[-1].data)["chars"] > 12 * 1000
    assert tokens[0].at < 2.5 and tokens[-1].at > CHAT_SECONDS - 2, f"not a live stream: {describe(events)}"


def _origin_secret(spec) -> str:
    import boto3

    dep = next(d for d in spec.local.dependencies.values() if d.kind == "localstack")
    sm = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{dep.publish}", region_name=spec.region,
                      aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    lock = spec.edge.origin_lock
    return json.loads(sm.get_secret_value(SecretId=spec.secret_name(lock.secret))["SecretString"])[lock.secret.key]


ALB_PROBE_SH = (
    'for h in none "$FORGED" "$ORIGIN"; do '
    'if [ "$h" = none ]; then curl -s -o /dev/null -w "%{http_code} " "$URL"; '
    'else curl -s -o /dev/null -w "%{http_code} " -H "X-Origin-Verify: $h" "$URL"; fi; done'
)


@pytest.mark.container
def test_a_request_that_skips_cloudfront_is_refused(local, spec):
    """Straight at the ALB part (skipping CloudFront and its WAF): 403 without the secret header, served with it"""
    if spec.edge.origin_lock is None:
        pytest.skip("the spec declares no origin lock")
    image = local.inspect(local.edge_container)["Image"]
    net = local.network("allow-listed-clients")
    env = {**os.environ, "ORIGIN": _origin_secret(spec), "FORGED": "x" * 32,
           "URL": f"http://{local.edge_container}:{ALB_PORT}/healthz"}  # fmt: skip
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", net, "-e", "ORIGIN", "-e", "FORGED", "-e", "URL", "--entrypoint", "sh",
         image, "-c", ALB_PROBE_SH],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-300:]
    assert proc.stdout.split() == ["403", "403", "200"], f"no header, a forged one, the secret: {proc.stdout}"


@pytest.mark.container
def test_the_app_gets_the_origins_host_and_the_public_host(http, local, spec):
    """Whatever Host the viewer sends, the app sees the origin's name and X-Forwarded-Host from PUBLIC_URL"""
    marker = f"/e2e-host-probe-{uuid.uuid4().hex}"
    r = http.get(marker, headers={"host": "evil.example", "x-forwarded-host": "evil.example"})
    assert r.status_code == 404
    public = spec.services["website-agent"].environment.get("PUBLIC_URL", "")
    want = f"host={LOCAL_ORIGIN_HOST} forwarded-host={re.sub(r'^https?://', '', public)}"
    deadline = time.monotonic() + 10
    seen = []
    while time.monotonic() < deadline:
        for c in local.containers("website-agent"):
            out = subprocess.run(["docker", "logs", "--tail", "200", c["Id"]], capture_output=True, text=True).stdout
            seen += [line for line in out.splitlines() if marker in line]
        if seen:
            break
        time.sleep(0.5)
    assert seen, f"{marker} never reached a website-agent replica"
    assert seen[0].endswith(want), f"the app saw: {seen[0]}"


PATHS = ["/", "/api/crawler/health", "/no-such-page", "/favicon.svg"]


@pytest.mark.smoke
def test_every_response_carries_the_response_headers_policy(http, spec):
    """CSP, HSTS, frame and referrer policies, nosniff and CORP on every behaviour; the bucket's objects also COEP"""
    asset = re.search(r'src="(/assets/[^"]+)"', http.get("/").text).group(1)
    problems = []
    for path, extra in [*((p, {}) for p in PATHS), (asset, spec.edge.static_response_headers)]:
        r = http.get(path)
        for name, value in {**spec.edge.response_headers, **extra}.items():
            if r.headers.get(name) != value:
                problems.append(f"{path}: {name} {r.headers.get(name)!r}")
    assert not problems, "; ".join(problems)


@pytest.mark.browser
def test_a_module_worker_from_assets_runs_isolated_under_the_csp(page):
    """The isolated page starts a module worker from /assets/ (the S3 behaviour), itself isolated; no CSP violation"""
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/")
    page.wait_for_function(
        "() => ['isolated', 'not isolated', 'failed'].includes(document.getElementById('worker-status').textContent)",
        timeout=10_000,
    )  # fmt: skip  (a function: the CSP forbids eval)
    assert page.locator("#worker-status").text_content() == "isolated"
    assert page.evaluate("self.crossOriginIsolated") is True
    assert not violations, violations


@pytest.mark.smoke
def test_the_edge_admin_surface_is_not_on_the_viewer_port(http):
    """/__edge/* is not the edge's: the app answers it (404), no replica address is listed"""
    for path in ("/__edge/health", "/__edge/targets/website-agent"):
        r = http.get(path)
        assert r.status_code == 404, f"{path}: HTTP {r.status_code}"
        assert not re.search(r"\d+\.\d+\.\d+\.\d+:\d+|^default$|^ok$", r.text.strip()), f"{path}: {r.text[:100]!r}"
