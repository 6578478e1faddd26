"""Plan §12: "Crawler endpoint reachable from website-agent", "Crawler NOT
reachable from public internet" and "Full crawl pipeline works end-to-end".

Locally, "the public internet" is everything outside the stack's private
networks: the host's published ports, the edge container and every path the
edge serves."""

import json
import re
import socket
import uuid

import httpx
import pytest
from e2elib import ROOT
from e2elib.probe import REACH_SH, parse_reach

CRAWLER = "crawler"
CRAWLER_HEALTH_SIGNATURE = '"browser"'  # a key of the crawler's /health body (FastAPI, not the web)
WEB = "website-agent"

# Paths a mis-routed edge could hand to the crawler, and a Host header naming it.
EDGE_PATHS = [
    "/health",
    "/crawl",
    "/docs",
    "/openapi.json",
    "/pages/000000000000000000000000",
    "/crawler/health",
    "/internal/health",
    "/api/health",
    "/api/crawl",
]


def _looks_like_crawler(r: httpx.Response) -> str:
    """Why a response seems to come from the crawler (FastAPI), or ''."""
    if "uvicorn" in r.headers.get("server", "").lower():
        return "Server: uvicorn"
    if "HuskIT crawler" in r.text:
        return "the crawler's OpenAPI title"
    try:
        body = r.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict) and "browser" in body and "mongodb" in body:
        return "the crawler's /health body"
    if isinstance(body, dict) and set(body) == {"detail"}:
        return "a FastAPI error body"
    return ""


@pytest.mark.smoke
def test_crawler_not_reachable_through_edge_paths(http):
    """No edge path (or Host header) reaches the crawler"""
    leaks = []
    for path in EDGE_PATHS:
        for headers in ({}, {"host": "crawler.internal:4999"}):
            r = http.get(path, headers=headers)
            why = _looks_like_crawler(r)
            if why:
                leaks.append(f"GET {path} {headers or ''} -> {r.status_code} ({why})")
    r = http.post("/crawl", json={"url": "http://example.com/"})
    if _looks_like_crawler(r):
        leaks.append(f"POST /crawl -> {r.status_code} ({_looks_like_crawler(r)})")
    assert not leaks, "the crawler answers through the edge: " + "; ".join(leaks)


@pytest.mark.container
def test_crawler_not_reachable_from_edge_container(local):
    """The edge container cannot reach the crawler, by name or by any of its addresses"""
    crawlers = local.containers(CRAWLER)
    assert crawlers, "no running crawler container"
    urls = ["http://crawler.internal:4999/health", "http://crawler:4999/health"]
    for c in crawlers:
        urls.append(f"http://{c['Name'].lstrip('/')}:4999/health")
        for net in c["NetworkSettings"]["Networks"].values():
            if net.get("IPAddress"):
                urls.append(f"http://{net['IPAddress']}:4999/health")
    proc = local.exec(local.edge_container, ["sh", "-c", REACH_SH, "sh", CRAWLER_HEALTH_SIGNATURE, *urls], timeout=30)
    answers = parse_reach(proc.stdout)
    assert set(answers) == set(urls), f"probe from {local.edge_container} failed: {proc.stdout!r} {proc.stderr!r}"
    # Only the crawler's own answer counts: on some hosts a transparent proxy answers any address.
    reached = [f"{u} -> HTTP {code}" for u, (code, is_crawler) in answers.items() if is_crawler]
    assert not reached, f"the edge ({local.edge_container}) reaches the crawler: " + "; ".join(reached)


@pytest.mark.container
def test_crawler_not_published_to_host(local):
    """The crawler publishes no port to the host; 127.0.0.1:4999 is closed"""
    for c in local.containers(CRAWLER):
        published = {k: v for k, v in (c["NetworkSettings"]["Ports"] or {}).items() if v}
        assert not published, f"{c['Name']} publishes {published}"
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", 4999)) != 0, "something answers on 127.0.0.1:4999"


@pytest.mark.smoke
def test_crawler_health_through_website_agent(http):
    """website-agent reaches the crawler: /api/crawler/health is ok"""
    r = http.get("/api/crawler/health")
    assert r.status_code == 200, f"/api/crawler/health: HTTP {r.status_code} {r.text[:300]}"
    body = r.json()
    assert body.get("status") == "ok", body
    assert body.get("crawler", {}).get("mongodb") == "ok", f"crawler health: {body.get('crawler')}"


@pytest.mark.container
def test_crawler_reachable_from_each_website_agent_replica(local):
    """Every website-agent replica reaches http://crawler.internal:4999/health"""
    script = (
        "fetch('http://crawler.internal:4999/health', {signal: AbortSignal.timeout(5000)})"
        ".then(async r => console.log(r.status, (await r.text()).includes('"
        + CRAWLER_HEALTH_SIGNATURE
        + "') ? 'crawler' : 'other'))"
        ".catch(e => console.log('error ' + (e.cause?.code || e.name)))"
    )
    replicas = local.containers(WEB)
    assert replicas, "no running website-agent container"
    for c in replicas:
        name = c["Name"].lstrip("/")
        out = local.exec(name, ["node", "-e", script], timeout=20).stdout.strip()
        assert out == "200 crawler", f"{name} -> crawler.internal:4999/health: {out or 'no answer'}"


def _fixture_site(spec):
    """(URL the crawler uses, the page's title) of the local stand-in for the web."""
    name, dep = next((n, d) for n, d in spec.local.dependencies.items() if d.kind == "static-site")
    html = (ROOT / dep.source / "index.html").read_text()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()
    return f"http://{name}/", title


def _log_in(page) -> None:
    """Sign up and log in through the edge; the session cookie lands in the page's context (2 auth requests)."""
    creds = {"email": f"e2e-crawl-{uuid.uuid4().hex[:12]}@example.com", "password": f"pw-{uuid.uuid4().hex}"}
    for path, wanted in (("/api/auth/signup", 201), ("/api/auth/login", 200)):
        r = page.request.post(path, data=creds)
        assert r.status == wanted, f"{path}: HTTP {r.status} {r.text()[:200]}"
    assert any(c["name"] in ("session", "__Host-session") for c in page.context.cookies()), (
        "log-in set no session cookie"
    )


@pytest.mark.smoke
def test_crawl_needs_a_session(http):
    """POST /api/crawl without a session is 401 JSON: nobody drives the crawler's browser anonymously"""
    r = http.post("/api/crawl", json={"url": "http://fixture-site/"})
    assert r.status_code == 401, f"anonymous crawl: HTTP {r.status_code} {r.text[:200]}"
    assert r.json().get("error") == "unauthenticated"


@pytest.mark.container
@pytest.mark.browser
def test_crawl_pipeline_in_browser(page, local, spec):
    """The page crawls the fixture site: title and links shown, document in MongoDB"""
    from bson import ObjectId
    from pymongo import MongoClient

    url, title = _fixture_site(spec)
    _log_in(page)
    page.goto("/")
    page.fill("#crawl-url", url)
    with page.expect_response(
        lambda r: r.url.endswith("/api/crawl") and r.request.method == "POST", timeout=90_000
    ) as info:
        page.click("#crawl-submit")
    response = info.value
    body = response.json()
    assert response.status == 200, f"/api/crawl answered {response.status}: {body}"
    page.wait_for_selector("#crawl-title, #crawl-error", timeout=10_000)
    assert page.locator("#crawl-error").count() == 0, page.text_content("#crawl-error")
    assert page.text_content("#crawl-title") == title
    hrefs = page.eval_on_selector_all(
        "#crawl-links li", "els => els.map(e => e.querySelector('a')?.href || e.textContent)"
    )
    for wanted in ("menu.html", "hours.html", "about.html"):
        assert any(h.split("#")[0].endswith(wanted) for h in hrefs), f"{wanted} not among the links shown: {hrefs}"

    mongo = next(d for d in spec.local.dependencies.values() if d.kind == "mongo")
    database = spec.services[CRAWLER].environment.get("MONGODB_DATABASE", "crawler_db")
    with MongoClient(f"mongodb://127.0.0.1:{mongo.publish}", serverSelectionTimeoutMS=5000) as client:
        doc = client[database]["pages"].find_one({"_id": ObjectId(body["id"])})
    assert doc is not None, f"document {body['id']} not in {database}.pages"
    assert doc.get("title") == title
    assert str(doc.get("url", "")).startswith(url.rstrip("/"))


DOCUMENT_FIELDS = {
    "id",
    "url",
    "final_url",
    "status",
    "title",
    "description",
    "text",
    "text_truncated",
    "links",
    "crawled_at",
}


@pytest.mark.container
def test_hostile_page_gives_a_capped_typed_result(base_url, spec):
    """The fixture site's hostile page (replaced builtins and getters, a 3,000,000-character title, 5,001 links): a capped, typed result"""
    url, _ = _fixture_site(spec)
    creds = {"email": f"e2e-hostile-{uuid.uuid4().hex[:12]}@example.com", "password": f"pw-{uuid.uuid4().hex}"}
    with httpx.Client(base_url=base_url, timeout=90) as c:
        for path, wanted in (("/api/auth/signup", 201), ("/api/auth/login", 200)):
            r = c.post(path, json=creds)
            assert r.status_code == wanted, f"{path}: HTTP {r.status_code} {r.text[:200]}"
        r = c.post("/api/crawl", json={"url": url + "hostile.html"})
    assert r.status_code == 200, f"/api/crawl: HTTP {r.status_code} {r.text[:300]}"
    assert len(r.content) < 512 * 1024, f"{len(r.content)} bytes"
    doc = r.json()
    assert set(doc) == DOCUMENT_FIELDS, sorted(doc)
    assert isinstance(doc["title"], str) and 0 < len(doc["title"]) <= 1000 and set(doc["title"]) == {"T"}, doc["title"][
        :80
    ]
    assert doc["description"] == "A page that fights the crawler's extraction."
    assert (
        isinstance(doc["text"], str)
        and len(doc["text"]) <= 20000
        and "tampers with every JavaScript builtin" in doc["text"]
    )
    assert isinstance(doc["text_truncated"], bool)
    links = doc["links"]
    assert isinstance(links, list) and len(links) == 1000, len(links)
    for link in links:
        assert isinstance(link, dict) and set(link) == {"url", "text"}, link
        assert isinstance(link["url"], str) and link["url"].startswith("http") and len(link["url"]) <= 2048, link
        assert isinstance(link["text"], str) and len(link["text"]) <= 500, link
    assert {"url": url + "menu.html", "text": "Menu"} in links


@pytest.mark.container
def test_crawler_serves_no_api_docs(local):
    """The crawler's /docs, /redoc and /openapi.json are off outside development (asked from website-agent)"""
    script = (
        "Promise.all(['/docs', '/redoc', '/openapi.json'].map(p => fetch('http://crawler.internal:4999' + p,"
        " {signal: AbortSignal.timeout(5000)}).then(r => p + ' ' + r.status)))"
        ".then(a => console.log(a.join(','))).catch(e => console.log('error ' + (e.cause?.code || e.name)))"
    )
    name = local.containers(WEB)[0]["Name"].lstrip("/")
    out = local.exec(name, ["node", "-e", script], timeout=20).stdout.strip()
    assert out == "/docs 404,/redoc 404,/openapi.json 404", out
