"""`inv exec --env`: ECS Exec on saved real-shaped responses (the request
validated against ExecuteCommand's input shape), the Session Manager plugin
as the AWS CLI v2 runs it (a stand-in executable records what it got), and
every refusal as one line before a session opens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from parity.adapters.ecs import EcsTasks
from parity.adapters.operations import SESSION_VARIABLE, SessionManagerPlugin
from parity.app.operations.operate_exec import ecs_exec, exec_request
from parity.errors import ConfigError, ParityError

from .aws_model import FakeTarget, RecordingClient, invalid, model
from .conftest import ROOT
from .ops_fixtures import TOKEN
from .ops_world import World, spec
from .test_operate import CRAWLER, WEB_A, WEB_B

EXEC_ON = {"aws": {"execute_command": True}}


@pytest.fixture
def world(tmp_path):
    return World(spec("prod", EXEC_ON), tmp_path)


def test_the_request_is_what_execute_command_takes_and_the_plugin_gets_the_session(world):
    ctx = world.ctx()
    req = exec_request(ctx, "website-agent", WEB_A[:8], None)
    assert invalid(model("ecs").operation_model("ExecuteCommand").input_shape, req.request()) == ""
    assert req.request() == {
        "cluster": "huskit-prod", "task": f"arn:aws:ecs:eu-central-1:123456789012:task/huskit-prod/{WEB_A}",
        "container": "website-agent", "command": "/bin/sh", "interactive": True,
    }  # fmt: skip
    assert ecs_exec(world.ctx(), "website-agent", WEB_A[:8], "ls -la /app") == 0
    (sent,) = [p for op, p in world.calls("ecs") if op == "ExecuteCommand"]
    assert sent["command"] == "ls -la /app" and sent["interactive"] is True
    ((session, region, target, endpoint),) = world.plugin.started
    assert session["tokenValue"] == TOKEN and region == "eu-central-1"
    assert target == f"ecs:huskit-prod_{WEB_A}_{WEB_A}-1527056392"  # cluster, task, the container's runtime id
    assert endpoint == "https://example.amazonaws.com"  # the ECS client's


def test_without_task_the_longest_running_one_is_entered(world):
    assert exec_request(world.ctx(), "website-agent", None, None).task.endswith(WEB_B)  # started 09:50, the other 09:59
    assert exec_request(world.ctx(), "crawler", None, "env").task.endswith(CRAWLER)


@pytest.mark.parametrize(("change", "service", "task", "message"), [
    (lambda w: w.tasks.update(tasks=[]), "crawler", None, "crawler has no running task in prod (hint: `inv status --env prod` shows its deployment)"),
    (lambda w: [t.update(lastStatus="PROVISIONING") for t in w.tasks["tasks"]], "crawler", None,
     "crawler has no running task in prod (1 starting) (hint: `inv status --env prod` shows its deployment)"),
    (None, "website-agent", "ffff", f"--task ffff: no running task of website-agent matches (running: {WEB_A[:8]}, {WEB_B[:8]})"),
    (lambda w: [t.update(enableExecuteCommand=False) for t in w.tasks["tasks"]], "crawler", None,
     ("task c0ffee00 of crawler was started without ECS Exec (hint: `inv infra-apply --env prod` turns it on for the service; "
     "its next tasks (`inv promote --env prod`) have it)")),
    (lambda w: w.tasks["tasks"][2]["containers"][0]["managedAgents"][0].update(lastStatus="PENDING"), "crawler", None,
     ("task c0ffee00 of crawler: ECS Exec's agent is PENDING (hint: wait a minute and try again; if it stays so, "
     "the task role may lack the ssmmessages permissions (`inv infra-apply`))")),
])  # fmt: skip
def test_a_task_that_cannot_be_entered_is_one_line_and_no_session_opens(world, change, service, task, message):
    if change:
        change(world)
    with pytest.raises(ParityError) as exc:
        ecs_exec(world.ctx(), service, task)
    assert str(exc.value) == message
    assert "ExecuteCommand" not in [op for op, _ in world.calls()] and world.plugin.started == []


def test_an_ambiguous_task_prefix_is_refused(world):
    world.tasks["tasks"][1]["taskArn"] = world.tasks["tasks"][1]["taskArn"].replace(WEB_B, "3f2c" + WEB_B[4:])
    with pytest.raises(ParityError, match=r"^--task 3f2c: 2 running tasks of website-agent match"):
        ecs_exec(world.ctx(), "website-agent", "3f2c")


def test_exec_off_and_no_plugin_stop_before_aws_is_asked(tmp_path):
    off = World(spec("prod"), tmp_path)
    with pytest.raises(ConfigError) as exc:
        ecs_exec(off.ctx(), "crawler")
    assert exc.value.exit_code == 2 and str(exc.value).startswith("deploy/prod.yaml: aws.execute_command is off")
    no_plugin = World(spec("prod", EXEC_ON), tmp_path)
    no_plugin.plugin.installed = False
    with pytest.raises(ParityError) as exc:
        ecs_exec(no_plugin.ctx(), "crawler")
    assert str(exc.value).startswith(
        "session-manager-plugin is not installed: ECS Exec needs it to carry the session (hint: install"
    )
    assert "session-manager-working-with-install-plugin" in str(exc.value)
    assert off.calls() == [] and no_plugin.calls() == []


def test_an_emulator_without_execute_command_is_one_line():
    """moto 5.2.5 answers ExecuteCommand with an HTML 500 page (it has no such action)."""
    page = "<!doctype html>\n<title>500 Internal Server Error</title>\n"
    failing = ClientError(
        {"Error": {"Code": "500", "Message": page}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "ExecuteCommand"
    )
    ecs = EcsTasks(
        FakeTarget({"ecs": RecordingClient("ecs", {"ExecuteCommand": failing})}, endpoint_url="http://127.0.0.1:5050")
    )
    with pytest.raises(ParityError) as exc:
        ecs.execute_command(
            "huskit-prod", f"arn:aws:ecs:eu-central-1:000000000000:task/huskit-prod/{CRAWLER}", "crawler", "/bin/sh"
        )
    assert (
        str(exc.value)
        == f"execute command in task {CRAWLER}: the emulator at http://127.0.0.1:5050 does not implement ExecuteCommand"
    )


def test_the_plugin_gets_the_session_from_its_environment_never_on_its_command_line(tmp_path, monkeypatch):
    """A stand-in `session-manager-plugin` on PATH records its argv and what
    the variable it is named holds; its exit code is exec's."""
    record = tmp_path / "record.json"
    plugin = tmp_path / "bin" / "session-manager-plugin"
    plugin.parent.mkdir()
    plugin.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv, 'session': os.environ.get(sys.argv[1])}}, open({str(record)!r}, 'w'))\n"
        "sys.exit(3)\n"
    )
    plugin.chmod(0o755)
    monkeypatch.setenv("PATH", f"{plugin.parent}:{os.environ['PATH']}")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    found = SessionManagerPlugin()
    assert found.available()
    session = {"sessionId": "s-1", "streamUrl": "wss://ssmmessages.example/v1/data-channel/s-1", "tokenValue": TOKEN}
    code = found.start(session, "eu-central-1", "ecs:huskit-prod_abc_abc-1", "https://ecs.eu-central-1.amazonaws.com")
    assert code == 3
    got = json.loads(record.read_text())
    assert got["argv"][1:] == [
        SESSION_VARIABLE, "eu-central-1", "StartSession", "", json.dumps({"Target": "ecs:huskit-prod_abc_abc-1"}),
        "https://ecs.eu-central-1.amazonaws.com",
    ]  # fmt: skip
    assert TOKEN not in json.dumps(got["argv"]) and json.loads(got["session"]) == session
    assert SESSION_VARIABLE not in os.environ  # only the plugin's environment had it


def test_without_the_plugin_on_path_the_cli_says_so_in_one_line(tmp_path):
    from .test_cli import inv, repo_copy

    repo = repo_copy(tmp_path)
    proc = inv(repo, "exec", "--env", "staging", "--service", "crawler")  # staging has exec on
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: session-manager-plugin is not installed")
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""


def test_no_credentials_is_one_line(tmp_path):
    from .test_cli import repo_copy

    repo = repo_copy(tmp_path)
    env = {
        "PATH": os.path.dirname(sys.executable),
        "HOME": str(repo),
        "PYTHONPATH": str(ROOT / "src"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for args in (["status", "--env", "prod"], ["logs", "--env", "prod"]):
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=60
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip() == (
            "error: describe stack huskit-prod: no AWS credentials found (hint: configure the normal AWS chain (AWS_PROFILE, SSO, env vars))"
        )


def test_the_command_after_the_double_dash_keeps_its_words(tmp_path):
    """`inv exec -- sh -c 'ls | wc -l'`: invoke joins the words with spaces; the
    task takes them from the command line as typed."""
    script = (
        "import sys, types\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('t', {str(ROOT / 'tasks.py')!r}); t = importlib.util.module_from_spec(spec); spec.loader.exec_module(t)\n"
        "sys.argv = ['inv', 'exec', '--service', 'crawler', '--', 'sh', '-c', 'ls | wc -l']\n"
        "print(t._command_words(types.SimpleNamespace(remainder='sh -c ls | wc -l')))\n"
        "print(t._command_words(types.SimpleNamespace(remainder='echo hi')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=Path(tmp_path)
    )
    assert proc.stdout.splitlines() == ["['sh', '-c', 'ls | wc -l']", "['echo', 'hi']"], proc.stderr
