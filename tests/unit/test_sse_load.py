"""The bench's SSE load generator (sse_load.mjs, run by Node as the bench runs it)
against a small SSE server on loopback: it counts every tick and `done` however the
bytes are cut into reads, and names what went wrong when a stream is short, late or
refused."""

import json
import shutil
import socket
import socketserver
import subprocess
import threading
import time

import pytest

from parity.app.benchmarks.bench_sse import SCRIPT

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node (the bench runs it in the image)")

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Accel-Buffering: no\r\n\r\n"


def events(seconds: int, skip: int | None = None) -> list[bytes]:
    out = [b": stream open\n\n"]
    for n in range(1, seconds + 1):
        if n != skip:
            out.append(f'event: tick\nid: {n}\ndata: {{"n": {n}, "of": {seconds}}}\n\n'.encode())
    out.append(b'event: done\ndata: {"total": %d}\n\n' % seconds)
    return out


def serve(behaviour):
    """A loopback server; ``behaviour(conn, index)`` answers each connection."""
    counter = iter(range(10**6))

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(4096)
            try:
                behaviour(self.request, next(counter))
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def generate(server, streams: int, seconds: int, **opts) -> dict:
    args = {"host": "127.0.0.1", "port": server.server_address[1], "streams": streams, "seconds": seconds,
            "rampMs": 200, "lateSlackMs": 3000, **opts}  # fmt: skip
    try:
        out = subprocess.run(["node", str(SCRIPT), json.dumps(args)], capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def send(conn: socket.socket, parts: list[bytes], cut: int | None, gap: float = 0.02) -> None:
    conn.sendall(HEAD)
    for part in parts:
        if cut:  # the same bytes in reads of `cut` bytes: markers split across reads
            for i in range(0, len(part), cut):
                conn.sendall(part[i : i + cut])
                time.sleep(0.001)
        else:
            conn.sendall(part)
        time.sleep(gap)


def test_every_tick_and_done_are_counted_however_the_bytes_are_cut():
    # stream i is cut into reads of (i % 7) bytes (0: whole events)
    result = generate(serve(lambda conn, i: send(conn, events(3), cut=i % 7)), streams=14, seconds=3)
    assert (result["ok"], result["failed"], result["reasons"]) == (14, 0, {})
    assert result["first_event_ms"]["max"] < 2000


def test_a_missing_tick_is_an_incomplete_stream():
    result = generate(
        serve(lambda conn, i: send(conn, events(3, skip=2 if i == 0 else None), cut=3)), streams=4, seconds=3
    )
    assert (result["ok"], result["reasons"]) == (3, {"incomplete": 1})


def test_a_late_first_event_and_a_refusal_are_named():
    def behaviour(conn, i):
        if i == 0:
            conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n")
            return
        if i == 1:
            conn.sendall(HEAD + b": stream open\n\n")
            time.sleep(0.6)
        send(conn, events(2)[1:] if i == 1 else events(2), cut=None)

    result = generate(serve(behaviour), streams=3, seconds=2, firstEventLimitMs=400)
    assert (result["ok"], result["reasons"]) == (1, {"http_429": 1, "first_event_late": 1})
