"""Configuration, read once from the environment at startup."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(value: Optional[str], default: bool, name: str) -> bool:
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {value!r}")


def _number(value: Optional[str], default: float, name: str, minimum: float) -> float:
    if value is None or value.strip() == "":
        return default
    try:
        n = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return n


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 4999
    node_env: str = "development"
    mongodb_uri: Optional[str] = field(default=None, repr=False)  # may hold credentials
    mongodb_database: str = "crawler_db"
    crawl_timeout: float = 30.0  # seconds
    headless: bool = True
    max_pages: int = 2
    # Explicit path, or None to use Playwright's bundled browser.
    chromium_path: Optional[str] = DEFAULT_CHROMIUM_PATH
    allow_private_networks: bool = False
    # Test-only: lets the suite crawl a fixture served on 127.0.0.1. Not read
    # from the environment, so a deployed service always refuses loopback.
    allow_loopback: bool = False
    # A Playwright browser server to connect to (ws://127.0.0.1:PORT/), started by
    # the image's launcher as a user of its own; unset: launch Chromium here.
    browser_endpoint: Optional[str] = None
    # Per user (the X-Crawl-User header website-agent sets): pages rendering at
    # once, and crawls waiting for one; past both, 429.
    max_pages_per_user: int = 1
    max_queued_per_user: int = 1
    mongo_timeout_ms: int = 2000
    # Caps on what one crawl stores and returns, enforced in Python.
    max_title_chars: int = 1000
    max_description_chars: int = 2000
    max_text_chars: int = 20000
    max_links: int = 1000
    max_link_url_chars: int = 2048
    max_link_text_chars: int = 500

    @property
    def reload(self) -> bool:
        return self.node_env == "development"

    @property
    def api_docs(self) -> bool:
        """FastAPI's /docs, /redoc and /openapi.json: only for local development."""
        return self.node_env == "development"

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        chromium_path = env.get("CHROMIUM_PATH")
        if not chromium_path:
            # Unset: Debian's chromium if present, else Playwright's bundled one.
            chromium_path = DEFAULT_CHROMIUM_PATH if os.path.exists(DEFAULT_CHROMIUM_PATH) else None
        port = int(_number(env.get("PORT"), 4999, "PORT", 1))
        return cls(
            host=env.get("HOST") or "0.0.0.0",
            port=port,
            node_env=env.get("NODE_ENV", "development"),
            mongodb_uri=env.get("MONGODB_URI") or None,
            mongodb_database=env.get("MONGODB_DATABASE") or "crawler_db",
            crawl_timeout=_number(env.get("CRAWL4AI_TIMEOUT"), 30.0, "CRAWL4AI_TIMEOUT", 0.1),
            headless=_bool(env.get("CRAWL4AI_HEADLESS"), True, "CRAWL4AI_HEADLESS"),
            max_pages=int(_number(env.get("CRAWLER_MAX_PAGES"), 2, "CRAWLER_MAX_PAGES", 1)),
            chromium_path=chromium_path,
            allow_private_networks=_bool(
                env.get("CRAWLER_ALLOW_PRIVATE_NETWORKS"), False, "CRAWLER_ALLOW_PRIVATE_NETWORKS"
            ),
            browser_endpoint=(env.get("CRAWLER_BROWSER_ENDPOINT") or "").strip() or None,
            max_pages_per_user=int(_number(env.get("CRAWLER_MAX_PAGES_PER_USER"), 1, "CRAWLER_MAX_PAGES_PER_USER", 1)),
            max_queued_per_user=int(_number(env.get("CRAWLER_MAX_QUEUED_PER_USER"), 1, "CRAWLER_MAX_QUEUED_PER_USER", 0)),
        )
