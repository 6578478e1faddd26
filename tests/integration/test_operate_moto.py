"""`inv status|logs|exec --env local` through the command line against a real
moto server (a subprocess on a free port; no Docker, no stack lock) holding
the environment's template (applied as `inv promote --env local` bootstraps
it), the revisions a promote registers, log lines this test puts in the
services' log groups, an alarm in ALARM; and a stand-in for the registry
(a recording HTTP server answering the manifests' /v2 requests).

What moto does not do, said here once: it runs no task (it reports
MOTO_ECS_SERVICE_RUNNING per service: status shows the counts and no task
rows; exec finds no task to enter), it has no ExecuteCommand (its server
fails with an HTML 500: one line here), and a stack created by a change set
has no outputs (the edge URL is aws.url). tests/unit/test_operate*.py cover
tasks, sessions and outputs on saved real-shaped responses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
import yaml

from parity.adapters.aws import AwsTarget
from parity.adapters.ecs import Ecs, EcsTasks
from parity.app.checks import records
from parity.app.infrastructure.infra import apply
from parity.app.infrastructure.infra import connect as infra_connect
from parity.errors import ParityError
from parity.render.taskdef import deployment_configuration, render_taskdef
from parity.spec import load_stack

from .moto_server import moto_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-central-1"
CLUSTER = "huskit-prod"  # the local overlay keeps prod's names
MANIFEST, CONFIG = {"website-agent": "1", "crawler": "2"}, {"website-agent": "a", "crawler": "b"}
TASK = {
    "website-agent": ["3f2c9a1b0d8e4f6a9b7c5d3e1f0a2b4c", "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"],
    "crawler": ["c0ffee00112233445566778899aabbcc"],
}


class Registry(BaseHTTPRequestHandler):
    """The registry's manifest endpoint, recording what it was asked."""

    asked: list[str] = []

    def do_GET(self):  # noqa: N802
        Registry.asked.append(self.path)
        for service, m in MANIFEST.items():
            if self.path == f"/v2/huskit/{service}/manifests/sha256:{m * 64}":
                body = json.dumps(
                    {"schemaVersion": 2, "config": {"digest": f"sha256:{CONFIG[service] * 64}"}, "layers": []}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
                self.end_headers()
                self.wfile.write(body)
                return
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def client(service: str, endpoint: str):
    return boto3.client(
        service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )


def inv(root: Path, *args: str, path_prefix: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PATH": path_prefix + os.environ["PATH"]}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=root, capture_output=True, text=True, env=env, timeout=120
    )


def make_root(tmp: Path, endpoint: str, registry: str) -> Path:
    shutil.copy(ROOT / "tasks.py", tmp)
    shutil.copy(ROOT / "stack.yaml", tmp)
    shutil.copytree(ROOT / "deploy", tmp / "deploy")
    overlay = yaml.safe_load((tmp / "deploy/local.yaml").read_text())
    overlay["aws"].update(endpoint_url=endpoint, registry=registry)
    (tmp / "deploy/local.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
    return tmp


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    registry = f"127.0.0.1:{server.server_address[1]}"
    with moto_server(MOTO_ECS_SERVICE_RUNNING="2") as endpoint:
        root = make_root(tmp_path_factory.mktemp("operate"), endpoint, registry)
        apply(infra_connect(root, "local", report=lambda _m: None))  # as promote's bootstrap step
        stack = load_stack(root, "local")
        ecs = Ecs(AwsTarget(REGION, endpoint))
        revisions = {}
        for name in ("crawler", "website-agent"):  # what promote registers and starts
            image = f"{registry}/huskit/{name}@sha256:{MANIFEST[name] * 64}"
            revisions[name] = ecs.register_task_definition(render_taskdef(stack, name, image, "123456789012"))
            ecs.update_service(
                CLUSTER, name, revisions[name], deployment_configuration(), True, stack.services[name].desired_count
            )
        records.record_e2e_pass(root, {s: f"sha256:{c * 64}" for s, c in CONFIG.items()}, "e2e")
        cw = client("cloudwatch", endpoint)
        cw.put_metric_alarm(
            AlarmName="huskit-website-agent-5xx", Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum", Period=60, EvaluationPeriods=5, Threshold=10, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
        cw.set_alarm_state(
            AlarmName="huskit-website-agent-5xx", StateValue="ALARM", StateReason="Threshold Crossed: 14 > 10"
        )
        logs = client("logs", endpoint)
        now = int(time.time() * 1000)
        lines = [  # (service, task, ms ago, message), put stream by stream, not in time order
            ("website-agent", 0, 9000, "listening on 0.0.0.0:5171"), ("website-agent", 0, 6000, "GET /healthz 200"),
            ("website-agent", 1, 8000, "listening on 0.0.0.0:5171"), ("website-agent", 1, 5000, "GET /healthz 502"),
            ("crawler", 0, 7000, "Uvicorn running on http://0.0.0.0:4999"),
        ]  # fmt: skip
        for service, i, ago, message in lines:
            stream = f"ecs/{service}/{TASK[service][i]}"
            try:
                logs.create_log_stream(logGroupName=f"/ecs/huskit-{service}", logStreamName=stream)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            logs.put_log_events(
                logGroupName=f"/ecs/huskit-{service}",
                logStreamName=stream,
                logEvents=[{"timestamp": now - ago, "message": message}],
            )
        yield {"root": root, "endpoint": endpoint, "revisions": revisions, "registry": registry}
    server.shutdown()


def test_status_shows_what_promote_set(env):
    proc = inv(env["root"], "status", "--env", "local", "--json")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    deployments = {d["name"]: d for d in found["deployments"]}
    for name, desired in (("website-agent", 2), ("crawler", 1)):
        d = deployments[name]
        assert d["revision"] == env["revisions"][name].rsplit("/", 1)[-1] == f"huskit-{name}:2"
        assert d["image"] == f"{env['registry']}/huskit/{name}@sha256:{MANIFEST[name] * 64}"
        # moto reports the desired count running (up to its MOTO_ECS_SERVICE_RUNNING, 2) and the rollout complete
        assert (d["desired"], d["running"], d["pending"], d["rollout"]["state"]) == (desired, desired, 0, "COMPLETED")
    assert found["e2e"]["passed"] is True and found["e2e"]["images"] == {
        s: f"sha256:{c * 64}" for s, c in CONFIG.items()
    }
    assert sorted(Registry.asked) == sorted(f"/v2/huskit/{s}/manifests/sha256:{m * 64}" for s, m in MANIFEST.items())
    assert found["alarms"] == [{"name": "huskit-website-agent-5xx", "reason": "Threshold Crossed: 14 > 10"}]
    assert found["urls"] == {"edge": "http://127.0.0.1:8080"}
    assert found["services"] == []  # moto runs no task
    assert found["warnings"] == []  # ECS runs what the spec renders: nothing `inv parity` would call undeclared

    table = inv(env["root"], "status", "--env", "local")
    assert table.returncode == 0, table.stderr
    for text in ("local: cluster huskit-prod in eu-central-1", "huskit-website-agent:2", "COMPLETED",
                 "these images passed e2e together", "alarm: huskit-website-agent-5xx", "http://127.0.0.1:8080"):  # fmt: skip
        assert text in table.stdout, table.stdout


def test_status_warns_about_a_revision_registered_by_hand(env):
    stack = load_stack(env["root"], "local")
    ecs = Ecs(AwsTarget(REGION, env["endpoint"]))
    td = render_taskdef(
        stack, "crawler", f"{env['registry']}/huskit/crawler@sha256:{MANIFEST['crawler'] * 64}", "123456789012"
    )
    td["containerDefinitions"][0]["environment"].append({"name": "DEBUG", "value": "1"})
    by_hand = ecs.register_task_definition(td)
    ecs.update_service(CLUSTER, "crawler", by_hand, deployment_configuration(), True)
    try:
        found = json.loads(inv(env["root"], "status", "--env", "local", "--json").stdout)
        assert found["warnings"] == [
            (
                "crawler: environment.DEBUG: live=1 rendered=<absent>, undeclared (`inv parity --env local` fails on it; "
                "`inv promote --env local` registers the spec again)"
            )
        ]
    finally:
        ecs.update_service(CLUSTER, "crawler", env["revisions"]["crawler"], deployment_configuration(), True)


def test_logs_show_the_lines_by_task_in_time_order(env):
    proc = inv(env["root"], "logs", "--env", "local", "--since", "10m")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(" ", 2) for line in proc.stdout.splitlines()]
    assert [(who, text) for who, _when, text in rows] == [
        ("website-agent/3f2c9a1b", "listening on 0.0.0.0:5171"),
        ("website-agent/7a6b5c4d", "listening on 0.0.0.0:5171"),
        ("crawler/c0ffee00", "Uvicorn running on http://0.0.0.0:4999"),
        ("website-agent/3f2c9a1b", "GET /healthz 200"),
        ("website-agent/7a6b5c4d", "GET /healthz 502"),
    ]
    assert [when for _who, when, _t in rows] == sorted(when for _who, when, _t in rows)
    only = inv(env["root"], "logs", "--env", "local", "--service", "website-agent", "--filter", "healthz 5")
    assert [line.split(" ", 2)[2] for line in only.stdout.splitlines()] == ["GET /healthz 502"]


def test_follow_shows_a_new_line_within_a_bounded_time(env):
    argv = [sys.executable, "-m", "invoke", "logs", "--env", "local", "--service", "crawler", "-f", "--since", "10m"]
    proc = subprocess.Popen(argv, cwd=env["root"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            time.sleep(0.2)
        assert got and got[0].split(" ", 2)[2].strip() == "Uvicorn running on http://0.0.0.0:4999"
        client("logs", env["endpoint"]).put_log_events(
            logGroupName="/ecs/huskit-crawler", logStreamName=f"ecs/crawler/{TASK['crawler'][0]}",
            logEvents=[{"timestamp": int(time.time() * 1000), "message": "crawl done: 12 pages"}],
        )  # fmt: skip
        deadline = time.monotonic() + 15  # one poll is 5 s
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert [line.split(" ", 2)[2].strip() for line in got] == [
        "Uvicorn running on http://0.0.0.0:4999",
        "crawl done: 12 pages",
    ]
    assert got[1].startswith("crawler/c0ffee00 ")


def test_exec_finds_no_task_in_the_emulator_and_its_request_reaches_moto_valid(env, tmp_path):
    plugin = tmp_path / "bin" / "session-manager-plugin"
    plugin.parent.mkdir()
    plugin.write_text("#!/bin/sh\nexit 0\n")
    plugin.chmod(0o755)
    proc = inv(
        env["root"],
        "exec",
        "--env",
        "local",
        "--service",
        "crawler",
        "--",
        "echo",
        "hi",
        path_prefix=f"{plugin.parent}:",
    )
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: crawler has no running task in local (hint: `inv status --env local` shows its deployment)"
    )
    # the request itself: botocore validates it against ExecuteCommand's input shape before it
    # leaves; moto (5.2.5) has no ExecuteCommand and fails with an HTML 500 page
    tasks = EcsTasks(AwsTarget(REGION, env["endpoint"]))
    with pytest.raises(ParityError) as exc:
        tasks.execute_command(
            CLUSTER, f"arn:aws:ecs:{REGION}:123456789012:task/{CLUSTER}/{TASK['crawler'][0]}", "crawler", "echo hi"
        )
    assert (
        str(exc.value)
        == f"execute command in task {TASK['crawler'][0]}: the emulator at {env['endpoint']} does not implement ExecuteCommand"
    )


def test_a_missing_log_group_and_a_missing_stack_are_one_line(env, tmp_path):
    logs = client("logs", env["endpoint"])
    logs.delete_log_group(logGroupName="/ecs/huskit-crawler")
    proc = inv(env["root"], "logs", "--env", "local", "--service", "crawler")
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: crawler: log group /ecs/huskit-crawler does not exist in local (hint: `inv promote --env local` creates it)"
    )
    with moto_server() as empty:
        root = make_root(tmp_path, empty, env["registry"])
        proc = inv(root, "status", "--env", "local")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: local: the stack huskit-local does not exist yet in the emulator at {empty} (hint: `inv promote --env local` bootstraps it)"
    )
