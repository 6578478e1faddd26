"""Per-crawl egress proxy: the only way out of the browser context.

Chromium's request interception (Playwright routes) does not see redirect hops
or WebSockets, so every connection of a crawl's browser context goes through
this small forward proxy on 127.0.0.1 instead. For each plain-HTTP request and
each CONNECT tunnel it resolves the target once, applies the SSRF guard to ALL
of its addresses, and connects to a checked address itself, so a redirect, a
sub-resource, a WebSocket or a DNS answer that changes between check and use
(rebinding) cannot reach a forbidden address such as 169.254.169.254.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional
from urllib.parse import urlsplit

from .ssrf import ForbiddenTarget, Guard, Unresolvable

log = logging.getLogger("crawler.egress")

MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}


class EgressProxy:
    def __init__(self, guard: Guard, connect_timeout: float):
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.blocked: list[str] = []  # targets refused by the guard
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
    async def _connect(self, host: str, port: int, label: str):
        """Guard-check ``host`` and open a connection to one of its checked addresses."""
        try:
            addresses = await self.guard.check_host(host)
        except ForbiddenTarget:
            if len(self.blocked) < 50:
                self.blocked.append(label)
            raise
        last: Exception = Unresolvable(f"cannot connect to {host}")
        for addr in addresses:
            try:
                conn = await asyncio.wait_for(asyncio.open_connection(addr, port), self.connect_timeout)
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
            except ValueError:
                return await self._reply(writer, 400, "bad request")

            if method.upper() == "CONNECT":
                hostport = urlsplit("//" + target)
                host, port = hostport.hostname, hostport.port or 443
                label = f"https://{target}/"
            else:
                parts = urlsplit(target)
                if parts.scheme.lower() != "http" or not parts.hostname:
                    return await self._reply(writer, 400, "only absolute http:// requests are proxied")
                host, port = parts.hostname, parts.port or 80
                label = f"http://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"
            if not host:
                return await self._reply(writer, 400, "no host")

            try:
                up_reader, up_writer = await self._connect(host, port, label)
            except ForbiddenTarget as exc:
                return await self._reply(writer, 403, f"forbidden target ({exc.kind})", "forbidden_target")
            except Unresolvable:
                return await self._reply(writer, 502, "unresolvable host", "unreachable")
            except (OSError, asyncio.TimeoutError):
                return await self._reply(writer, 502, "connection failed", "unreachable")

            if method.upper() == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                path = parts.path or "/"
                if parts.query:
                    path += "?" + parts.query
                headers = [h for h in lines[1:] if h and h.split(":", 1)[0].strip().lower() not in HOP_BY_HOP]
                up_writer.write(
                    (f"{method} {path} {version}\r\n" + "".join(h + "\r\n" for h in headers)
                     + "Connection: close\r\n\r\n").encode("latin-1")
                )
            await self._pipe(reader, writer, up_reader, up_writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
            self._writers.discard(writer)
            self._handlers.discard(task)

    async def _reply(self, writer: asyncio.StreamWriter, status: int, text: str, code: str = "bad_request") -> None:
        reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
        body = text.encode()
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nX-Crawler-Blocked: {code}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        )
        try:
            await writer.drain()
        except ConnectionError:
            pass

    @staticmethod
    async def _pipe(reader, writer, up_reader, up_writer) -> None:
        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(CHUNK):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass

        tasks = [asyncio.ensure_future(copy(reader, up_writer)), asyncio.ensure_future(copy(up_reader, writer))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
