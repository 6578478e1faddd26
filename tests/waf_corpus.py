"""Requests the WAF's managed rules decide, and how they are built: shared by
the unit tests (the model and the njs engine under Node), the integration
tests (the real edge) and the e2e checks (the running stack)."""

from __future__ import annotations

import json

from parity.render.waf import Request

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/130", "Content-Type": "application/json"}


def chat_body(size: int, with_script: bool = True) -> bytes:
    code = "<script>document.title = 'hi'</script>\n" if with_script else "const x = 1;\n"
    text = ("Why does this page not load?\n```html\n" + code * (size // len(code) + 1))[:size]
    body = json.dumps({"messages": [{"role": "user", "content": text}]}).encode()
    return body


# The corpus both the model and the local edge decide (tests/integration/test_edge_waf.py
# sends it through the real edge too).
CORPUS = {
    "chat-12k-script": Request("POST", "/api/chat", UA, chat_body(12 * 1024)),
    "chat-40k-code": Request("POST", "/api/chat", UA, chat_body(40 * 1024, with_script=False)),
    "chat-path-case": Request("POST", "/API/chat", UA, chat_body(12 * 1024)),
    "chat-trailing-slash": Request("POST", "/api/chat/", UA, chat_body(12 * 1024)),
    "login-12k": Request("POST", "/api/auth/login", UA, chat_body(12 * 1024, with_script=False)),
    "login-small-script": Request("POST", "/api/auth/login", UA, b'{"email":"<script>alert(1)</script>"}'),
    "crawl-event-handler": Request("POST", "/api/crawl", UA, b'{"url":"<img src=x onerror=alert(1)>"}'),
    "crawl-ok": Request("POST", "/api/crawl", UA, b'{"url":"http://fixture-site/"}'),
    "crawl-ip-url": Request("POST", "/api/crawl", UA, b'{"url":"http://10.0.0.1/x"}'),
    "no-user-agent": Request("GET", "/", {}),
    "bad-bot": Request("GET", "/", {"User-Agent": "Nmap Scripting Engine"}),
    "propfind": Request("PROPFIND", "/", UA),
    "long-query": Request("GET", "/?q=" + "a" * 2100, UA),
    "long-path": Request("GET", "/" + "p" * 1100, UA),
    "big-cookie": Request("GET", "/", {**UA, "Cookie": "c=" + "x" * 10300}),
    "traversal-query": Request("GET", "/api/stream?file=..%2f..%2fetc%2fpasswd", UA),
    "metadata": Request("GET", "/api/x?u=http://169.254.169.254/latest", UA),
    "log4j-header": Request("GET", "/", {**UA, "X-Api-Version": "${jndi:ldap://x/a}"}),
    "log4j-query": Request("GET", "/?x=%24%7Bjndi%3Aldap%3A%2F%2Fx%7D", UA),
    "web-inf": Request("GET", "/WEB-INF/web.xml", UA),
    "ini": Request("GET", "/config.ini", UA),
    "xss-query-entities": Request("GET", "/?q=%26lt%3Bscript%26gt%3B", UA),
    "plain-page": Request("GET", "/", UA),
    "plain-stream": Request("GET", "/api/stream?seconds=2", UA),
    "asset": Request("GET", "/assets/app-ABC.js", UA),
    "empty-post": Request("POST", "/api/auth/logout", {**UA, "Content-Length": "0"}),
    "small-json": Request("POST", "/api/auth/login", UA, b'{"email":"a@b.c","password":"longenough"}'),
    "body-8192": Request("POST", "/api/crawl", UA, b"x" * 8192),
    "body-8193": Request("POST", "/api/crawl", UA, b"x" * 8193),
}
