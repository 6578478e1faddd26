"""One Chromium per process, relaunched if it crashes or disconnects.

Chromium renders hostile pages, so it never holds a secret:

* In the image, the launcher (``launcher.py``) starts a Playwright browser
  server as the ``browser`` user, with a minimal environment, before the app
  becomes ``crawler``; the app connects to it (``CRAWLER_BROWSER_ENDPOINT``).
  A renderer exploit then runs as a user that can read neither the app's
  environment (MONGODB_URI, the API keys) nor its memory.
* Elsewhere (``python app.py``, the service's tests) the app launches Chromium
  itself, with an explicit minimal environment (``browser_env``).

Either way Chromium's sandbox is tried first. Where it cannot start (it needs
unprivileged user namespaces, which Docker's default seccomp profile and
Fargate refuse, and it refuses to run as root) Chromium runs without it and the
launch line says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Mapping, Optional

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from .settings import Settings

log = logging.getLogger("crawler.browser")

CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A page's WebRTC must not send UDP past the egress proxy (to a STUN server
    # on any address the guard refuses). Full Chromium reads only this switch...
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    # ... headless-shell only this one.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    # No HTTP/3 (UDP) either: every connection goes through the proxy as TCP.
    "--disable-quic",
]

# The only variables Chromium gets: nothing secret, whatever the app's environment holds.
BROWSER_ENV_NAMES = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")


def browser_env(environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The minimal environment Chromium is launched with."""
    environ = os.environ if environ is None else environ
    env = {name: environ[name] for name in BROWSER_ENV_NAMES if environ.get(name)}
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


def _sandbox_refused(exc: Exception) -> bool:
    """A launch that failed because Chromium's sandbox could not start."""
    return "sandbox" in str(exc).lower()


class BrowserManager:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._playwright: Optional[Playwright] = None
        self._browser: Optional[Browser] = None
        self._lock = asyncio.Lock()
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.launches = 0
        self.failed = False  # the last launch attempt failed (twice, driver restarted in between)
        # Whether Chromium runs in its sandbox: None until the first launch tells.
        self.sandboxed: Optional[bool] = None
        if not settings.browser_endpoint and os.geteuid() == 0:
            self.sandboxed = False  # Chromium refuses its sandbox as root
            self._no_sandbox_reason = "running as root"
        else:
            self._no_sandbox_reason = ""

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
            where = "browser server" if self._settings.browser_endpoint else "launched here"
            sandbox = "on" if self.sandboxed else f"off: {self._no_sandbox_reason}"
            log.info("browser launched (%s, %s, sandbox %s)", self._browser.version, where, sandbox)
            return self._browser

    async def _launch(self) -> Browser:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        if self.sandboxed is not False:
            try:
                browser = await self._start(sandbox=True)
                self.sandboxed = True
                return browser
            except PlaywrightError as exc:
                if not _sandbox_refused(exc):
                    raise
                self.sandboxed = False
                self._no_sandbox_reason = "no unprivileged user namespaces here"
                log.warning("Chromium's sandbox cannot start here (no unprivileged user namespaces); running without it")
        return await self._start(sandbox=False)

    async def _start(self, sandbox: bool) -> Browser:
        s = self._settings
        timeout = max(s.crawl_timeout, 30) * 1000
        if s.browser_endpoint:
            # The server launches Chromium with these options, in ITS environment (minimal).
            options = {"args": CHROMIUM_ARGS, "headless": s.headless, "chromiumSandbox": sandbox, "timeout": timeout}
            if s.chromium_path:
                options["executablePath"] = s.chromium_path
            return await self._playwright.chromium.connect(
                s.browser_endpoint, timeout=timeout, headers={"x-playwright-launch-options": json.dumps(options)}
            )
        return await self._playwright.chromium.launch(
            executable_path=s.chromium_path,
            headless=s.headless,
            args=CHROMIUM_ARGS,
            chromium_sandbox=sandbox,
            env=browser_env(),
            timeout=timeout,
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
