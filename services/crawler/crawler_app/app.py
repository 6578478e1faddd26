"""FastAPI application: /health (liveness), /ready (readiness), POST /crawl, GET /pages/{id}."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from contextlib import asynccontextmanager
from typing import Any, Optional

from bson import ObjectId
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .browser import BrowserManager
from .crawl import Crawler, CrawlError, owner_of, redact
from .settings import Settings
from .ssrf import Resolver, system_resolver
from .storage import Storage, StorageUnavailable

log = logging.getLogger("crawler")

HEALTH_MONGO_TIMEOUT = 2.0  # seconds; /health and /ready must answer in < 3 s
CLIENT_GONE = 499  # logged for a crawl cancelled because its caller disconnected


def error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def public_doc(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k != "_id"}
    out = {"id": str(doc["_id"]), **out}
    if hasattr(out.get("crawled_at"), "isoformat"):
        out["crawled_at"] = out["crawled_at"].isoformat()
    return out


async def _warm_browser(browsers: BrowserManager) -> None:
    try:
        await browsers.get()
    except Exception as exc:  # retried on the first crawl
        log.error("browser launch at startup failed: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:200])


async def _disconnected(request: Request) -> None:
    """Returns when the client goes away (the body has been read by then)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def create_app(settings: Optional[Settings] = None, resolver: Optional[Resolver] = None) -> FastAPI:
    """Build the app. Without ``settings`` the environment is read once, at startup.

    FastAPI's /docs, /redoc and /openapi.json exist only in development: the
    schema is no one else's business."""
    docs = (settings or Settings(node_env=os.environ.get("NODE_ENV", "development"))).api_docs

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        s = settings or Settings.from_env()
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        log.setLevel(logging.INFO)
        storage = Storage(s)
        browsers = BrowserManager(s)
        app.state.settings = s
        app.state.storage = storage
        app.state.browsers = browsers
        app.state.crawler = Crawler(s, browsers, resolver or system_resolver)
        warm = asyncio.create_task(_warm_browser(browsers))
        log.info(
            "crawler ready: max_pages=%d timeout=%gs private_networks=%s mongodb=%s",
            s.max_pages, s.crawl_timeout, s.allow_private_networks,
            "configured" if storage.configured else "unset",
        )
        try:
            yield
        finally:
            warm.cancel()
            await browsers.close()
            storage.close()

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return error(404, "not_found", f"no route {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> JSONResponse:
        return error(405, "method_not_allowed", f"{request.method} not allowed on {request.url.path}")

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error(500, "internal", "internal error")

    app = FastAPI(
        title="HuskIT crawler",
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed, Exception: internal},
        **({} if docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}),
    )

    async def readiness(st: Any) -> tuple[bool, str]:
        mongo_ok = await st.storage.ping(HEALTH_MONGO_TIMEOUT)
        return mongo_ok, "ok" if mongo_ok else ("unreachable" if st.storage.configured else "unconfigured")

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        """Liveness (the container health check): 200 while the process answers and
        its browser is usable, whatever MongoDB does, so an Atlas blip does not get
        every healthy task replaced. Readiness is in the body (``ready``, ``mongodb``)."""
        st = request.app.state
        ready, mongodb = await readiness(st)
        browser = st.browsers.state
        live = browser != "failed"
        body = {
            "status": ("ok" if ready else "degraded") if live else "failed",
            "ready": ready,
            "mongodb": mongodb,
            "browser": browser,
        }
        return JSONResponse(body, status_code=200 if live else 503)

    @app.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        """Readiness: 200 only when a crawl could be stored (MongoDB answers)."""
        st = request.app.state
        is_ready, mongodb = await readiness(st)
        return JSONResponse({"ready": is_ready, "mongodb": mongodb}, status_code=200 if is_ready else 503)

    @app.post("/crawl")
    async def crawl(request: Request) -> JSONResponse:
        st = request.app.state
        started = time.monotonic()
        url: Any = None
        status = 500
        try:
            try:
                payload = await request.json()
            except Exception:
                raise CrawlError(400, "invalid_request", "body must be JSON {\"url\": \"http(s)://...\"}")
            if not isinstance(payload, dict):
                raise CrawlError(400, "invalid_request", "body must be a JSON object")
            url = payload.get("url")
            # A crawl whose caller is gone (website-agent gave up, its user left) stops.
            crawling = asyncio.ensure_future(st.crawler.crawl(url, owner_of(request.headers.get("x-crawl-user"))))
            gone = asyncio.ensure_future(_disconnected(request))
            try:
                await asyncio.wait({crawling, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
                if not crawling.done():
                    crawling.cancel()
                    await asyncio.gather(crawling, return_exceptions=True)
                    status = CLIENT_GONE
            if crawling.cancelled():
                return JSONResponse({"error": "client_closed", "message": "the caller went away"}, status_code=CLIENT_GONE)
            doc = crawling.result()
            try:
                doc_id = await st.storage.insert(doc)
            except StorageUnavailable:
                raise CrawlError(503, "storage_unavailable", "the page was crawled but could not be stored")
            doc["_id"] = ObjectId(doc_id)
            status = 200
            return JSONResponse(public_doc(doc), status_code=200)
        except CrawlError as exc:
            status = exc.status
            return JSONResponse(exc.body(), status_code=exc.status)
        finally:
            shown = redact(url) if isinstance(url, str) else "-"
            log.info("crawl url=%s status=%d ms=%d", shown, status, (time.monotonic() - started) * 1000)

    @app.get("/pages/{page_id}")
    async def get_page(page_id: str, request: Request) -> JSONResponse:
        if not ObjectId.is_valid(page_id):
            return error(400, "invalid_id", "id must be a 24-character hex ObjectId")
        try:
            doc = await request.app.state.storage.find(ObjectId(page_id))
        except StorageUnavailable:
            return error(503, "storage_unavailable", "storage is unreachable")
        if doc is None:
            return error(404, "not_found", f"no page with id {page_id}")
        return JSONResponse(public_doc(doc))

    return app
