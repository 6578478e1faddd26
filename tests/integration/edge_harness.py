"""A real nginx running the rendered edge config in front of a recording
origin: a raw-socket server that keeps exactly the bytes each connection
brings, standing for every origin the edge talks to (the S3 bucket in
LocalStack and each public service's target group).

Nothing of the shared stack is used: one throwaway network, the recorder
(aliased as every origin host the config names) and the edge (the stack's
own nginx image, started as the stack starts it), its viewer port published
on 127.0.0.1 only. The recorder answers every request with a fixed 200 after
the connection has been quiet for a moment, so bytes smuggled behind a first
request arrive, and are kept, before it answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from parity.render.common import offline_tag
from parity.render.edge import ALB_PORT, TEST_TRAFFIC_ENV, edge_command, gated_origins
from parity.spec import Stack

from .conftest import docker

CONTROL_PORT = 9000
RECORDER_PY = r"""
import base64, json, socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS = [int(p) for p in sys.argv[1].split(",")]
records, lock = [], threading.Lock()

def serve(conn, port):
    conn.settimeout(0.25)  # quiet this long: whatever was sent has arrived
    data = b""
    try:
        while len(data) < 1 << 20:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        with lock:
            records.append({"port": port, "bytes": base64.b64encode(data).decode()})
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nrecorded\n")
    except OSError:
        pass
    finally:
        conn.close()

def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(256)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, port), daemon=True).start()

class Control(BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            body = json.dumps(records).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

for p in PORTS:
    threading.Thread(target=listen, args=(p,), daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", CONTROL_PORT), Control).serve_forever()
""".replace("CONTROL_PORT", str(CONTROL_PORT))

REQUEST_LINE = re.compile(rb"^[A-Z]+ \S+ HTTP/1\.[01]$")


@dataclass
class Arrival:
    port: int
    raw: bytes

    @property
    def lines(self) -> list[bytes]:
        head = self.raw.split(b"\r\n\r\n", 1)[0]
        return head.split(b"\r\n")

    @property
    def request_lines(self) -> list[bytes]:
        """Every line in the bytes that reads as an HTTP request line (a smuggled one too)."""
        return [line for line in re.split(rb"\r\n|\n|\r", self.raw) if REQUEST_LINE.match(line)]

    @property
    def target(self) -> str:
        return self.lines[0].split(b" ")[1].decode("latin-1") if b" " in self.lines[0] else ""

    @property
    def body(self) -> bytes:
        return self.raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.raw else b""

    def header(self, name: str) -> str | None:
        for line in self.lines[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return None


class Recorder:
    def __init__(self, url: str) -> None:
        self.url = url

    def arrivals(self) -> list[Arrival]:
        import base64

        data = httpx.get(self.url, timeout=5).json()
        return [Arrival(r["port"], base64.b64decode(r["bytes"])) for r in data]


def image(stack: Stack, name: str) -> str:
    upstream = stack.local.images[name]
    offline = os.environ.get("PARITY_OFFLINE", "") not in ("", "0", "false", "no")
    return offline_tag(upstream) if offline else upstream


def ensure_images(stack: Stack) -> None:
    """Offline, the stand-ins as `inv up` builds them (rebuilt only when their folder changed)."""
    if os.environ.get("PARITY_OFFLINE", "") in ("", "0", "false", "no"):
        return
    from parity.adapters.docker import Docker
    from parity.app.local.offline import build_standins
    from parity.app.workspace import Workspace

    from .conftest import ROOT

    build_standins(stack, ROOT, Workspace.from_env(ROOT).offline_base, Docker())


def origin_hosts(stack: Stack) -> tuple[list[str], list[int]]:
    """Every origin host (network alias) and port the rendered edge reaches."""
    from parity.render.edge import S3_HOST

    hosts, ports = [S3_HOST.split(":")[0]], [int(S3_HOST.split(":")[1])]
    for route in stack.edge.routes:
        if route.origin != "s3" and route.origin not in hosts:
            hosts.append(route.origin)
            ports.append(stack.services[route.origin].port)
    return hosts, ports


def raw_request(
    port: int,
    target: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 10,
    user_agent: bool = True,
) -> tuple[int, bytes]:
    """Send exactly these bytes to 127.0.0.1:``port``; (status, whole response)."""
    head = {"Host": "127.0.0.1", **({"User-Agent": "parity-edge-fuzz"} if user_agent else {}), "Connection": "close",
            **(headers or {})}  # fmt: skip
    if body:
        head["Content-Length"] = str(len(body))
    data = f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
    data += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in head.items()) + b"\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    status = int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/") else 0
    return status, out


def response_headers(response: bytes) -> dict[str, str]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}


def lock_env(current: str | None = None, previous: str = "") -> dict[str, str]:
    """The origin lock's values for an edge under test (fresh random ones by default)."""
    from parity.render.edge import ORIGIN_VERIFY_ENV, ORIGIN_VERIFY_PREVIOUS_ENV

    return {ORIGIN_VERIFY_ENV: current or secrets.token_urlsafe(24), ORIGIN_VERIFY_PREVIOUS_ENV: previous}


@dataclass
class EdgeUnderTest:
    port: int  # the viewer's port (CloudFront)
    alb_port: int  # the ALB part's, published here only to send it what skips CloudFront
    recorder: Recorder
    container: str
    network: str


@contextlib.contextmanager
def edge_with_recorder(stack: Stack, files: dict[str, str], env: dict[str, str] | None = None,
                       extra_ports: tuple[int, ...] = (), test_secret: bool = True) -> Iterator[EdgeUnderTest]:  # fmt: skip
    """The edge (``files``: path under /etc/nginx -> text, nginx.conf among
    them) in front of the recorder, on a throwaway network. ``extra_ports``:
    more ports the recorder listens on (members a test registers itself).
    ``test_secret``: an edge with a test listener rule gets a value for its
    secret unless ``env`` gives one (False: none, to see it refuse)."""
    tag = uuid.uuid4().hex[:8]
    net, rec, edge = f"parity-fuzz-{tag}", f"parity-fuzz-origin-{tag}", f"parity-fuzz-edge-{tag}"
    folder = Path(tempfile.mkdtemp(prefix="parity-fuzz-"))
    hosts, ports = origin_hosts(stack)
    ports = [*ports, *extra_ports]
    ensure_images(stack)
    env = dict(env or {})
    if test_secret and gated_origins(stack):  # an edge with a test listener rule wants its secret's value
        env.setdefault(TEST_TRAFFIC_ENV, secrets.token_urlsafe(24))
    try:
        docker("network", "create", net)
        (folder / "recorder.py").write_text(RECORDER_PY)
        docker(
            "run", "-d", "--name", rec, "--network", net, *[f"--network-alias={h}" for h in hosts],
            "-p", f"127.0.0.1::{CONTROL_PORT}", "-v", f"{folder / 'recorder.py'}:/recorder.py:ro",
            image(stack, "python"), "python3", "/recorder.py", ",".join(map(str, ports)),
        )  # fmt: skip
        mounts = []
        for rel, text in files.items():
            path = folder / "etc" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o644)
            mounts += ["-v", f"{path}:/etc/nginx/{rel}:ro"]
        envs = [f"--env={k}" for k in (env or {})]
        # values reach the container through the docker CLI's environment, never its command line
        started = subprocess.run(
            ["docker", "run", "-d", "--name", edge, "--network", net, "-p", "127.0.0.1::80", "-p", f"127.0.0.1::{ALB_PORT}",
             *mounts, *envs,
             image(stack, "nginx"), *edge_command(stack)],
            capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
        )  # fmt: skip
        assert started.returncode == 0, f"the edge did not start: {started.stderr.strip()}"
        control = f"http://127.0.0.1:{_host_port(rec, CONTROL_PORT)}/"
        time.sleep(0.5)  # a start command that refuses exits at once
        try:
            port = _host_port(edge, 80)
        except AssertionError:
            logs = docker("logs", edge, check=False)
            raise AssertionError(f"the edge did not start: {logs.stdout}{logs.stderr}") from None
        recorder = Recorder(control)
        _wait(lambda: httpx.get(control, timeout=2).status_code == 200, f"the recorder {rec}")
        _wait(lambda: raw_request(port, "/", timeout=3)[0] == 200, f"the edge {edge}", edge)
        yield EdgeUnderTest(port, _host_port(edge, ALB_PORT), recorder, edge, net)
    finally:
        for name in (edge, rec):
            docker("rm", "-f", name, check=False)
        docker("network", "rm", net, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _host_port(container: str, port: int) -> int:
    return int(docker("port", container, f"{port}/tcp").stdout.split(":")[-1].split()[0])


def _wait(ready, what: str, logs_of: str | None = None, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.2)
    logs = docker("logs", "--tail", "30", logs_of, check=False) if logs_of else None
    raise AssertionError(f"{what} did not come up" + (f": {logs.stdout}{logs.stderr}" if logs else ""))


def dump(arrivals: list[Arrival]) -> str:
    return json.dumps([a.raw.decode("latin-1")[:300] for a in arrivals], indent=1)
