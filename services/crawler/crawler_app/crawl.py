"""Render one URL in Chromium behind the SSRF guard and extract its content.

A target that is not allowed and one that is not reachable get the same
answer (``unreachable``): the crawler must not tell a caller, or a page it
renders, which internal names resolve to private addresses. Which requests
the guard refused is logged (a count), never returned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request, Route
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from .browser import BrowserManager
from .egress import EgressProxy
from .extract import ExtractionFailed, clean, extract
from .settings import Settings
from .ssrf import ForbiddenTarget, Guard, Resolver, Unresolvable, url_host

log = logging.getLogger("crawler.crawl")

MAX_URL_LENGTH = 2048
HTML_TYPES = ("text/html", "application/xhtml+xml")
SKIPPED_RESOURCES = {"image", "media", "font"}  # never affect the extracted text
MAX_OWNER_LENGTH = 128
# One answer for "refused by the guard", "does not resolve" and "no connection".
NOT_REACHABLE = "the target is not allowed or not reachable"

def _now_ms() -> datetime:
    """UTC now at BSON's millisecond precision, so the stored and returned values match."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class CrawlError(Exception):
    def __init__(self, http_status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status = http_status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict:
        return {"error": self.code, "message": self.message, **self.extra}


def validate_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise CrawlError(400, "invalid_url", "body must be JSON {\"url\": \"http(s)://...\"}")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise CrawlError(400, "invalid_url", f"url longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise CrawlError(400, "invalid_url", "url contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # raises on a bad port
    except ValueError as exc:
        raise CrawlError(400, "invalid_url", f"malformed url: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise CrawlError(400, "invalid_url", "only http and https urls can be crawled")
    if not host:
        raise CrawlError(400, "invalid_url", "url has no host")
    return url


def redact(url: str) -> str:
    """scheme://host[:port]/path only: no credentials, query or fragment in logs."""
    try:
        p = urlsplit(url)
        host = p.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{p.port}" if p.port else ""
        return f"{p.scheme}://{host}{port}{p.path}"
    except ValueError:
        return "<unparseable>"


def not_reachable() -> CrawlError:
    return CrawlError(502, "unreachable", NOT_REACHABLE)


def owner_of(value: Any) -> str:
    """Whose crawl this is (website-agent's X-Crawl-User); one shared key without it."""
    if isinstance(value, str) and 0 < len(value) <= MAX_OWNER_LENGTH and value.isprintable():
        return value
    return "-"


class Owners:
    """Per user: at most ``running`` pages at once and ``queued`` crawls waiting
    for one; a crawl past both is refused (429), not queued."""

    def __init__(self, running: int, queued: int):
        self.running = running
        self.queued = queued
        self._in_flight: dict[str, int] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}

    def admit(self, owner: str) -> None:
        held = self._in_flight.get(owner, 0)
        if held >= self.running + self.queued:
            raise CrawlError(
                429, "too_many_crawls",
                f"this user already has {held} crawls running or waiting; retry when one has finished",
            )  # fmt: skip
        self._in_flight[owner] = held + 1
        self._slots.setdefault(owner, asyncio.Semaphore(self.running))

    def slot(self, owner: str) -> asyncio.Semaphore:
        return self._slots[owner]

    def release(self, owner: str) -> None:
        left = self._in_flight[owner] - 1
        if left:
            self._in_flight[owner] = left
        else:
            del self._in_flight[owner]
            del self._slots[owner]


class Crawler:
    def __init__(self, settings: Settings, browsers: BrowserManager, resolver: Resolver):
        self.settings = settings
        self.browsers = browsers
        self.resolver = resolver
        self.semaphore = asyncio.Semaphore(settings.max_pages)
        self.active = 0  # pages open right now
        self.peak = 0
        self.owners = Owners(settings.max_pages_per_user, settings.max_queued_per_user)
        self.last_proxy_connections = 0  # upstream connections of the last crawl (tests)
        self.last_blocked = 0  # requests of the last crawl the guard refused (logged, not returned)

    def _guard(self) -> Guard:
        s = self.settings
        return Guard(
            self.resolver,
            allow_private=s.allow_private_networks,
            allow_loopback=s.allow_loopback,
            timeout=min(s.crawl_timeout, 10.0),
        )

    async def crawl(self, url: str, owner: str = "-") -> dict:
        """Validated url in, extracted document out (not stored). Raises CrawlError."""
        url = validate_url(url)
        guard = self._guard()
        try:
            await guard.check_host(url_host(url))
        except (ForbiddenTarget, Unresolvable):
            raise not_reachable() from None

        self.owners.admit(owner)
        try:
            async with asyncio.timeout(self.settings.crawl_timeout) as waiting:
                async with self.owners.slot(owner):
                    await self.semaphore.acquire()
                    waiting.reschedule(None)
                    try:
                        return await self._crawl(url, guard)
                    finally:
                        self.semaphore.release()
        except TimeoutError:
            raise CrawlError(503, "busy", "all crawler pages are busy; retry later") from None
        finally:
            self.owners.release(owner)

    async def _crawl(self, url: str, guard: Guard) -> dict:
        timeout = self.settings.crawl_timeout
        try:
            browser = await self.browsers.get()
        except Exception as exc:
            log.error("browser unavailable: %s", type(exc).__name__)
            raise CrawlError(503, "browser_unavailable", "the browser could not be started") from None
        proxy = EgressProxy(guard, connect_timeout=timeout)
        proxy_url = await proxy.start()
        blocked = [0]
        try:
            # "<-loopback>" removes Chromium's implicit proxy bypass for
            # localhost/127.0.0.1/[::1]: loopback must go through the guard too.
            try:
                context = await browser.new_context(
                    proxy={"server": proxy_url, "bypass": "<-loopback>"},
                    service_workers="block",
                    accept_downloads=False,
                    ignore_https_errors=False,
                )
            except PlaywrightError:
                raise CrawlError(503, "browser_unavailable", "the browser is restarting; retry") from None
            self.active += 1
            self.peak = max(self.peak, self.active)
            try:
                try:
                    async with asyncio.timeout(timeout):
                        return await self._render(context, url, guard, blocked, timeout)
                except TimeoutError:
                    raise CrawlError(504, "timeout", f"page did not load within {timeout:g} s") from None
                except PlaywrightError:
                    if not browser.is_connected():
                        raise CrawlError(503, "browser_unavailable", "the browser crashed; retry") from None
                    raise CrawlError(502, "render_failed", "the page could not be rendered") from None
            finally:
                self.active -= 1
                try:
                    await asyncio.wait_for(context.close(), 10)
                except Exception:
                    pass
        finally:
            self.last_proxy_connections = proxy.connections
            self.last_blocked = blocked[0] + proxy.refused
            if self.last_blocked:
                log.info("crawl url=%s: the guard refused %d requests", redact(url), self.last_blocked)
            await proxy.close()

    async def _render(self, context, url: str, guard: Guard, blocked: list[int], timeout: float) -> dict:
        started = time.monotonic()
        nav_hosts: list[str] = []  # every main-frame navigation hop, redirects included
        page_ref: dict[str, Page] = {}

        def is_main_navigation(req: Request) -> bool:
            try:
                page = page_ref.get("page")
                return req.is_navigation_request() and page is not None and req.frame == page.main_frame
            except PlaywrightError:
                return False

        def on_request(req: Request) -> None:
            if is_main_navigation(req):
                nav_hosts.append(url_host(req.url) or "")

        def navigation_error() -> Optional[CrawlError]:
            if any(guard.verdict(host) is not None for host in nav_hosts):
                return not_reachable()
            return None

        async def on_route(route: Route) -> None:
            req = route.request
            try:
                scheme = urlsplit(req.url).scheme.lower()
                if scheme not in ("http", "https"):
                    await route.abort("blockedbyclient")
                    return
                try:
                    await guard.check_host(url_host(req.url) or "")
                except (ForbiddenTarget, Unresolvable):
                    blocked[0] += 1
                    await route.abort("addressunreachable")  # the same failure whichever it was
                    return
                if req.resource_type in SKIPPED_RESOURCES:
                    await route.abort("blockedbyclient")
                    return
                await route.continue_()
            except PlaywrightError:
                pass  # page or context closed meanwhile

        await context.route("**/*", on_route)
        page = await context.new_page()
        page_ref["page"] = page
        page.on("request", on_request)
        # Popups are not crawled.
        context.on("page", lambda p: asyncio.ensure_future(p.close()) if p is not page else None)

        try:
            response = await page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        except PlaywrightTimeoutError:
            raise CrawlError(504, "timeout", f"page did not load within {timeout:g} s") from None
        except PlaywrightError as exc:
            err = navigation_error()
            if err is not None:
                raise err from None
            if "Download is starting" in str(exc):
                raise CrawlError(415, "not_html", "the target is not an HTML page (download)") from None
            raise not_reachable() from None  # Chromium's net::ERR_* would tell which
        err = navigation_error()
        if err is not None:
            raise err
        if response is None:
            raise not_reachable()

        status = response.status
        if status >= 400:
            raise CrawlError(502, "upstream_status", f"target answered HTTP {status}", status=status)
        ctype = (await response.header_value("content-type") or "").split(";", 1)[0].strip().lower()
        if ctype not in HTML_TYPES:
            raise CrawlError(415, "not_html", f"content-type is {ctype or 'missing'}, not HTML")

        # Let scripts render; pages that never go idle are extracted as they are.
        for state, cap in (("load", timeout), ("networkidle", 5.0)):
            remaining = timeout - (time.monotonic() - started) - 0.5
            if remaining <= 0:
                break
            try:
                await page.wait_for_load_state(state, timeout=min(remaining, cap) * 1000)
            except PlaywrightTimeoutError:
                break

        err = navigation_error()  # a script navigated the page somewhere forbidden
        if err is not None:
            raise err
        try:
            content = clean(await extract(page, self.settings), self.settings)
        except ExtractionFailed:
            raise CrawlError(502, "render_failed", "the page could not be rendered") from None
        final_url = page.url
        if not isinstance(final_url, str) or len(final_url) > MAX_URL_LENGTH:
            final_url = url
        return {"url": url, "final_url": final_url, "status": int(status), **content, "crawled_at": _now_ms()}
