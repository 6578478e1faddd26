"""PARITY_E2E_HEADERS (contract item 2 of issue 20): the e2e suite adds the
extra headers to every request it makes, httpx's and Chromium's, and their
values appear nowhere in its output or its reports, even when a failing check
prints what the server echoed back."""

import json
import os
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "e2e"))

from e2elib.headers import ENV, extra_headers, redact  # noqa: E402

HEADER = "X-Test-Traffic"
PAGE = b'<!doctype html><html><body><div id="coi-status" data-state="done">false</div></body></html>'


class Recorder(BaseHTTPRequestHandler):
    """Records every request's path and headers; answers with them echoed,
    so a failing check's message would carry the secret if nothing masked it."""

    seen: list[tuple[str, dict[str, str]]] = []

    def _answer(self) -> None:
        headers = {k: v for k, v in self.headers.items()}
        Recorder.seen.append((self.path, headers))
        if self.path == "/":
            body, kind = PAGE, "text/html"
        else:
            body, kind = (
                json.dumps({"status": "not ok", "got": headers.get(HEADER), "headers": headers}).encode(),
                "application/json",
            )
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recorder():
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_extra_headers_parse_and_refuse_without_echoing_the_value():
    assert extra_headers({}) == {}
    assert extra_headers({ENV: ""}) == {}
    assert extra_headers({ENV: json.dumps({HEADER: "abc"})}) == {HEADER: "abc"}
    for bad in (
        "not json s3cr3t",
        '["s3cr3t"]',
        '{"bad name": "s3cr3t"}',
        '{"X-A": "s3cr3t\\r\\nX-B: 1"}',
        '{"X-A": 5}',
    ):
        with pytest.raises(ValueError) as caught:
            extra_headers({ENV: bad})
        assert "s3cr3t" not in str(caught.value) and ENV in str(caught.value)
    assert redact("a s3cr3t b s3cr3t", {"X": "s3cr3t"}) == "a *** b ***"


def test_every_request_of_the_suite_carries_the_headers_and_nothing_reports_the_value(recorder, tmp_path):
    value = secrets.token_urlsafe(24)
    reports = tmp_path / "e2e"
    junit = tmp_path / "junit.xml"
    env = {**os.environ, ENV: json.dumps({HEADER: value})}
    argv = [
        sys.executable, "-m", "pytest", "-c", "e2e/pytest.ini", "-p", "no:xdist", "--base-url", recorder,
        f"--reports-dir={reports}", f"--junitxml={junit}", "-q", "--tb=short", "-o", "junit_logging=all",
        "e2e/test_health.py::test_healthz_through_the_edge",  # httpx, through the `http` fixture; fails, echoing
        "e2e/test_page.py::test_page_is_cross_origin_isolated_in_browser",  # Chromium; fails (no COEP/COOP)
        "e2e/test_edge.py::test_waf_managed_rules_answer_as_the_rendered_web_acl[plain-page]",  # client.request
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]  # the checks ran (and failed against this server)
    assert "***" in output, "the echoed value was not masked in the failure text"
    paths = [p for p, _ in Recorder.seen]
    assert "/healthz" in paths and "/" in paths, paths
    assert len(paths) >= 3
    missing = [p for p, h in Recorder.seen if h.get(HEADER) != value]
    assert not missing, f"requests without the extra header: {missing}"
    assert value not in output
    written = [f for f in [junit, *reports.rglob("*")] if f.is_file()]
    assert any(f.name == "checks.json" for f in written)
    for f in written:
        assert value.encode() not in f.read_bytes(), f"{f.name} holds the header's value"
    assert not list(reports.glob("*-trace.zip")), "a trace (which keeps request headers) was written"


def test_a_malformed_value_stops_the_suite_with_one_line(recorder, tmp_path):
    env = {**os.environ, ENV: '{"X-Test-Traffic": 12}'}
    argv = [sys.executable, "-m", "pytest", "-c", "e2e/pytest.ini", "-p", "no:xdist", "--base-url", recorder,
            f"--reports-dir={tmp_path}", "-q", "e2e/test_health.py::test_healthz_through_the_edge"]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert f"{ENV}: the value of X-Test-Traffic is not a non-empty single-line string" in proc.stdout + proc.stderr
    assert Recorder.seen == []
