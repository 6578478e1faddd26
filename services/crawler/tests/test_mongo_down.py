"""MongoDB going away: the crawler stays live (/health 200, so the container is not
replaced) but reports itself not ready (body, /ready 503), quickly; the process keeps
answering, and a crawl is never reported as a success when it could not be stored."""

import time

import httpx
from bson import ObjectId

from conftest import AppServer, MongoServer, make_settings


def test_mongo_down_live_but_not_ready_and_storage_unavailable(site):
    mongo = MongoServer().start()
    app = AppServer(make_settings(mongo.uri)).start()
    try:
        with httpx.Client(base_url=app.base, timeout=30) as c:
            assert c.get("/health").status_code == 200

            mongo.stop()
            for _ in range(3):  # repeatedly, and always fast
                t0 = time.monotonic()
                r = c.get("/health")
                assert time.monotonic() - t0 < 3
                assert r.status_code == 200
                assert r.json() == {"status": "degraded", "ready": False, "mongodb": "unreachable", "browser": "ok"}
                t0 = time.monotonic()
                r = c.get("/ready")
                assert time.monotonic() - t0 < 3
                assert r.status_code == 503
                assert r.json() == {"ready": False, "mongodb": "unreachable"}

            r = c.post("/crawl", json={"url": site.url("/index.html")})
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "storage_unavailable"
            assert "id" not in r.json()

            r = c.get(f"/pages/{ObjectId()}")
            assert r.status_code == 503 and r.json()["error"] == "storage_unavailable"

            # still up and answering; the container health check passes
            assert c.get("/health").status_code == 200
            assert c.post("/crawl", json={"url": "gopher://x"}).status_code == 400
    finally:
        app.stop()
        mongo.stop()


def test_starts_and_answers_without_mongodb_configured(site):
    app = AppServer(make_settings(None)).start()
    try:
        r = httpx.get(app.base + "/health", timeout=5)
        assert r.json() == {"status": "degraded", "ready": False, "mongodb": "unconfigured", "browser": "ok"}
        assert httpx.get(app.base + "/ready", timeout=5).status_code == 503
        r = httpx.post(app.base + "/crawl", json={"url": site.url("/index.html")}, timeout=30)
        assert r.status_code == 503 and r.json()["error"] == "storage_unavailable"
    finally:
        app.stop()
