"""The per-crawl egress proxy on its own: raw HTTP and CONNECT through it."""

import asyncio
import ipaddress
import socket
import threading

from crawler_app.egress import EgressProxy
from crawler_app.ssrf import Guard, Unresolvable

from conftest import free_port


async def fake_dns(host):
    if host == "nx.test":
        raise Unresolvable("no such host")
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    return {"meta.test": ["169.254.169.254"], "lan.test": ["10.0.0.7"]}.get(host) or ["127.0.0.1"]


async def raw(proxy_url: str, request: bytes) -> bytes:
    host, port = proxy_url.rsplit("/", 1)[-1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)  # the proxy closes after one reply
    writer.close()
    return data


def run_with_proxy(coro_fn, allow_loopback):
    async def main():
        proxy = EgressProxy(Guard(fake_dns, allow_private=False, allow_loopback=allow_loopback, timeout=2), 5)
        url = await proxy.start()
        try:
            return await coro_fn(url), proxy
        finally:
            await proxy.close()

    return asyncio.run(main())


def test_proxy_refuses_forbidden_targets_with_the_answer_of_an_unreachable_one():
    """Refused by the guard, not resolving, or not answering: one reply, byte for byte,
    so a page cannot map which internal names exist."""
    closed = free_port()

    async def go(url):
        forbidden = [
            await raw(url, b"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"),
            await raw(url, b"GET http://meta.test/ HTTP/1.1\r\nHost: meta.test\r\n\r\n"),
            await raw(url, b"CONNECT 169.254.170.2:443 HTTP/1.1\r\nHost: 169.254.170.2:443\r\n\r\n"),
            await raw(url, b"CONNECT [fe80::1]:443 HTTP/1.1\r\n\r\n"),
            await raw(url, b"GET http://lan.test/ HTTP/1.1\r\n\r\n"),
        ]
        unreachable = [
            await raw(url, b"GET http://nx.test/ HTTP/1.1\r\nHost: nx.test\r\n\r\n"),
            await raw(url, b"CONNECT nx.test:443 HTTP/1.1\r\n\r\n"),
            await raw(url, f"GET http://127.0.0.1:{closed}/ HTTP/1.1\r\n\r\n".encode()),  # nothing listens
        ]
        return forbidden, unreachable

    (forbidden, unreachable), proxy = run_with_proxy(go, allow_loopback=True)
    assert forbidden[0].startswith(b"HTTP/1.1 502 "), forbidden[0]
    assert len(set(forbidden + unreachable)) == 1, set(forbidden + unreachable)
    assert proxy.connections == 0
    assert proxy.refused == 5


def test_proxy_forwards_allowed_http_and_connect(site):
    port = site.url("/").rsplit(":", 1)[1].strip("/")

    async def go(url):
        plain = await raw(url, f"GET {site.url('/hours.html')} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                               "Proxy-Connection: keep-alive\r\n\r\n".encode())
        # a CONNECT tunnel carrying plain HTTP, to keep the test TLS-free
        host, p = url.rsplit("/", 1)[-1].split(":")
        reader, writer = await asyncio.open_connection(host, int(p))
        writer.write(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        established = await reader.readuntil(b"\r\n\r\n")
        writer.write(f"GET /menu.html HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        tunneled = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return plain, established, tunneled

    (plain, established, tunneled), proxy = run_with_proxy(go, allow_loopback=True)
    assert plain.startswith(b"HTTP/1.0 200") and b"Opening hours" in plain
    assert established.startswith(b"HTTP/1.1 200 Connection Established")
    assert b"Cacio e pepe" in tunneled
    assert proxy.connections == 2 and proxy.refused == 0


class KeepAliveUpstream:
    """A raw upstream that ignores ``Connection: close``: it answers each request
    with a keep-alive response and keeps reading, recording what it receives."""

    def __init__(self):
        self.received = b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                self.received += data
                if data.endswith(b"\r\n\r\n"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n"
                                 b"Keep-Alive: timeout=60\r\n\r\nok")


def test_one_request_per_connection_whatever_the_upstream_says():
    """A hostile keep-alive upstream gets one request; the browser is told to close,
    and a second request on the same proxy connection never reaches it."""
    upstream = KeepAliveUpstream()

    async def go(url):
        host, port = url.rsplit("/", 1)[-1].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET http://127.0.0.1:{upstream.port}/first HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Proxy-Connection: keep-alive\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        body = await asyncio.wait_for(reader.readexactly(2), 5)
        # what Chromium does with a kept-alive proxy connection: the next request, any host
        writer.write(b"GET http://other.test/private?token=s3cret HTTP/1.1\r\nHost: other.test\r\n\r\n")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 5)  # the proxy closes instead of forwarding
        writer.close()
        return head, body, rest

    (head, body, rest), proxy = run_with_proxy(go, allow_loopback=True)
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b"ok"
    assert b"Connection: close" in head and b"keep-alive" not in head.lower()
    assert rest == b""
    assert upstream.received.count(b"HTTP/1.1\r\n") == 1, upstream.received
    assert b"other.test" not in upstream.received and b"s3cret" not in upstream.received
    assert b"Connection: close" in upstream.received and proxy.connections == 1
