"""Extract a rendered page's content where the page cannot reach it, and trust
none of it until Python has checked it.

The script runs in an isolated world (``Page.createIsolatedWorld``, as an
extension's content script does): it shares the page's DOM but not its
JavaScript, so a page that replaced ``String.prototype.slice``, ``Array.from``,
``JSON`` or a DOM getter changes nothing there. What a page can still do is
make its DOM large (a 3,000,000-character title, a million links), so the
script bounds its own work and output, and ``clean`` enforces every type and
cap again in Python: whatever the browser returns (a compromised renderer
included), a stored document has the documented shape and size.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import urlsplit

from .settings import Settings

WORLD_NAME = "huskit-crawler-extract"
MAX_ANCHORS_SCANNED = 20_000  # a page with more links is read from its first ones
EVALUATE_TIMEOUT_MS = 10_000

# Runs in the isolated world: its builtins are pristine, the page's are not seen.
EXTRACT_JS = """
(limits) => {
  const cut = (s, n) => String(s).slice(0, n);
  const meta = document.querySelector('meta[name="description" i]')
            || document.querySelector('meta[property="og:description" i]');
  const body = document.body;
  const links = [];
  const seen = new Set();
  const anchors = document.querySelectorAll('a[href]');
  const scan = Math.min(anchors.length, limits.scan);
  for (let i = 0; i < scan && links.length < limits.links; i++) {
    const a = anchors[i];
    let u;
    try { u = new URL(a.href, document.baseURI); } catch (e) { continue; }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') continue;
    u.hash = '';
    const href = u.href;
    if (href.length > limits.url || seen.has(href)) continue;
    seen.add(href);
    links.push({url: href, text: cut((a.innerText || a.textContent || '').replace(/\\s+/g, ' ').trim(), limits.linkText)});
  }
  return {
    title: cut((document.title || '').trim(), limits.title + 1),
    description: meta ? cut((meta.getAttribute('content') || '').trim(), limits.description + 1) : null,
    text: cut((body ? (body.innerText || '') : '').trim(), limits.text + 1),
    links,
  };
}
"""


class ExtractionFailed(Exception):
    pass


def limits(settings: Settings) -> dict[str, int]:
    return {
        "title": settings.max_title_chars,
        "description": settings.max_description_chars,
        "text": settings.max_text_chars,
        "links": settings.max_links,
        "url": settings.max_link_url_chars,
        "linkText": settings.max_link_text_chars,
        "scan": MAX_ANCHORS_SCANNED,
    }


async def extract(page: Any, settings: Settings) -> dict:
    """The page's title, description, text and links, read in an isolated world (raw)."""
    cdp = await page.context.new_cdp_session(page)
    try:
        tree = await cdp.send("Page.getFrameTree")
        world = await cdp.send(
            "Page.createIsolatedWorld",
            {"frameId": tree["frameTree"]["frame"]["id"], "worldName": WORLD_NAME, "grantUniveralAccess": False},
        )
        reply = await cdp.send("Runtime.evaluate", {
            "expression": f"({EXTRACT_JS})({json.dumps(limits(settings))})",
            "contextId": world["executionContextId"],
            "returnByValue": True,
            "timeout": EVALUATE_TIMEOUT_MS,
        })  # fmt: skip
    finally:
        try:
            await cdp.detach()
        except Exception:
            pass
    if reply.get("exceptionDetails"):
        raise ExtractionFailed("the extraction script failed")
    return reply.get("result", {}).get("value")


def _text(value: Any, cap: int) -> str:
    return value[:cap] if isinstance(value, str) else ""


def _http_url(value: Any, cap: int) -> Optional[str]:
    if not isinstance(value, str) or not value or len(value) > cap:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.hostname else None


def clean(raw: Any, settings: Settings) -> dict:
    """Only the documented fields, each of its type and within its cap.

    Raises ExtractionFailed when the result is not even an object."""
    if not isinstance(raw, dict):
        raise ExtractionFailed("the extraction returned no object")
    s = settings
    text = raw.get("text") if isinstance(raw.get("text"), str) else ""
    description = raw.get("description")
    links: list[dict[str, str]] = []
    seen: set[str] = set()
    items = raw.get("links") if isinstance(raw.get("links"), list) else []
    for item in items[: s.max_links * 2]:  # a bounded look at what came back
        if len(links) >= s.max_links:
            break
        if not isinstance(item, dict):
            continue
        url = _http_url(item.get("url"), s.max_link_url_chars)
        if url is None or url in seen:
            continue
        seen.add(url)
        links.append({"url": url, "text": _text(item.get("text"), s.max_link_text_chars)})
    return {
        "title": _text(raw.get("title"), s.max_title_chars),
        "description": description[: s.max_description_chars] if isinstance(description, str) else None,
        "text": text[: s.max_text_chars],
        "text_truncated": len(text) > s.max_text_chars,
        "links": links,
    }
