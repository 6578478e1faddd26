"""One Chromium per process, relaunched if it crashes or disconnects."""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

from playwright.async_api import Browser, Playwright, async_playwright

from .settings import Settings

log = logging.getLogger("crawler.browser")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Keep WebRTC from reaching local addresses behind the request guard's back.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]


class BrowserManager:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._playwright: Optional[Playwright] = None
        self._browser: Optional[Browser] = None
        self._lock = asyncio.Lock()
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.launches = 0
        self.failed = False  # the last launch attempt failed (twice, driver restarted in between)

    @property
    def state(self) -> str:
        """``ok`` (connected), ``starting`` (not launched yet, or gone and relaunched
        on the next crawl) or ``failed`` (the last launch failed: the process is useless)."""
        b = self._browser
        if b is not None and b.is_connected():
            return "ok"
        return "failed" if self.failed else "starting"

    async def get(self) -> Browser:
        """The running browser, launching (or relaunching) it if needed."""
        b = self._browser
        if b is not None and b.is_connected():
            return b
        async with self._lock:
            b = self._browser
            if b is not None and b.is_connected():
                return b
            if b is not None:
                log.warning("browser disconnected; relaunching")
                await self._close_browser()
            self.loop = asyncio.get_running_loop()
            try:
                self._browser = await self._launch()
            except Exception as exc:
                # The Playwright driver itself may be gone: restart it once.
                log.warning("browser launch failed (%s); restarting driver", type(exc).__name__)
                await self._stop_playwright()
                try:
                    self._browser = await self._launch()
                except Exception:
                    self.failed = True
                    raise
            self.failed = False
            self._browser.on("disconnected", self._on_disconnected)
            self.launches += 1
            log.info("browser launched (%s)", self._browser.version)
            return self._browser

    async def _launch(self) -> Browser:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        return await self._playwright.chromium.launch(
            executable_path=self._settings.chromium_path,
            headless=self._settings.headless,
            args=CHROMIUM_ARGS,
            timeout=max(self._settings.crawl_timeout, 30) * 1000,
        )

    async def _stop_playwright(self) -> None:
        pw, self._playwright = self._playwright, None
        if pw is not None:
            try:
                await pw.stop()
            except Exception:
                pass

    def _on_disconnected(self, _browser: Browser) -> None:
        log.warning("browser disconnected")

    async def _close_browser(self) -> None:
        b, self._browser = self._browser, None
        if b is not None:
            try:
                await b.close()
            except Exception:  # already gone
                pass

    async def close(self) -> None:
        async with self._lock:
            await self._close_browser()
            await self._stop_playwright()
