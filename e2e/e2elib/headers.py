"""Extra headers the caller asks every request of the suite to carry
(``PARITY_E2E_HEADERS``, a JSON object ``{"Header-Name": "value"}``): the
test-traffic header of a gated deployment, whose value is a secret. The gate
(`inv up`'s for a gated service, `inv promote`'s) sets it in the suite's
environment only: never on a command line, never logged. Here it is added to
every httpx request (an event hook on every client, so a request sent with
``client.send`` carries it too) and to every Playwright context
(``extra_http_headers``), and the values are masked in whatever the suite
reports (failure texts, captured output, checks.json, the JUnit XML)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

ENV = "PARITY_E2E_HEADERS"
MASK = "***"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)


def extra_headers(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The headers ``PARITY_E2E_HEADERS`` asks for ({} when unset or empty).
    A malformed value raises ValueError naming what is wrong, never the value."""
    raw = environ.get(ENV, "").strip()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ValueError(f'{ENV} is not JSON (expected an object {{"Header-Name": "value"}})') from None
    if not isinstance(parsed, dict):
        raise ValueError(f'{ENV} is not a JSON object (expected {{"Header-Name": "value"}})')
    for name, value in parsed.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"{ENV}: {name!r} is not a header name")
        if not isinstance(value, str) or not value or any(c in value for c in "\r\n\0"):
            raise ValueError(f"{ENV}: the value of {name} is not a non-empty single-line string")
    return dict(parsed)


def redact(text: str, headers: Mapping[str, str]) -> str:
    """``text`` with every header value replaced by ***."""
    for value in headers.values():
        if value:
            text = text.replace(value, MASK)
    return text


def install_httpx(headers: Mapping[str, str]) -> None:
    """Make every ``httpx.Client`` (and ``httpx.get``/``stream``, which make
    one) add ``headers`` to each request it sends."""
    if not headers:
        return
    import httpx

    if getattr(httpx.Client, "_parity_extra_headers", None) is not None:
        httpx.Client._parity_extra_headers = dict(headers)  # type: ignore[attr-defined]
        return
    original = httpx.Client.__init__

    def add(request: httpx.Request) -> None:
        for name, value in httpx.Client._parity_extra_headers.items():  # type: ignore[attr-defined]
            request.headers[name] = value

    def __init__(self, *args, **kwargs):  # noqa: N807
        hooks = dict(kwargs.pop("event_hooks", None) or {})
        hooks["request"] = [*hooks.get("request", []), add]
        original(self, *args, event_hooks=hooks, **kwargs)

    httpx.Client.__init__ = __init__  # type: ignore[method-assign]
    httpx.Client._parity_extra_headers = dict(headers)  # type: ignore[attr-defined]
