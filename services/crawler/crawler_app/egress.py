"""Per-crawl egress proxy: the only way out of the browser context.

Chromium's request interception (Playwright routes) does not see redirect hops
or WebSockets, so every connection of a crawl's browser context goes through
this small forward proxy on 127.0.0.1 instead. For each plain-HTTP request and
each CONNECT tunnel it resolves the target once, applies the SSRF guard to ALL
of its addresses, and connects to a checked address itself, so a redirect, a
sub-resource, a WebSocket or a DNS answer that changes between check and use
(rebinding) cannot reach a forbidden address such as 169.254.169.254.

One plain-HTTP request per upstream connection, and per browser connection:
the request goes upstream with ``Connection: close``, its answer comes back
with ``Connection: close`` (whatever the upstream said), and nothing the
browser sends after it is forwarded. Chromium reuses a proxy connection for
any host, so a hostile keep-alive upstream would otherwise receive the next
request, for another host, URL and cookies included. A CONNECT tunnel is one
checked host:port by construction (the browser's TLS to that host).

A target the guard refuses, one that does not resolve and one that does not
answer all get the same reply: the page learns nothing about internal names.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional
from urllib.parse import urlsplit

from .ssrf import ForbiddenTarget, Guard, Unresolvable

log = logging.getLogger("crawler.egress")

MAX_HEAD = 64 * 1024
MAX_REQUEST_BODY = 16 * 1024 * 1024  # what a page may upload in one request
CHUNK = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
              "te", "trailer", "upgrade"}  # fmt: skip
NOT_REACHABLE = "not allowed or not reachable"


class BadRequest(Exception):
    pass


def _headers(lines: list[str]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("malformed header")
        out.append((name, value.strip()))
    return out


def _end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Without hop-by-hop headers, including those the Connection header names."""
    named = {t.strip().lower() for n, v in headers if n.lower() == "connection" for t in v.split(",")}
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP and n.lower() not in named]


def _head(first: str, headers: list[tuple[str, str]]) -> bytes:
    return (first + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n").encode("latin-1")


class EgressProxy:
    def __init__(self, guard: Guard, connect_timeout: float):
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.refused = 0  # targets the guard refused (counted, never shown)
        self.connections = 0  # upstream connections made
        self._server: Optional[asyncio.base_events.Server] = None
        self._handlers: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=MAX_HEAD)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._handlers):
            t.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)

    # ------------------------------------------------------------------
    async def _connect(self, host: str, port: int):
        """Guard-check ``host`` and open a connection to one of its checked addresses."""
        try:
            addresses = await self.guard.check_host(host)
        except ForbiddenTarget:
            self.refused += 1
            raise
        last: Exception = Unresolvable(f"cannot connect to {host}")
        for addr in addresses:
            try:
                conn = await asyncio.wait_for(
                    asyncio.open_connection(addr, port, limit=MAX_HEAD), self.connect_timeout
                )
                self.connections += 1
                return conn
            except (OSError, asyncio.TimeoutError) as exc:
                last = exc
        raise last

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        self._writers.add(writer)
        up_writer: Optional[asyncio.StreamWriter] = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.connect_timeout)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
                headers = _headers(lines[1:])
                connect = method.upper() == "CONNECT"
                if connect:
                    hostport = urlsplit("//" + target)
                    host, port = hostport.hostname, hostport.port or 443
                else:
                    parts = urlsplit(target)
                    if parts.scheme.lower() != "http" or not parts.hostname:
                        raise BadRequest("only absolute http:// requests are proxied")
                    host, port = parts.hostname, parts.port or 80
                    length = self._body_length(headers)
            except (ValueError, BadRequest) as exc:
                return await self._reply(writer, 400, str(exc) if isinstance(exc, BadRequest) else "bad request")
            if not host:
                return await self._reply(writer, 400, "no host")

            try:
                up_reader, up_writer = await self._connect(host, port)
            except (ForbiddenTarget, Unresolvable, OSError, asyncio.TimeoutError):
                return await self._reply(writer, 502, NOT_REACHABLE)

            if connect:
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await self._pipe(reader, writer, up_reader, up_writer)
            else:
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                forwarded = [*_end_to_end(headers), ("Connection", "close")]
                up_writer.write(_head(f"{method} {path} {version}", forwarded))
                await self._copy_exactly(reader, up_writer, length)
                await self._relay_response(reader, writer, up_reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
            self._writers.discard(writer)
            self._handlers.discard(task)

    @staticmethod
    def _body_length(headers: list[tuple[str, str]]) -> int:
        """The request body's length; chunked bodies (which browsers do not send
        over HTTP/1.1) are refused rather than framed by guesswork."""
        if any(n.lower() == "transfer-encoding" for n, _ in headers):
            raise BadRequest("chunked request bodies are not proxied")
        lengths = {v for n, v in headers if n.lower() == "content-length"}
        if not lengths:
            return 0
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise BadRequest("bad Content-Length")
        length = int(next(iter(lengths)))
        if length > MAX_REQUEST_BODY:
            raise BadRequest("request body too large")
        return length

    @staticmethod
    async def _copy_exactly(src: asyncio.StreamReader, dst: asyncio.StreamWriter, length: int) -> None:
        while length > 0:
            data = await src.read(min(CHUNK, length))
            if not data:
                raise ConnectionError("the browser closed mid-body")
            dst.write(data)
            await dst.drain()
            length -= len(data)

    async def _relay_response(self, reader, writer, up_reader) -> None:
        """The upstream's answer with ``Connection: close``, then its body until
        either side closes. Nothing more from the browser goes upstream."""
        try:
            head = await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"), self.connect_timeout)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
            return await self._reply(writer, 502, NOT_REACHABLE)
        lines = head.decode("latin-1").split("\r\n")
        try:
            headers = _headers(lines[1:])
        except BadRequest:
            return await self._reply(writer, 502, NOT_REACHABLE)
        writer.write(_head(lines[0], [*_end_to_end(headers), ("Connection", "close"), ("Proxy-Connection", "close")]))
        await writer.drain()

        async def body() -> None:
            while data := await up_reader.read(CHUNK):
                writer.write(data)
                await writer.drain()

        async def browser_done() -> None:
            # The browser closes after the answer. Anything it sends instead (the next
            # request, for any host) ends the exchange unforwarded.
            await reader.read(CHUNK)

        await self._first_of(body(), browser_done())

    async def _reply(self, writer: asyncio.StreamWriter, status: int, text: str) -> None:
        reason = {400: "Bad Request", 502: "Bad Gateway"}[status]
        data = text.encode()
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data
        )
        try:
            await writer.drain()
        except ConnectionError:
            pass

    @staticmethod
    async def _first_of(*coros) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for r in results:
            if isinstance(r, Exception) and not isinstance(r, (ConnectionError, asyncio.CancelledError)):
                log.debug("proxy relay ended: %s", type(r).__name__)

    async def _pipe(self, reader, writer, up_reader, up_writer) -> None:
        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(CHUNK):
                dst.write(data)
                await dst.drain()

        await self._first_of(copy(reader, up_writer), copy(up_reader, writer))
