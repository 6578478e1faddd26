"""The local stack reproduces production's topology: all healthy, the crawler
isolated like its security group, Fargate limits, secrets injected as ECS does
and never written down, idempotent `inv up`, data that survives `inv down`."""

import json
import socket
import subprocess
import time
import uuid

import boto3
import httpx
import pytest

from .conftest import PROJECT, ROOT, containers_of, docker, inspect, inv

pytestmark = pytest.mark.integration

LOCALSTACK = "http://127.0.0.1:4566"


def localstack_secrets():
    return boto3.client(
        "secretsmanager",
        endpoint_url=LOCALSTACK,
        region_name="eu-central-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_every_container_is_healthy(stack):
    status = json.loads(inv("status", "--json").stdout)
    names = {s["name"] for s in status["services"]}
    assert {"website-agent", "crawler", "fixture-site", "localstack", "mongo", "postgres", "edge"} <= names
    for s in status["services"]:
        assert (s["state"], s["health"]) == ("running", "healthy"), s
    assert status["urls"]["edge"] == "http://127.0.0.1:8080"
    assert "ready in" in stack


def test_second_up_changes_nothing(stack):
    before = {
        c["Id"]: c["State"]["StartedAt"]
        for c in map(
            inspect, docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split()
        )
    }
    inv("up")
    after = {
        c["Id"]: c["State"]["StartedAt"]
        for c in map(
            inspect, docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split()
        )
    }
    assert after == before


def test_crawler_is_unreachable_from_the_edge(stack):
    edge = containers_of("edge")[0]
    proc = docker("exec", edge, "wget", "-q", "-T", "3", "-O", "-", "http://crawler.internal:4999/health", check=False)
    assert proc.returncode != 0
    crawler = inspect(containers_of("crawler")[0])
    for net, conf in crawler["NetworkSettings"]["Networks"].items():
        ip = conf["IPAddress"]
        proc = docker(
            "exec", edge, "wget", "-q", "-T", "3", "-O", "-", f"http://{ip}:4999/health", check=False, timeout=30
        )
        assert proc.returncode != 0, f"edge reached the crawler at {ip} on {net}"


def test_crawler_answers_the_web_as_crawler_internal(stack):
    for web in containers_of("website-agent"):
        script = "fetch('http://crawler.internal:4999/health').then(r=>r.text().then(t=>{console.log(r.status,t)}))"
        out = docker("exec", web, "node", "-e", script).stdout
        assert out.startswith("200 ") and '"mongodb":"ok"' in out.replace(" ", "")


def test_crawler_is_unreachable_from_the_host(stack):
    """No published port, nothing on loopback, and no route from the host to any
    of its addresses: its networks are closed (no host address on the bridge)."""
    crawler = inspect(containers_of("crawler")[0])
    assert not any(crawler["NetworkSettings"]["Ports"].values())
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", 4999)) != 0
    bridges = {}
    for net, conf in crawler["NetworkSettings"]["Networks"].items():
        route = subprocess.run(["ip", "route", "get", conf["IPAddress"]], capture_output=True, text=True).stdout
        bridges[net] = route
        # a route through a docker bridge would make the crawler reachable from the host
        assert " dev br-" not in route and " dev docker0" not in route, (net, route)
    assert set(bridges) == {f"{PROJECT}_internal", f"{PROJECT}_crawler-egress"}


def test_published_ports_bind_loopback_only(stack):
    for cid in docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split():
        for bindings in (inspect(cid)["NetworkSettings"]["Ports"] or {}).values():
            for b in bindings or []:
                assert b["HostIp"] == "127.0.0.1", (cid, b)


@pytest.mark.parametrize(
    "service,nano_cpus,memory_mib", [("website-agent", 1_000_000_000, 2048), ("crawler", 2_000_000_000, 4096)]
)
def test_fargate_sizes_are_container_limits(stack, service, nano_cpus, memory_mib):
    for cid in containers_of(service):
        host = inspect(cid)["HostConfig"]
        assert host["NanoCpus"] == nano_cpus
        assert host["Memory"] == memory_mib * 1024 * 1024


def test_health_checks_are_the_task_definitions(stack):
    check = inspect(containers_of("crawler")[0])["Config"]["Healthcheck"]
    assert check["Test"] == ["CMD-SHELL", "python healthcheck.py"]
    assert (check["Interval"], check["Timeout"], check["Retries"], check["StartPeriod"]) == (30e9, 10e9, 3, 45e9)
    assert len(containers_of("website-agent")) == 2  # desired_count


def test_edge_config_is_valid_nginx(stack):
    proc = docker("exec", containers_of("edge")[0], "nginx", "-t")
    assert "syntax is ok" in proc.stderr


def test_secret_from_localstack_reaches_the_crawler_and_no_file(stack):
    sm = localstack_secrets()
    name = "huskit/prod/crawler"
    body = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    value = f"serp-{uuid.uuid4().hex}"
    body["SERPAPI_API_KEY"] = value
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(body))
    proc = inv("up")
    assert value not in proc.stdout + proc.stderr
    env = inspect(containers_of("crawler")[0])["Config"]["Env"]
    assert f"SERPAPI_API_KEY={value}" in env
    found = subprocess.run(["grep", "-rlF", value, str(ROOT)], capture_output=True, text=True)
    assert found.stdout == "", f"secret value written to {found.stdout}"


def test_missing_secret_key_is_one_clear_line(stack):
    sm = localstack_secrets()
    name = "huskit/prod/crawler"
    original = sm.get_secret_value(SecretId=name)["SecretString"]
    body = json.loads(original)
    body.pop("GROQ_API_KEY")
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(body))
    try:
        proc = inv("up", check=False)
        assert proc.returncode == 1
        assert (
            proc.stderr.strip().splitlines()[-1]
            == "error: GROQ_API_KEY <- secret huskit/prod/crawler has no key GROQ_API_KEY"
        )
    finally:
        sm.put_secret_value(SecretId=name, SecretString=original)


def test_data_survives_down_and_up(stack):
    """Named volumes keep PostgreSQL's data; a restarted LocalStack seeds a new
    database password, which `inv up` sets on the existing role again."""
    marker = uuid.uuid4().hex
    pg = containers_of("postgres")[0]
    docker(
        "exec",
        pg,
        "psql",
        "-U",
        "huskit",
        "-d",
        "huskit",
        "-c",
        f"CREATE TABLE IF NOT EXISTS parity_marker (v text); INSERT INTO parity_marker VALUES ('{marker}');",
    )
    inv("down")
    assert docker("ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.strip() == ""
    inv("up")
    pg = containers_of("postgres")[0]
    out = docker("exec", pg, "psql", "-U", "huskit", "-d", "huskit", "-tAc", "SELECT v FROM parity_marker").stdout
    assert marker in out.split()
    # the web reached the database with the new password: its /healthz is up and signup works end to end
    web = containers_of("website-agent")[0]
    script = (
        "fetch('http://127.0.0.1:5171/api/auth/signup',{method:'POST',headers:{'content-type':'application/json'},"
        f"body:JSON.stringify({{email:'{marker}@example.test',password:'correct horse battery'}})}}).then(r=>console.log(r.status))"
    )
    assert docker("exec", web, "node", "-e", script).stdout.strip() == "201"


def test_a_localstack_that_lost_its_state_is_reported_and_healed_by_up(stack):
    """Docker restarts LocalStack (a daemon restart, say) with empty memory: it looks
    healthy, so `inv status` says what is wrong, and `inv up` seeds it again."""
    docker("restart", containers_of("localstack")[0])
    for _ in range(30):
        status = json.loads(inv("status", "--json").stdout)
        if all(s["health"] == "healthy" for s in status["services"] if s["name"] == "localstack"):
            break
        time.sleep(1)
    assert status["warnings"] == [
        "LocalStack has restarted and lost its secrets and bucket: run `inv up` to seed it again"
    ]
    inv("up")
    assert json.loads(inv("status", "--json").stdout)["warnings"] == []
    page = httpx.get("http://127.0.0.1:8080/", timeout=10)
    asset = page.text.split('src="/assets/', 1)[1].split('"', 1)[0]
    assert httpx.get(f"http://127.0.0.1:8080/assets/{asset}", timeout=10).status_code == 200
