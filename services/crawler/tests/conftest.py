"""Real components for the crawler tests.

* a MongoDB-wire server (secantusd-py, in memory) started as a subprocess,
* the fixture restaurant site served from services/fixture-site/public by a
  threaded http.server on 127.0.0.1, plus a few special routes,
* the app under a real uvicorn server (in a thread) driving real Chromium.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pymongo
import pytest

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SERVICE_DIR))

from crawler_app.app import create_app  # noqa: E402
from crawler_app.settings import Settings  # noqa: E402
from crawler_app.ssrf import system_resolver  # noqa: E402

FIXTURE_DIR = SERVICE_DIR.parent / "fixture-site" / "public"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
TEST_DB = "crawler_test"

# Names only the injected resolver knows (Chromium never sees them resolve).
FAKE_DNS = {
    "metadata.test": ["169.254.169.254"],
    "ecs-metadata.test": ["169.254.170.2"],
    "v6-linklocal.test": ["fe80::1"],
    "mixed.test": ["93.184.216.34", "169.254.169.254"],  # one bad record is enough
    "intranet.test": ["10.1.2.3"],
}


async def fake_resolver(host: str) -> list[str]:
    if host in FAKE_DNS:
        return list(FAKE_DNS[host])
    return await system_resolver(host)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------- MongoDB wire
class MongoServer:
    def __init__(self):
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="secantusd-", suffix=".log", delete=False)

    def start(self) -> "MongoServer":
        exe = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
        if not Path(exe).exists():
            pytest.fail("secantusd-py not found: pip install -r services/crawler/requirements-test.txt")
        self.proc = subprocess.Popen(
            [exe, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", ":memory:"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500)
        deadline = time.monotonic() + 30
        try:
            while True:
                if self.proc.poll() is not None:
                    pytest.fail(f"secantusd-py exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    client.admin.command("ping")
                    return self
                except pymongo.errors.PyMongoError:
                    if time.monotonic() > deadline:
                        self.stop()
                        pytest.fail(f"secantusd-py did not answer a ping within 30 s:\n{self.log_tail()}")
                    time.sleep(0.2)
        finally:
            client.close()

    def log_tail(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="session")
def mongo():
    server = MongoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo):
    client = pymongo.MongoClient(mongo.uri, serverSelectionTimeoutMS=3000, tz_aware=True)
    yield client
    client.close()


@pytest.fixture
def pages(mongo_client):
    return mongo_client[TEST_DB]["pages"]


# --------------------------------------------------------------- fixture site
class SiteState:
    def __init__(self):
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.hits: list[str] = []

    def reset(self):
        with self.lock:
            self.active = self.peak = 0
            self.hits.clear()


def make_handler(state: SiteState):
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(FIXTURE_DIR), **kw)

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, ctype: str, body: bytes, headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            parts = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with state.lock:
                state.hits.append(self.path)
            try:
                if parts.path == "/slow":
                    with state.lock:
                        state.active += 1
                        state.peak = max(state.peak, state.active)
                    try:
                        time.sleep(float(q.get("s", "1")))
                    finally:
                        with state.lock:
                            state.active -= 1
                    html = f"<html><head><title>Slow {q.get('tag', '')}</title></head><body>slow</body></html>"
                    self._send(200, "text/html; charset=utf-8", html.encode())
                elif parts.path == "/redirect":
                    self._send(302, "text/html", b"moved", {"Location": q["to"]})
                elif parts.path == "/data.json":
                    self._send(200, "application/json", json.dumps({"menu": ["cacio e pepe"]}).encode())
                elif parts.path == "/download.bin":
                    self._send(200, "application/octet-stream", b"\x00" * 64,
                               {"Content-Disposition": 'attachment; filename="x.bin"'})
                elif parts.path == "/error500":
                    self._send(500, "text/html", b"<h1>boom</h1>")
                elif parts.path == "/webrtc.html":
                    # ICE gathering against a STUN server on 127.0.0.1 (UDP, no proxy in the way);
                    # the fetch keeps the page busy while the candidates are gathered.
                    html = f"""<!doctype html><html><head><title>WebRTC</title></head><body><p>webrtc</p><script>
                      const pc = new RTCPeerConnection({{iceServers: [{{urls: 'stun:127.0.0.1:{int(q["port"])}'}}]}});
                      pc.createDataChannel('x');
                      pc.onicegatheringstatechange = () => {{ document.title = 'WebRTC ' + pc.iceGatheringState; }};
                      pc.createOffer().then(o => pc.setLocalDescription(o));
                      fetch('/slow?s=1.5').catch(() => {{}});
                    </script></body></html>"""
                    self._send(200, "text/html", html.encode())
                elif parts.path == "/subresources.html":
                    html = """<!doctype html><html><head><title>Sub-resources</title></head><body>
                      <p>Page with sneaky sub-resources</p>
                      <img src="http://169.254.169.254/latest/meta-data/iam/security-credentials/">
                      <iframe src="http://metadata.test/latest/meta-data/"></iframe>
                      <script>fetch('http://169.254.170.2/v2/credentials/x').catch(() => {});</script>
                    </body></html>"""
                    self._send(200, "text/html", html.encode())
                else:
                    super().do_GET()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the crawler gave up on us (timeout tests)

    return Handler


class FixtureSite:
    def __init__(self):
        self.state = SiteState()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class UdpCanary:
    """A UDP socket on 127.0.0.1 that counts the datagrams it receives."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(2048)
                self.count += 1
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


class KeepAliveOrigin:
    """A hostile HTTP origin on 127.0.0.1: answers every request with a keep-alive
    page and keeps reading the connection, recording every request line it gets.
    Its page asks the browser for ``follow`` once loaded."""

    def __init__(self, follow: str):
        self.follow = follow
        self.lines: list[str] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        page = (f"<!doctype html><html><head><title>Keep-alive</title></head><body><p>kept alive</p><script>"
                f"setTimeout(() => fetch({json.dumps(self.follow)}, {{mode: 'no-cors'}}).catch(() => {{}}), 300);"
                f"</script></body></html>").encode()
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    self.lines.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: keep-alive\r\n"
                                 b"Content-Length: " + str(len(page)).encode() + b"\r\n\r\n" + page)

    def close(self):
        self.server.close()


@pytest.fixture(scope="session")
def site():
    s = FixtureSite()
    yield s
    s.close()


# --------------------------------------------------------------- the app
class AppServer:
    """create_app() under a real uvicorn server on a free port, in a thread."""

    def __init__(self, settings: Settings, resolver=fake_resolver):
        import uvicorn

        self.app = create_app(settings, resolver=resolver)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, expect_status: int = 200) -> "AppServer":
        """Start and wait until /health answers ``expect_status`` with the browser up."""
        self.thread.start()
        deadline = time.monotonic() + 45
        last = None
        while time.monotonic() < deadline:
            try:
                r = httpx.get(self.base + "/health", timeout=5)
                last = r.text
                if r.status_code == expect_status and r.json()["browser"] == "ok":
                    return self
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"crawler app did not become healthy: {last}")

    def run_in_app_loop(self, coro, timeout: float = 15):
        """Run a coroutine on the server's event loop (e.g. to crash the browser)."""
        loop = self.app.state.browsers.loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(20)


def make_settings(mongo_uri: str, **overrides) -> Settings:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
    values = dict(
        mongodb_uri=mongo_uri,
        mongodb_database=TEST_DB,
        crawl_timeout=4.0,
        max_pages=2,
        chromium_path=CHROMIUM,
        allow_private_networks=False,
        allow_loopback=True,  # the fixture site is on 127.0.0.1
        node_env="test",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def app_server(mongo, site):
    server = AppServer(make_settings(mongo.uri)).start()
    yield server
    server.stop()


@pytest.fixture
def client(app_server):
    with httpx.Client(base_url=app_server.base, timeout=60) as c:
        yield c
