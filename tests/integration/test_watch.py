"""`inv up --watch` on the real stack, started as a user starts it:

- an edit of either service's server code is served through the edge (the
  website-agent by a rolling replacement under load: nothing fails), and the
  watcher times it phase by phase from the save; a server edit uploads no
  client file (the bucket holds them all already);
- an edit of the web client is rebuilt, synced to the bucket, served through
  the edge under its new hashed name, and the edge's cache is emptied (as
  promote invalidates CloudFront);
- an edit that does not build, or builds a server that never starts, is not
  applied: the watcher says why in one line, the old replicas keep serving,
  and the next good edit is applied.

How fast an edit is served is a figure of `inv bench` (edit_to_served_s),
not asserted here. Every edit is undone in a ``finally`` and the undo is
waited for, so each test starts from the committed source."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from parity.app.benchmarks.bench_loop import Load
from parity.app.local.watch import PHASES, parse_served

from .conftest import ROOT, containers_of, inspect, inv

pytestmark = pytest.mark.integration

EDGE = "http://127.0.0.1:8080"
WEB = ROOT / "services" / "website-agent"
CRAWLER = ROOT / "services" / "crawler"
BOUND = 120  # seconds for one change to be applied: generous, the figure is the bench's


class Watcher:
    """`inv up --watch` in a subprocess; its output collected line by line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", "up", "--watch"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, since: int = 0, bound: float = BOUND) -> str:
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            for line in self.lines[since:]:
                if re.search(pattern, line):
                    return line
            assert self.proc.poll() is None, f"the watcher exited {self.proc.returncode}:\n" + "\n".join(
                self.lines[-30:]
            )
            time.sleep(0.2)
        raise AssertionError(
            f"the watcher did not print /{pattern}/ within {bound:.0f} s:\n" + "\n".join(self.lines[-30:])
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def watcher() -> Iterator[Watcher]:
    inv("up", timeout=600)
    w = Watcher()
    try:
        w.wait_for(r"watching services/website-agent, services/crawler", bound=600)
        yield w
    finally:
        w.stop()
        inv("up", timeout=600)  # whatever the watcher left half-applied is brought in line


@contextmanager
def edited(w: Watcher, path: Path, find: str, replace: str, undone: Callable[[], bool]) -> Iterator[None]:
    """``path`` with one change; undone on exit, and the undo waited for (``undone``)."""
    original = path.read_text()
    assert original.count(find) == 1, f"{find!r} is not once in {path}"
    path.write_text(original.replace(find, replace, 1))
    try:
        yield
    finally:
        path.write_text(original)
        assert poll(undone), "the undo was not served:\n" + "\n".join(w.lines[-30:])
        time.sleep(2)  # the watcher drains and stops the replaced replicas


def poll(check: Callable[[], bool], bound: float = BOUND) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


def text(path: str) -> str:
    return httpx.get(f"{EDGE}{path}", timeout=10).text


def served_phases(w: Watcher, service: str, since: int) -> dict[str, float]:
    """The phases of the watcher's ``served ... after the save`` line for ``service``."""
    found = [got[1] for line in w.lines[since:] if (got := parse_served(line)) and got[0] == service]
    assert found, f"no served line for {service}:\n" + "\n".join(w.lines[since:])
    assert all(v >= 0 for v in found[0].values()), found[0]
    return found[0]


def test_server_edit_of_website_agent_is_rolled_out_under_load(watcher):
    marker = uuid.uuid4().hex[:8]
    since = len(watcher.lines)
    find = "res.status(200).json({ status: 'ok', "
    with edited(
        watcher,
        WEB / "src" / "app.ts",
        find,
        f"res.status(200).json({{ status: 'ok', watch: '{marker}', ",
        undone=lambda: marker not in text("/healthz"),
    ):
        with Load(EDGE) as load:
            assert poll(lambda: marker in text("/healthz")), "the edit was not served:\n" + "\n".join(
                watcher.lines[-30:]
            )
            watcher.wait_for(r"website-agent updated in", since)
        assert any("website-agent: replaced 2 replica(s)" in line for line in watcher.lines[since:])
        assert list(served_phases(watcher, "website-agent", since)) == list(PHASES)
        assert any("synced 0 static files" in line for line in watcher.lines[since:])
        assert not any("emptied the edge's cache" in line for line in watcher.lines[since:])
        assert load.ok > 50, f"only {load.ok} requests went through"
        assert not load.failed, f"{len(load.failed)} of {load.ok + len(load.failed)} requests failed: {load.failed[:5]}"
        assert load.retried <= 4, f"{load.retried} requests met a keep-alive connection the edge closed unanswered"


def test_server_edit_of_the_crawler_is_served_through_the_web(watcher):
    marker = uuid.uuid4().hex[:8]
    since = len(watcher.lines)
    with edited(
        watcher,
        CRAWLER / "crawler_app" / "app.py",
        '"browser": browser,',
        f'"browser": browser, "watch": "{marker}",',
        undone=lambda: marker not in text("/api/crawler/health"),
    ):
        assert poll(lambda: marker in text("/api/crawler/health")), "not served:\n" + "\n".join(watcher.lines[-30:])
        watcher.wait_for(r"crawler: replaced 1 replica", since)
        assert list(served_phases(watcher, "crawler", since)) == list(PHASES)


def asset_urls() -> list[str]:
    return re.findall(r'(?:href|src)="(/assets/[^"]+)"', text("/"))


def test_client_edit_is_synced_to_the_bucket_and_the_edge_cache_emptied(watcher):
    marker = uuid.uuid4().hex[:8]
    before = asset_urls()
    assert before, "the page links no /assets/"
    old_js = next(u for u in before if u.endswith(".js"))
    for _ in range(2):  # the second answer comes from the edge's cache
        cached = httpx.get(f"{EDGE}{old_js}", timeout=10)
    assert cached.headers.get("x-cache") == "HIT from edge", cached.headers
    since = len(watcher.lines)
    find = "throw new Error(`missing #${id}`);"
    with edited(
        watcher,
        WEB / "client" / "app.ts",
        find,
        f"throw new Error(`missing #${{id}} {marker}`);",
        undone=lambda: asset_urls() == before,
    ):
        assert poll(lambda: asset_urls() != before), "the page kept its old assets:\n" + "\n".join(watcher.lines[-30:])
        watcher.wait_for(r"emptied the edge's cache", since)
        new_js = next(u for u in asset_urls() if u.endswith(".js"))
        assert new_js != old_js
        served = httpx.get(f"{EDGE}{new_js}", timeout=10)
        assert served.status_code == 200 and marker in served.text
        assert any(re.search(r"synced \d+ static files to s3://", line) for line in watcher.lines[since:])
        # the old asset is no longer answered from the cache: it was emptied when the new client went out
        assert httpx.get(f"{EDGE}{old_js}", timeout=10).headers.get("x-cache") != "HIT from edge"


@pytest.mark.parametrize(
    "path, find, broken, why",
    [
        (
            WEB / "src" / "app.ts",
            "res.status(200).json({ status: 'ok', ",
            "res.status(200).json({ status: 'ok',, ",
            r"not applied: .*build",
        ),
        (
            WEB / "server.ts",
            "const here = ",
            "process.exit(3); // watch test: never starts\nconst here = ",
            r"not applied: .*rolled back, the old replicas keep serving",
        ),
    ],
    ids=["does-not-build", "never-starts"],
)
def test_a_broken_edit_is_not_applied_and_the_old_replicas_keep_serving(watcher, path, find, broken, why):
    serving = sorted(containers_of("website-agent"))
    since = len(watcher.lines)
    original = path.read_text()
    assert original.count(find) == 1
    path.write_text(original.replace(find, broken, 1))
    try:
        with Load(EDGE) as load:
            line = watcher.wait_for(why, since)
        assert len(line) < 400, f"not one line: {line}"
        assert not load.failed, f"{len(load.failed)} requests failed while the broken edit was tried: {load.failed[:5]}"
        assert load.retried <= 4, f"{load.retried} requests met a keep-alive connection the edge closed unanswered"
        assert sorted(containers_of("website-agent")) == serving, "the old replicas are not the ones serving"
        assert httpx.get(f"{EDGE}/healthz", timeout=10).status_code == 200
    finally:
        path.write_text(original)
    # the watcher goes on: the restored source is noticed (same image as the running one: nothing to replace)
    watcher.wait_for(r"website-agent: the image did not change|website-agent updated in", since)


def web_env(container: str) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inspect(container)["Config"]["Env"])


def test_a_spec_change_is_applied_as_inv_up_applies_it_and_a_bad_one_is_refused(watcher):
    """A new env value in the local overlay: website-agent replaced under load as `inv up` replaces
    it (blue/green, gated, locally); then an invalid overlay: refused in one line, nothing replaced."""
    overlay = ROOT / "deploy" / "local.yaml"
    original = overlay.read_text()
    find = "  website-agent:\n    deregistration_delay: 30\n"
    # a value added to the overlay's own environment (a second `environment:` key would replace it)
    env_line = "      PUBLIC_URL: http://127.0.0.1:8080\n"
    assert original.count(find) == 1 and original.count(env_line) == 1
    marker = uuid.uuid4().hex[:8]
    since = len(watcher.lines)
    try:
        overlay.write_text(original.replace(env_line, f"{env_line}      PARITY_WATCH_TEST: '{marker}'\n"))
        with Load(EDGE) as load:
            watcher.wait_for(r"the stack is in step with the spec", since, bound=300)
        said = watcher.lines[since:]
        assert any("website-agent: starting 2 new replica(s) beside 2 old" in line for line in said), "\n".join(
            said[-40:]
        )
        assert all(web_env(c).get("PARITY_WATCH_TEST") == marker for c in containers_of("website-agent"))
        assert not load.failed, f"{len(load.failed)} of {load.ok + len(load.failed)} requests failed: {load.failed[:5]}"
        assert load.retried <= 4, f"{load.retried} requests met a keep-alive connection the edge closed unanswered"

        serving = sorted(containers_of("website-agent"))
        since = len(watcher.lines)
        overlay.write_text(original.replace(find, "  website-agent:\n    deregistration_delay: -5\n"))
        line = watcher.wait_for(r"not applied: ", since)
        assert "deregistration_delay" in line and len(line) < 400, line
        assert sorted(containers_of("website-agent")) == serving
    finally:
        since = len(watcher.lines)
        overlay.write_text(original)
        watcher.wait_for(r"the stack is in step with the spec", since, bound=300)
    assert not any("PARITY_WATCH_TEST" in web_env(c) for c in containers_of("website-agent"))
