"""The per-crawl egress proxy on its own: raw HTTP and CONNECT through it."""

import asyncio

from crawler_app.egress import EgressProxy
from crawler_app.ssrf import Guard


async def fake_dns(host):
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


def test_proxy_refuses_forbidden_targets():
    async def go(url):
        return [
            await raw(url, b"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"),
            await raw(url, b"GET http://meta.test/ HTTP/1.1\r\nHost: meta.test\r\n\r\n"),
            await raw(url, b"CONNECT 169.254.170.2:443 HTTP/1.1\r\nHost: 169.254.170.2:443\r\n\r\n"),
            await raw(url, b"CONNECT [fe80::1]:443 HTTP/1.1\r\n\r\n"),
            await raw(url, b"GET http://lan.test/ HTTP/1.1\r\n\r\n"),
            await raw(url, b"GET http://127.0.0.1:1/ HTTP/1.1\r\n\r\n"),  # loopback not allowed here
        ]

    replies, proxy = run_with_proxy(go, allow_loopback=False)
    for reply in replies:
        assert reply.startswith(b"HTTP/1.1 403 Forbidden"), reply
        assert b"X-Crawler-Blocked: forbidden_target" in reply
    assert proxy.connections == 0
    assert "http://169.254.169.254/latest/meta-data/" in proxy.blocked
    assert "https://169.254.170.2:443/" in proxy.blocked


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
    assert proxy.connections == 2 and proxy.blocked == []
