"""Faults on the real stack: each test breaks one thing, checks what a user
would see, and leaves the stack healthy again (restored in a ``finally``).

Requests go through the edge on loopback, as a user's would; the whole module
stays well inside the WAF's /api/auth/ budget (20 per 5 minutes): it signs up
and logs in once. Every wait is bounded.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import boto3
import httpx
import pytest
from pymongo import MongoClient

from parity.app.benchmarks.bench_loop import Load
from parity.app.local import secrets as seed_secrets
from parity.spec import load_stack

from .conftest import ROOT, containers_of, docker, inspect, inv

pytestmark = pytest.mark.integration

EDGE = "http://127.0.0.1:8080"
FIXTURE = "http://fixture-site/"
MONGO = "mongodb://127.0.0.1:27017/?serverSelectionTimeoutMS=3000"
SERVICES = ("website-agent", "crawler", "edge")


def wait_for(what: str, check, timeout: float, every: float = 1.0):
    """``check()``'s first truthy value within ``timeout`` seconds, else fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def health(service: str) -> list[str]:
    return [inspect(c)["State"].get("Health", {}).get("Status", "none") for c in containers_of(service)]


def wait_healthy(service: str, timeout: float = 120) -> None:
    wait_for(f"{service} healthy", lambda: all(h == "healthy" for h in health(service)), timeout)


def lifecycle() -> dict[str, tuple[int, str, str]]:
    """Container id -> (restart count, started at, state) of the services and the edge."""
    out = {}
    for service in SERVICES:
        for cid in containers_of(service):
            state = inspect(cid)
            out[cid] = (state["RestartCount"], state["State"]["StartedAt"], state["State"]["Status"])
    return out


def json_error(response: httpx.Response) -> dict:
    """The body of a JSON error answer (fails on HTML or text)."""
    assert response.headers.get("content-type", "").startswith("application/json"), response.text[:200]
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body


@pytest.fixture(scope="module")
def user(stack):
    """A logged-in user: (client with the session cookie, credentials)."""
    creds = {"email": f"faults-{uuid.uuid4().hex[:12]}@example.test", "password": "fault tests password"}
    client = httpx.Client(base_url=EDGE, timeout=30)
    assert client.post("/api/auth/signup", json=creds).status_code == 201
    assert client.post("/api/auth/login", json=creds).status_code == 200
    yield client, creds
    client.close()


def crawl(client: httpx.Client, timeout: float = 60) -> httpx.Response:
    return client.post("/api/crawl", json={"url": FIXTURE}, timeout=timeout)


def test_crawler_dies_mid_crawl_answers_json_5xx_and_comes_back_by_itself(user):
    client, _ = user
    crawler = containers_of("crawler")[0]
    restarts = inspect(crawler)["RestartCount"]
    answer: dict = {}

    def request() -> None:
        answer["response"] = crawl(client)
        answer["at"] = time.monotonic()

    worker = threading.Thread(target=request)
    worker.start()
    time.sleep(0.3)  # a crawl of the fixture takes about a second (Chromium): this is mid-crawl
    assert "response" not in answer, "the crawl ended before the crawler could be killed"
    # the server process (tini's child) dies; tini, PID 1, exits with it, as the task's essential container would
    docker("exec", crawler, "sh", "-c", "kill -9 $(cat /proc/1/task/1/children)")
    killed = time.monotonic()
    try:
        worker.join(timeout=30)
        assert "response" in answer, "no answer within 30 s of the kill"
        response = answer["response"]
        assert response.status_code >= 500, response.text[:200]
        json_error(response)
        assert answer["at"] - killed < 5, f"answered {answer['at'] - killed:.1f} s after the kill"
        # back by itself: Docker's restart policy (ECS would start a new task), healthy again
        wait_for("crawler restarted", lambda: inspect(containers_of("crawler")[0])["RestartCount"] > restarts, 60)
    finally:
        wait_healthy("crawler", timeout=150)
    response = crawl(client)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["id"]


def test_mongodb_stops_crawls_answer_json_errors_nothing_restarts_and_acknowledged_results_stay(user):
    client, _ = user
    acknowledged = []
    for _ in range(3):
        response = crawl(client)
        assert response.status_code == 200, response.text[:300]
        acknowledged.append(response.json()["id"])
    before = lifecycle()
    mongo = containers_of("mongo")[0]
    docker("stop", mongo, timeout=60)
    try:
        for _ in range(2):
            started = time.monotonic()
            response = crawl(client, timeout=60)
            took = time.monotonic() - started
            assert response.status_code >= 500, response.text[:300]
            json_error(response)
            assert took < 20, f"the crawl answered after {took:.1f} s"
        time.sleep(5)
        assert lifecycle() == before, "a service restarted or stopped while MongoDB was down"
        assert health("website-agent") == ["healthy", "healthy"]
    finally:
        docker("start", mongo)
        wait_healthy("mongo", timeout=60)
    from bson import ObjectId

    with MongoClient(MONGO) as mongo_client:
        pages = mongo_client["crawler_db"]["pages"]
        found = {str(d["_id"]) for d in pages.find({"_id": {"$in": [ObjectId(i) for i in acknowledged]}}, {"_id": 1})}
    assert found == set(acknowledged)
    response = wait_for("a crawl after MongoDB is back", lambda: (r := crawl(client)).status_code == 200 and r, 30, 2)
    assert response.json()["id"]
    wait_healthy("crawler", timeout=120)


def test_crawler_stays_live_for_ecs_while_mongodb_is_down(stack):
    mongo = containers_of("mongo")[0]
    docker("stop", mongo, timeout=60)
    try:
        check = docker("exec", containers_of("crawler")[0], "python", "healthcheck.py", check=False, timeout=30)
    finally:
        docker("start", mongo)
        wait_healthy("mongo", timeout=60)
        wait_healthy("crawler", timeout=120)
    assert check.returncode == 0


def test_postgres_restart_keeps_users_and_sessions_and_answers_json_503_meanwhile(user):
    client, creds = user
    me = client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["email"] == creds["email"]
    postgres = containers_of("postgres")[0]
    docker("stop", postgres, timeout=60)
    try:
        for method, path, body in [
            ("GET", "/api/auth/me", None),
            ("POST", "/api/auth/login", creds),
            ("GET", "/api/auth/me", None),
        ]:
            started = time.monotonic()
            response = client.request(method, path, json=body, timeout=30)
            took = time.monotonic() - started
            assert response.status_code == 503, (path, response.status_code, response.text[:200])
            json_error(response)
            assert took < 10, f"{path} answered after {took:.1f} s"
    finally:
        docker("start", postgres)
        wait_healthy("postgres", timeout=60)
    me = wait_for(
        "the session after the restart", lambda: (r := client.get("/api/auth/me")).status_code == 200 and r, 20, 3
    )
    assert me.json()["email"] == creds["email"]
    fresh = httpx.post(f"{EDGE}/api/auth/login", json=creds, timeout=30)
    assert fresh.status_code == 200 and fresh.json()["email"] == creds["email"]


def test_localstack_restart_secrets_and_bucket_come_back_on_next_up(stack):
    sm = boto3.client(
        "secretsmanager", endpoint_url="http://127.0.0.1:4566", region_name="eu-central-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    seeded = seed_secrets.load_seed(ROOT / "localstack" / "secrets.json")
    web_before = set(containers_of("website-agent"))
    docker("restart", containers_of("localstack")[0], timeout=90)
    try:
        wait_healthy("localstack", timeout=90)
        # the fault is real: LocalStack keeps state in memory
        assert "SecretList" in sm.list_secrets() and not sm.list_secrets()["SecretList"]
    finally:
        # re-seeded secrets are new settings for the services: a rolling replacement, as a
        # new task definition revision would be on ECS, not compose's all-at-once recreate
        with Load(EDGE, paths=("/healthz",)) as load:
            out = inv("up").stdout
    assert "website-agent: starting 2 new replica(s) beside 2 old" in out, out[-2000:]
    assert not set(containers_of("website-agent")) & web_before
    # The origin lock's value was re-seeded too (a new random one): the edge is recreated after the
    # services were rolled through it, the one moment without an edge: refused connections and, while
    # the new edge takes its target groups, a few 502s of its own; bounded (about 2 s of this load).
    assert "the edge's own settings changed: it is recreated" in out, out[-2000:]
    assert len(load.failed) <= 200, (
        f"{len(load.failed)} of {load.ok + len(load.failed)} requests failed: {load.failed[:5]}"
    )
    assert all("HTTP" not in f or "HTTP 502" in f for f in load.failed), load.failed[:5]
    for name, keys in seeded.items():
        value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
        assert set(value) == set(keys), name
    s3 = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:4566", region_name="eu-central-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    bucket = load_stack(ROOT, "local").edge.bucket
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) > 0, f"s3://{bucket} is empty"
    page = httpx.get(f"{EDGE}/", timeout=10)
    asset = page.text.split('src="/assets/', 1)[1].split('"', 1)[0]
    served = httpx.get(f"{EDGE}/assets/{asset}", timeout=10)
    assert served.status_code == 200 and served.content
    for service in SERVICES:
        wait_healthy(service, timeout=120)
