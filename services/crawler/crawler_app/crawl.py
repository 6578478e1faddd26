"""Render one URL in Chromium behind the SSRF guard and extract its content."""

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
from .settings import Settings
from .ssrf import ForbiddenTarget, Guard, Resolver, Unresolvable, url_host

log = logging.getLogger("crawler.crawl")

MAX_URL_LENGTH = 2048
HTML_TYPES = ("text/html", "application/xhtml+xml")
SKIPPED_RESOURCES = {"image", "media", "font"}  # never affect the extracted text
MAX_BLOCKED_RECORDED = 50

EXTRACT_JS = """
([maxText, maxLinks]) => {
  const meta = document.querySelector('meta[name="description" i]')
            || document.querySelector('meta[property="og:description" i]');
  const body = document.body;
  const text = (body ? (body.innerText || '') : '').trim().slice(0, maxText + 1);
  const links = new Map();
  for (const a of document.querySelectorAll('a[href]')) {
    let u;
    try { u = new URL(a.href, document.baseURI); } catch (e) { continue; }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') continue;
    u.hash = '';
    const label = (a.innerText || a.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 500);
    if (links.has(u.href)) {
      if (!links.get(u.href) && label) links.set(u.href, label);
      continue;
    }
    if (links.size >= maxLinks) continue;
    links.set(u.href, label);
  }
  return {
    title: (document.title || '').trim(),
    description: meta ? (meta.getAttribute('content') || '').trim() : null,
    text,
    links: Array.from(links, ([url, text]) => ({url, text})),
  };
}
"""


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


def _guard_error(exc: Exception, what: str) -> CrawlError:
    if isinstance(exc, ForbiddenTarget):
        return CrawlError(403, "forbidden_target", f"{what} {exc.host} resolves to a forbidden address ({exc.kind})")
    return CrawlError(502, "unreachable", f"{what}: {exc}")


class Crawler:
    def __init__(self, settings: Settings, browsers: BrowserManager, resolver: Resolver):
        self.settings = settings
        self.browsers = browsers
        self.resolver = resolver
        self.semaphore = asyncio.Semaphore(settings.max_pages)
        self.active = 0  # pages open right now
        self.peak = 0
        self.last_proxy_connections = 0  # upstream connections of the last crawl (tests)

    def _guard(self) -> Guard:
        s = self.settings
        return Guard(
            self.resolver,
            allow_private=s.allow_private_networks,
            allow_loopback=s.allow_loopback,
            timeout=min(s.crawl_timeout, 10.0),
        )

    async def crawl(self, url: str) -> dict:
        """Validated url in, extracted document out (not stored). Raises CrawlError."""
        url = validate_url(url)
        guard = self._guard()
        try:
            await guard.check_host(url_host(url))
        except (ForbiddenTarget, Unresolvable) as exc:
            raise _guard_error(exc, "host") from None

        timeout = self.settings.crawl_timeout
        try:
            await asyncio.wait_for(self.semaphore.acquire(), timeout)
        except asyncio.TimeoutError:
            raise CrawlError(503, "busy", "all crawler pages are busy; retry later") from None
        try:
            try:
                browser = await self.browsers.get()
            except Exception as exc:
                log.error("browser unavailable: %s", type(exc).__name__)
                raise CrawlError(503, "browser_unavailable", "the browser could not be started") from None
            proxy = EgressProxy(guard, connect_timeout=timeout)
            proxy_url = await proxy.start()
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
                            return await self._render(context, url, guard, proxy, timeout)
                    except TimeoutError:
                        raise CrawlError(504, "timeout", f"page did not load within {timeout:g} s") from None
                    except PlaywrightError as exc:
                        if not browser.is_connected():
                            raise CrawlError(503, "browser_unavailable", "the browser crashed; retry") from None
                        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                        raise CrawlError(502, "render_failed", msg[:300]) from None
                finally:
                    self.active -= 1
                    try:
                        await asyncio.wait_for(context.close(), 10)
                    except Exception:
                        pass
            finally:
                self.last_proxy_connections = proxy.connections
                await proxy.close()
        finally:
            self.semaphore.release()

    async def _render(self, context, url: str, guard: Guard, proxy: EgressProxy, timeout: float) -> dict:
        started = time.monotonic()
        blocked: list[str] = []
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
            for host in nav_hosts:
                err = guard.verdict(host)
                if err is not None:
                    return _guard_error(err, "navigation target")
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
                except (ForbiddenTarget, Unresolvable) as exc:
                    if isinstance(exc, ForbiddenTarget) and len(blocked) < MAX_BLOCKED_RECORDED:
                        blocked.append(redact(req.url))
                    await route.abort("blockedbyclient" if isinstance(exc, ForbiddenTarget) else "namenotresolved")
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
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "Download is starting" in msg:
                raise CrawlError(415, "not_html", "the target is not an HTML page (download)") from None
            raise CrawlError(502, "unreachable", msg[:300]) from None
        err = navigation_error()
        if err is not None:
            raise err
        if response is None:
            raise CrawlError(502, "unreachable", "no response for the main document")

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
        s = self.settings
        data = await page.evaluate(EXTRACT_JS, [s.max_text_chars, s.max_links])
        text = data.get("text") or ""
        return {
            "url": url,
            "final_url": page.url,
            "status": status,
            "title": data.get("title") or "",
            "description": data.get("description"),
            "text": text[: s.max_text_chars],
            "text_truncated": len(text) > s.max_text_chars,
            "links": data.get("links") or [],
            "blocked_requests": (blocked + proxy.blocked)[:MAX_BLOCKED_RECORDED],
            "crawled_at": _now_ms(),
        }
