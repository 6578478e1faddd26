"""The same verbs on the real local stack and on its ECS emulator: after `inv
promote --env local`, `inv status --env local` shows what promote set (the
revisions, the pushed digests, which local images they are and whether that
set passed e2e), `inv logs --env local` shows lines this test puts in the
emulator's log groups, by task, also followed with -f for a bounded time, and
`inv exec --env local` says in one line that the emulator runs no task. Without
--env the verbs act on the containers: `inv logs --since --filter`, `inv exec`.
(moto runs no task and has no ExecuteCommand: tests/integration/test_operate_moto.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid

import boto3
import pytest

from parity.app.checks import records
from parity.render.compose import image_name
from parity.spec import load_stack

from .conftest import ROOT, docker, inv

pytestmark = pytest.mark.integration

EMULATOR = "http://127.0.0.1:5050"  # deploy/local.yaml's aws.endpoint_url
REGION = "eu-central-1"


def logs_client():
    return boto3.client(
        "logs", region_name=REGION, endpoint_url=EMULATOR, aws_access_key_id="test", aws_secret_access_key="test"
    )


def put_line(service: str, task: str, message: str) -> None:
    logs = logs_client()
    stream = f"ecs/{service}/{task}"
    try:
        logs.create_log_stream(logGroupName=f"/ecs/huskit-{service}", logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_log_events(logGroupName=f"/ecs/huskit-{service}", logStreamName=stream,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": message}])  # fmt: skip


@pytest.fixture(scope="module")
def promoted(stack):
    inv("promote", "--env", "local", "--force")  # --force: the images need not have passed e2e here
    return json.loads(inv("status", "--env", "local", "--json").stdout)


def test_status_shows_what_promote_set(promoted):
    stack = load_stack(ROOT, "local")
    ecs = boto3.client(
        "ecs", region_name=REGION, endpoint_url=EMULATOR, aws_access_key_id="test", aws_secret_access_key="test"
    )
    live = {
        s["serviceName"]: s
        for s in ecs.describe_services(cluster=stack.cluster, services=list(stack.services))["services"]
    }
    deployments = {d["name"]: d for d in promoted["deployments"]}
    local_ids = {}
    for name in stack.services:
        d = deployments[name]
        assert d["revision"] == live[name]["taskDefinition"].rsplit("/", 1)[-1]
        assert d["desired"] == stack.services[name].desired_count and d["rollout"]["state"] == "COMPLETED"
        # the pushed digest is the local image's, as the registry stored it
        image_id = docker("image", "inspect", "--format", "{{.Id}}", image_name(stack, name)).stdout.strip()
        repo_digests = json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", image_id).stdout)
        assert d["image"] in repo_digests, (d["image"], repo_digests)
        local_ids[name] = image_id
    # the config digest in each pushed manifest is the local image ID: the key of e2e's records
    assert promoted["e2e"]["images"] == local_ids
    assert promoted["e2e"]["passed"] is (records.untested(ROOT, local_ids, stack.aws.e2e_max_age_days) is None)
    assert promoted["urls"] == {"edge": "http://127.0.0.1:8080"} and promoted["services"] == []  # moto runs no task
    assert promoted["warnings"] == []  # what `inv parity --env local` would call undeclared: nothing


def test_logs_show_the_lines_put_in_the_emulator_by_task_and_follow_them(promoted):
    marker = uuid.uuid4().hex[:10]
    tasks = {"website-agent": uuid.uuid4().hex, "crawler": uuid.uuid4().hex}
    put_line("website-agent", tasks["website-agent"], f"{marker} first")
    put_line("crawler", tasks["crawler"], f"{marker} second")
    proc = inv("logs", "--env", "local", "--since", "5m", "--filter", marker)
    assert [line.split(" ", 2)[::2] for line in proc.stdout.splitlines()] == [
        [f"website-agent/{tasks['website-agent'][:8]}", f"{marker} first"],
        [f"crawler/{tasks['crawler'][:8]}", f"{marker} second"],
    ]

    argv = [sys.executable, "-m", "invoke", "logs", "--env", "local", "-f", "--since", "5m", "--filter", marker]
    follower = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )
    got: list[str] = []
    threading.Thread(target=lambda: got.extend(iter(follower.stdout.readline, "")), daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        put_line("crawler", tasks["crawler"], f"{marker} third")
        deadline = time.monotonic() + 15  # a poll every 5 s
        while len(got) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert [line.split(" ", 2)[2].strip() for line in got] == [f"{marker} first", f"{marker} second", f"{marker} third"]


def test_exec_on_the_emulator_finds_no_task_in_one_line(promoted, tmp_path):
    plugin = tmp_path / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\nexit 0\n")
    plugin.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "invoke", "exec", "--env", "local", "--service", "crawler"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: crawler has no running task in local (hint: `inv status --env local` shows its deployment)"
    )


def test_locally_exec_enters_one_replica_and_logs_take_since_and_filter(stack):
    proc = inv("exec", "--service", "crawler", "--", "python", "-c", "import os; print('in', os.environ['PORT'])")
    assert proc.stdout.strip() == "in 4999"
    names = docker("ps", "--filter", "label=com.docker.compose.project=huskit", "--filter",
                   "label=com.docker.compose.service=website-agent", "--format", "{{.Names}}").stdout.split()  # fmt: skip
    assert len(names) == 2  # replicas are numbered on: a rolling replacement makes new ones (-3, -4, ...)
    failed = inv("exec", "--service", "website-agent", "--task", names[1], "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    crawler = docker("ps", "--filter", "label=com.docker.compose.project=huskit", "--filter",
                     "label=com.docker.compose.service=crawler", "--format", "{{.Names}}").stdout.split()  # fmt: skip
    assert len(crawler) == 1  # numbered on as well: huskit-crawler-1 until a replacement made -2, -3, ...
    prefix = crawler[0].removeprefix("huskit-")
    lines = inv("logs", "--service", "crawler", "--since", "30m", "--filter", "GET /health").stdout.splitlines()
    assert lines and all(line.startswith(prefix) and "GET /health" in line for line in lines), lines
