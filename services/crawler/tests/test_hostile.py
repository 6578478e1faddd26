"""Hostile pages against the crawler's real Chromium, through the real app:

* WebRTC sending UDP straight to a STUN "server" on 127.0.0.1 (a canary counts it);
* a page that replaces the builtins an extraction in its own world would use;
* a keep-alive origin that would read the next request the browser sends;
* the environment, user and sandbox of every Chromium process.
"""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import httpx
import pytest
from bson import ObjectId

from conftest import CHROMIUM, AppServer, KeepAliveOrigin, UdpCanary, free_port, make_settings

DOCUMENT_FIELDS = {"id", "url", "final_url", "status", "title", "description", "text", "text_truncated",
                   "links", "crawled_at"}  # fmt: skip
SECRET_NAMES = ("MONGODB_URI", "GROQ_API_KEY", "SERPAPI_API_KEY")


# ---------------------------------------------------------------- processes
def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(entry))
    return out


def chromium_processes(root: int) -> list[dict]:
    """Every Chromium process (browser, zygotes, renderers, utilities, crashpad) below ``root``."""
    children, todo, found = _children(), [root], []
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().replace(b"\0", b" ").split()  # a renderer's title is one string
                if not argv or (b"/chromium/" not in argv[0] and not argv[0].endswith(b"chromium")):
                    continue
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read()
                with open(f"/proc/{pid}/status") as f:
                    status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
                userns = os.readlink(f"/proc/{pid}/ns/user")
            except OSError:
                continue  # gone meanwhile
            kind = next((a.split(b"=", 1)[1].decode() for a in argv if a.startswith(b"--type=")), "browser")
            found.append({
                "pid": pid, "type": kind, "environ": environ, "userns": userns,
                "uid": int(status["Uid"].split()[0]), "seccomp": int(status["Seccomp"].strip()),
            })  # fmt: skip
    return found


def crawl_in_background(base: str, url: str) -> threading.Thread:
    def run():
        try:
            httpx.post(base + "/crawl", json={"url": url}, timeout=30)
        except httpx.HTTPError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for_renderer(root: int, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        procs = chromium_processes(root)
        if any(p["type"] == "renderer" for p in procs):
            return procs
        if time.monotonic() > deadline:
            pytest.fail(f"no Chromium renderer below pid {root} within {timeout} s: {[p['type'] for p in procs]}")
        time.sleep(0.2)


# ---------------------------------------------------------------- 1: secrets, user, sandbox
def test_no_chromium_process_holds_the_apps_secrets(mongo, site, monkeypatch):
    """The app's environment holds secrets; not one Chromium process (renderers
    included) has them: Chromium is launched with a minimal environment."""
    markers = {name: f"secret-{name.lower()}-{uuid.uuid4().hex}" for name in SECRET_NAMES}
    for name, value in markers.items():
        monkeypatch.setenv(name, value)
    app = AppServer(make_settings(mongo.uri)).start()
    try:
        crawling = crawl_in_background(app.base, site.url("/slow?s=3&tag=env"))
        procs = wait_for_renderer(os.getpid())
        crawling.join(30)
    finally:
        app.stop()
    leaks = [(p["pid"], p["type"], name) for p in procs for name, value in markers.items()
             if value.encode() in p["environ"] or f"{name}=".encode() in p["environ"]]  # fmt: skip
    assert not leaks, f"Chromium processes hold the app's secrets: {leaks}"
    assert {"browser", "renderer"} <= {p["type"] for p in procs}


def _userns_available_to(user: str) -> bool:
    probe = subprocess.run(["runuser", "-u", user, "--", "unshare", "--user", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture
def browser_server():
    """Playwright's browser server as ``nobody``, started as the image's launcher
    starts it (minimal environment, no_new_privs), from a copy of the driver
    that ``nobody`` can read."""
    from crawler_app import launcher

    if os.geteuid() != 0:
        pytest.skip("starting the browser server as another user needs root")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no `nobody` user here")
    node, cli = launcher.driver_paths()
    root = tempfile.mkdtemp(prefix="crawler-driver-", dir="/tmp")
    os.chmod(root, 0o755)
    driver = os.path.join(root, "driver")
    shutil.copytree(os.path.dirname(node), driver)
    home = os.path.join(root, "home")
    os.mkdir(home)
    shutil.chown(home, "nobody")
    port = free_port()
    server = launcher.start_browser_server(
        "nobody", port, driver=(os.path.join(driver, os.path.basename(node)), os.path.join(driver, os.path.relpath(cli, os.path.dirname(node)))),
        home=home,
    )
    try:
        launcher.wait_listening(server, port)
        yield server, f"ws://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


def test_browser_server_runs_chromium_as_its_own_user_sandboxed_where_possible(mongo, site, browser_server, monkeypatch):
    """The image's arrangement on the host: Chromium runs as another user than the
    app, cannot read the app's environment, holds none of its secrets, and runs
    in its sandbox where the platform allows unprivileged user namespaces."""
    server, endpoint = browser_server
    markers = {name: f"secret-{name.lower()}-{uuid.uuid4().hex}" for name in SECRET_NAMES}
    for name, value in markers.items():
        monkeypatch.setenv(name, value)
    nobody = pwd.getpwnam("nobody").pw_uid
    app = AppServer(make_settings(mongo.uri, browser_endpoint=endpoint)).start()
    try:
        r = httpx.post(app.base + "/crawl", json={"url": site.url("/index.html")}, timeout=30)
        assert r.status_code == 200, r.text
        crawling = crawl_in_background(app.base, site.url("/slow?s=3&tag=server"))
        wait_for_renderer(server.pid)
        time.sleep(1)  # a renderer applies its sandbox once it has started: look at settled ones
        procs = chromium_processes(server.pid)
        crawling.join(30)
        sandboxed = app.app.state.browsers.sandboxed
    finally:
        app.stop()
    assert procs and {p["uid"] for p in procs} == {nobody}, [(p["type"], p["uid"]) for p in procs]
    leaks = [(p["pid"], p["type"]) for p in procs for value in markers.values() if value.encode() in p["environ"]]
    assert not leaks, f"Chromium processes hold the app's secrets: {leaks}"
    # The app's environment (the markers) is out of the browser user's reach.
    peek = subprocess.run(["runuser", "-u", "nobody", "--", "cat", f"/proc/{os.getpid()}/environ"], capture_output=True)
    assert peek.returncode != 0 and not any(v.encode() in peek.stdout for v in markers.values())
    if not _userns_available_to("nobody"):
        assert sandboxed is False
        pytest.skip("no unprivileged user namespaces here: Chromium ran without its sandbox, as on Fargate")
    assert sandboxed is True
    browser_ns = next(p["userns"] for p in procs if p["type"] == "browser")
    renderers = [p for p in procs if p["type"] == "renderer"]
    assert renderers and all(p["userns"] != browser_ns and p["seccomp"] == 2 for p in renderers), renderers


# ---------------------------------------------------------------- 2: WebRTC UDP
def test_webrtc_sends_no_udp_past_the_egress_proxy(client, site):
    """A page's RTCPeerConnection with a STUN server on 127.0.0.1: plain Chromium
    sends it UDP (the control), the crawler's Chromium sends nothing."""
    from playwright.sync_api import sync_playwright

    control, canary = UdpCanary(), UdpCanary()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                page.goto(site.url(f"/webrtc.html?port={control.port}"))
                deadline = time.monotonic() + 5
                while control.count == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)
            finally:
                browser.close()
        assert control.count > 0, "the control got no STUN packet: the canary would prove nothing"

        r = client.post("/crawl", json={"url": site.url(f"/webrtc.html?port={canary.port}")})
        assert r.status_code == 200, r.text
        assert r.json()["title"].startswith("WebRTC"), r.json()["title"]  # the page's script ran
        time.sleep(1)
        assert canary.count == 0, f"the crawler's Chromium sent {canary.count} UDP datagrams past the proxy"
    finally:
        control.close()
        canary.close()


# ---------------------------------------------------------------- 3: the page writes the result
def assert_capped_typed(doc: dict) -> None:
    assert set(doc) == DOCUMENT_FIELDS, sorted(doc)
    assert isinstance(doc["title"], str) and len(doc["title"]) <= 1000
    assert doc["description"] is None or (isinstance(doc["description"], str) and len(doc["description"]) <= 2000)
    assert isinstance(doc["text"], str) and len(doc["text"]) <= 20000
    assert isinstance(doc["text_truncated"], bool)
    assert isinstance(doc["links"], list) and len(doc["links"]) <= 1000
    for link in doc["links"]:
        assert isinstance(link, dict) and set(link) == {"url", "text"}, link
        assert isinstance(link["url"], str) and link["url"].startswith(("http://", "https://")) and len(link["url"]) <= 2048
        assert isinstance(link["text"], str) and len(link["text"]) <= 500


def test_a_page_that_tampers_with_the_extraction_gets_a_capped_typed_result(client, site, pages):
    """The hostile page replaces String.prototype.slice, Array.from, JSON, URL,
    getAttribute and the title/innerText getters, and makes its DOM huge: the
    result is the real DOM, read in an isolated world, within every cap."""
    r = client.post("/crawl", json={"url": site.url("/hostile.html")})
    assert r.status_code == 200, r.text[:300]
    assert len(r.content) < 256 * 1024, f"{len(r.content)} bytes returned"
    doc = r.json()
    assert_capped_typed(doc)
    # The page's own world changed nothing: the real title (capped), meta, text and links.
    assert doc["title"] == "T" * 1000
    assert doc["description"] == "A page that fights the crawler's extraction."
    assert "tampers with every JavaScript builtin" in doc["text"] and "xxxxxxxxxx" not in doc["text"]
    links = {link["url"]: link["text"] for link in doc["links"]}
    assert links[site.url("/menu.html")] == "Menu" and len(doc["links"]) == 1000
    assert not any("forged" in u or u.startswith("javascript:") for u in links)
    stored = pages.find_one({"_id": ObjectId(doc["id"])})
    assert len(json.dumps(stored, default=str)) < 256 * 1024
    assert stored["title"] == doc["title"] and stored["links"] == doc["links"]


# ---------------------------------------------------------------- 5: keep-alive origin
def test_a_keep_alive_origin_never_receives_another_request(client, site):
    """Chromium reuses a proxy connection for any host: a hostile origin that keeps
    its connection open must still not receive the page's next request."""
    secret = uuid.uuid4().hex
    follow = site.url(f"/menu.html?secret={secret}")
    origin = KeepAliveOrigin(follow)
    site.state.reset()
    try:
        r = client.post("/crawl", json={"url": origin.base + "/"})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 5
        while not any(secret in h for h in site.state.hits) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        origin.close()
    assert any(secret in h for h in site.state.hits), "the page's follow-up request never reached the site"
    assert not any(secret in line for line in origin.lines), f"the keep-alive origin read another request: {origin.lines}"
    assert origin.lines and all(line.startswith("GET / ") for line in origin.lines), origin.lines
