"""Each e2e check fails when the property it guards is broken, and passes on
the real stack: proof that the checks can see what they claim to see.

The real stack's configuration is never touched. A broken variant is an extra
edge (``parity-e2e-broken-edge``, 127.0.0.1:8091) on the stack's networks,
running the rendered edge config with one mutation; the e2e check is run
against it (a real pytest process, ``-k`` that check) and must FAIL, then
against the real edge and must PASS. Network changes to the stack's own
containers (crawler isolation) are undone in ``finally``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from parity.render.edge import edge_command, edge_environment, render_edge
from parity.render.waf import render_waf_js
from parity.spec import load_stack

from .conftest import ROOT, containers_of, docker, inspect

pytestmark = pytest.mark.integration

REAL_EDGE = "http://127.0.0.1:8080"
BROKEN_PORT = 8091
CONTROL_PORT = 8092
OUT = ROOT / "reports" / "e2e-breakage"
SERVER_DEFAULTS = (
    "        proxy_buffering off;\n"  # anchor: the proxying settings (of the ALB part and each CloudFront behaviour)
)
VIEWER = "        listen 80 reuseport;\n        server_name _;\n"  # anchor: the CloudFront part (the viewer's port)


# ---- mutations of the rendered edge config (each asserts its anchor exists) -------------


def _replace(conf: str, old: str, new: str) -> str:
    assert old in conf, f"mutation anchor {old.strip()!r} not in the rendered edge config"
    return conf.replace(old, new)


def buffering_on(conf: str) -> str:
    """Response buffering at the edge: proxy buffering plus compression of the stream.

    Measured: nginx with `proxy_buffering on` alone still forwards each chunk
    as it arrives; what holds SSE back is a filter that collects output, as
    gzip does. X-Accel-Buffering stays ignored, so the service cannot opt out."""
    assert "proxy_ignore_headers X-Accel-Buffering" in conf
    conf = _replace(conf, SERVER_DEFAULTS, "        proxy_buffering on;\n")
    return _replace(
        conf, "    gzip off;\n", "    gzip on;\n    gzip_types text/event-stream;\n    gzip_min_length 0;\n"
    )


def coep_hidden(conf: str) -> str:
    return _replace(
        conf, SERVER_DEFAULTS, SERVER_DEFAULTS + "        proxy_hide_header Cross-Origin-Embedder-Policy;\n"
    )


def assets_short_cache(conf: str) -> str:
    return _replace(
        conf,
        "            proxy_hide_header Set-Cookie;\n",
        "            proxy_hide_header Set-Cookie;\n            proxy_hide_header Cache-Control;\n"
        '            add_header Cache-Control "public, max-age=60" always;\n',
    )


def powered_by(conf: str) -> str:
    return _replace(conf, SERVER_DEFAULTS, SERVER_DEFAULTS + '        add_header X-Powered-By "Express" always;\n')


def no_waf(conf: str) -> str:
    lines = conf.splitlines(keepends=True)
    kept = [line for line in lines if "limit_req zone=" not in line]
    assert len(kept) < len(lines), "no limit_req in the rendered edge config"
    return "".join(kept)


def cookie_flags_dropped(conf: str) -> str:
    return _replace(
        conf, SERVER_DEFAULTS, SERVER_DEFAULTS + "        proxy_cookie_flags session nohttponly nosamesite;\n"
    )


def healthz_down(conf: str) -> str:
    return _replace(conf, VIEWER, VIEWER + "        location = /healthz {\n            return 503;\n        }\n")


def crawl_not_stored(conf: str) -> str:
    """An edge that answers /api/crawl itself with what the page expects to see
    (the fixture's real title and links) but never reaches the crawler, so
    nothing is stored: only the MongoDB part of the pipeline check can notice."""
    html = (ROOT / "services" / "fixture-site" / "public" / "index.html").read_text()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()
    links = [
        {"url": f"http://fixture-site/{p}", "text": p} for p in ("index.html", "menu.html", "hours.html", "about.html")
    ]
    body = json.dumps({"id": "0" * 24, "url": "http://fixture-site/", "status": 200, "title": title, "links": links})
    route = (
        "        location = /api/crawl {\n            default_type application/json;\n"
        f"            return 200 '{body}';\n        }}\n"
    )
    return _replace(conf, VIEWER, VIEWER + route)


def crawler_routed(conf: str) -> str:
    # What a careless route would do: hand a path to the crawler (the edge also joins its network).
    route = (
        "        location /crawler/ {\n            set $crawler crawler.internal:4999;\n"
        "            rewrite ^/crawler(/.*)$ $1 break;\n            proxy_pass http://$crawler;\n        }\n"
    )
    return _replace(conf, VIEWER, VIEWER + route)


def origin_lock_off(conf: str) -> str:
    """An ALB part that forwards whatever reaches it (no listener rule on the secret header)."""
    return _replace(conf, '        if ($origin_verified = 0) { return 403 "Forbidden\\n"; }\n', "")


def managed_rules_off(conf: str) -> str:
    """Behaviours that go straight to their origin: WAF's managed rules never run."""
    out, n = re.subn(r"set \$waf_next (@\w+);\n(\s+)js_content waf\.screen;", r"try_files /nonexistent \1;", conf)
    assert n >= 2, "no WAF screening in the rendered edge config"
    return out


def security_headers_off(conf: str) -> str:
    lines = conf.splitlines(keepends=True)
    kept = [line for line in lines if "add_header Content-Security-Policy" not in line]
    assert len(kept) < len(lines), "no Content-Security-Policy in the rendered edge config"
    return "".join(kept)


def admin_on_viewer_port(conf: str) -> str:
    return _replace(
        conf,
        VIEWER,
        VIEWER + "        # broken: the edge's admin surface on the viewer's port\n"
        "        location = /__edge/targets/website-agent {\n"
        "            include /etc/nginx/targets/website-agent.registered;\n        }\n",
    )


def viewer_host_passed(conf: str) -> str:
    return _replace(conf, "proxy_set_header Host alb.internal;", "proxy_set_header Host $http_host;")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    mutate: Callable[[str], str]
    checks: str  # pytest -k expression selecting the e2e checks that must notice
    extra: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()  # more stack networks for the broken edge
    container_checks: bool = False  # the checks use the broken edge as "the edge container"
    control: bool = False  # the passing run uses an unmodified copy of the edge, not the real one


CASES = [
    Case(
        "sse-buffered",
        buffering_on,
        "test_sse_stream_over_http or test_sse_stream_in_browser",
        ("--stream-seconds", "8"),
    ),
    Case(
        "coep-missing",
        coep_hidden,
        "test_page_has_coep_and_coop_headers or test_page_is_cross_origin_isolated_in_browser",
    ),
    Case("assets-short-cache", assets_short_cache, "test_hashed_assets_are_immutable"),
    Case("x-powered-by", powered_by, "test_security_headers"),
    Case("waf-off", no_waf, "test_waf_rate_limit", container_checks=True),
    # The auth check spends 8 of the host's 20 auth requests per 300 s on the edge it talks to:
    # its passing run uses a fresh copy of the edge (same config) so the real edge's budget stays whole.
    Case("cookie-flags-dropped", cookie_flags_dropped, "test_auth_flow", control=True),
    Case("healthz-down", healthz_down, "test_healthz_through_the_edge"),
    Case("crawl-not-stored", crawl_not_stored, "test_crawl_pipeline_in_browser", container_checks=True),
    Case("crawler-routed", crawler_routed, "test_crawler_not_reachable_through_edge_paths", networks=("internal",)),
    # issue 17: the edge's own checks
    Case(
        "origin-lock-off",
        origin_lock_off,
        "test_a_request_that_skips_cloudfront_is_refused",
        container_checks=True,
        networks=("allow-listed-clients",),
    ),
    Case("managed-rules-off", managed_rules_off, "test_waf_managed_rules_answer_as_the_rendered_web_acl and not plain"),
    Case("security-headers-off", security_headers_off, "test_every_response_carries_the_response_headers_policy"),
    Case("admin-on-viewer-port", admin_on_viewer_port, "test_the_edge_admin_surface_is_not_on_the_viewer_port"),
    Case(
        "viewer-host-passed",
        viewer_host_passed,
        "test_the_app_gets_the_origins_host_and_the_public_host",
        container_checks=True,
    ),
]


# ---- running e2e checks in a real pytest process ------------------------------------------


@dataclasses.dataclass
class Run:
    returncode: int
    tests: int
    failures: int
    errors: int
    skipped: int
    output: str

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


def run_checks(tag: str, base_url: str, select: str, *extra: str) -> Run:
    junit = OUT / f"{tag}.xml"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        "e2e/pytest.ini",
        "e2e",
        "--base-url",
        base_url,
        "-k",
        select,
        "-n",
        "2",
        f"--junitxml={junit}",
        f"--reports-dir={OUT / tag}",
        "-q",
        "--tb=line",
        *extra,
    ]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    with contextlib.suppress(OSError, ET.ParseError):
        for suite in ET.parse(junit).getroot().iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
    return Run(proc.returncode, output=(proc.stdout + proc.stderr)[-4000:], **counts)


# ---- the stack and extra edges ------------------------------------------------------------


@pytest.fixture(scope="module")
def live(stack):
    """The stack in a known state: `inv up` (seconds when nothing changed) also
    re-seeds a LocalStack that restarted empty, which a merely healthy-looking
    stack would not show."""
    OUT.mkdir(parents=True, exist_ok=True)
    return load_stack(ROOT, "local")


@contextlib.contextmanager
def extra_edge(stack, conf: str, name: str, port: int, networks: tuple[str, ...] = ()) -> Iterator[str]:
    """An extra edge container on the stack's networks serving ``conf`` on 127.0.0.1:``port``."""
    real = inspect(containers_of("edge")[0])
    image = real["Image"]
    folder = Path(tempfile.mkdtemp(prefix="parity-e2e-edge-"))
    (folder / "nginx.conf").write_text(conf)
    (folder / "waf.js").write_text(render_waf_js(stack))
    for f in folder.iterdir():
        f.chmod(0o644)
    # the origin lock's values, as the real edge got them (through the docker CLI's environment, never argv)
    names = edge_environment(stack)
    env = {**os.environ, **{k: v for k, _, v in (e.partition("=") for e in real["Config"]["Env"]) if k in names}}
    docker("rm", "-f", name, check=False)
    try:
        started = subprocess.run(
            ["docker", "run", "-d", "--name", name, "--network", f"{stack.project}_public", "-p", f"127.0.0.1:{port}:80",
             *[f"--env={n}" for n in names], "-v", f"{folder / 'nginx.conf'}:/etc/nginx/nginx.conf:ro",
             "-v", f"{folder / 'waf.js'}:/etc/nginx/waf.js:ro", image,
             *edge_command(stack)],  # as the stack starts its edge (target groups, origin lock)
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        for net in ("aws", *networks):
            docker("network", "connect", f"{stack.project}_{net}", name)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if (
                    httpx.get(f"{url}/", timeout=2).status_code == 200
                ):  # through the whole edge (a mutation may break /healthz)
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                logs = docker("logs", "--tail", "20", name, check=False)
                raise AssertionError(f"{name} did not start: {logs.stdout}{logs.stderr}")
            time.sleep(0.3)
        yield url
    finally:
        docker("rm", "-f", name, check=False)
        shutil.rmtree(folder, ignore_errors=True)


# ---- the proofs -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_fails_when_its_property_breaks(live, case: Case):
    broken_name = "parity-e2e-broken-edge"
    conf = case.mutate(render_edge(live))
    with extra_edge(live, conf, broken_name, BROKEN_PORT, case.networks) as url:
        extra = (*case.extra, *(("--edge-container", broken_name) if case.container_checks else ()))
        broken = run_checks(f"{case.name}-broken", url, case.checks, *extra)
    assert broken.tests >= 1 and broken.failures == broken.tests, (
        f"{case.name}: the checks ({case.checks}) did not all fail on the broken edge: "
        f"{broken.passed} passed, {broken.skipped} skipped, {broken.errors} errors\n{broken.output}"
    )

    if case.control:
        with extra_edge(live, render_edge(live), "parity-e2e-control-edge", CONTROL_PORT) as url:
            good = run_checks(f"{case.name}-control", url, case.checks, *case.extra)
    else:
        good = run_checks(f"{case.name}-real", REAL_EDGE, case.checks, *case.extra)
    assert good.returncode == 0 and good.passed == good.tests == broken.tests, (
        f"{case.name}: the checks do not pass on the {'control' if case.control else 'real'} edge\n{good.output}"
    )


def _networks(container: str) -> dict[str, dict]:
    return inspect(container)["NetworkSettings"]["Networks"]


def test_isolation_check_fails_when_the_crawler_joins_the_public_network(live):
    check = "test_crawler_not_reachable_from_edge_container"
    crawler = containers_of("crawler")[0]
    public = f"{live.project}_public"
    before = sorted(_networks(crawler))
    assert public not in before
    try:
        docker("network", "connect", public, crawler)
        broken = run_checks("crawler-on-public", REAL_EDGE, check)
    finally:
        docker("network", "disconnect", "--force", public, crawler, check=False)
    assert sorted(_networks(crawler)) == before, "the crawler's networks were not restored"
    assert broken.tests == 1 and broken.failures == 1, (
        f"the isolation check passed with the crawler on public\n{broken.output}"
    )
    good = run_checks("crawler-isolated", REAL_EDGE, check)
    assert good.returncode == 0 and good.passed == 1, good.output


def test_reachability_check_fails_when_a_replica_loses_the_internal_network(live):
    check = "test_crawler_reachable_from_each_website_agent_replica"
    replica = sorted(containers_of("website-agent"))[-1]
    internal = f"{live.project}_internal"
    before = _networks(replica)
    aliases = [a for a in (before[internal].get("Aliases") or []) if a]
    try:
        docker("network", "disconnect", internal, replica)
        broken = run_checks("replica-cut-off", REAL_EDGE, check)
    finally:
        if internal not in _networks(replica):
            docker("network", "connect", *[f"--alias={a}" for a in aliases], internal, replica)
    assert sorted(_networks(replica)) == sorted(before), "the replica's networks were not restored"
    assert broken.tests == 1 and broken.failures == 1, (
        f"the reachability check passed with a replica cut off\n{broken.output}"
    )
    good = run_checks("replica-restored", REAL_EDGE, check)
    assert good.returncode == 0 and good.passed == 1, good.output


def test_mutations_change_only_a_few_lines():
    """Each broken edge differs from the real one by its mutation alone."""
    conf = render_edge(load_stack(ROOT, "local"))
    for case in CASES:
        changed = set(case.mutate(conf).splitlines()) ^ set(conf.splitlines())
        assert 0 < len(changed) <= 8, (case.name, sorted(changed))
