"""`inv status --env` and `inv logs --env` on saved real-shaped responses.

The responses (fixtures/ops, written by tests/unit/ops_fixtures.py) carry
every member botocore's model lists for each call these verbs make, and are
valid against the output shapes; every request the verbs send is validated
against the operation's input shape (aws_model.RecordingClient). The adapters
are the real ones; only the boto3 clients are stand-ins."""

from __future__ import annotations

import json

import pytest

from parity.adapters.docker import ContainerState
from parity.app.checks import records
from parity.app.operations.operate_logs import log_lines, quoted_term, stream_task
from parity.app.operations.operate_status import status
from parity.console import status_json
from parity.errors import ConfigError, ParityError

from .aws_model import FIXTURES, invalid, missing, output_shape, saved
from .ops_fixtures import IMAGES, RESPONSES, TARGET_GROUP
from .ops_world import NOW, World, spec

WEB_A, WEB_B, CRAWLER = (
    "3f2c9a1b0d8e4f6a9b7c5d3e1f0a2b4c",
    "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d",
    "c0ffee00112233445566778899aabbcc",
)


@pytest.fixture
def world(tmp_path):
    return World(spec("prod"), tmp_path)


# -- the saved responses -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_each_saved_response_carries_every_member_of_the_model_and_is_valid(name):
    data = saved(name)
    shape = output_shape(data["service"], data["operation"])
    assert missing(shape, data["response"], data["operation"]) == [], "run `python -m tests.unit.ops_fixtures`"
    assert invalid(shape, data["response"]) == ""


def test_every_saved_response_file_is_one_the_generator_writes():
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(RESPONSES)


def test_every_call_the_verbs_make_has_a_saved_response(world):
    """Status, logs and exec together: each operation they call is one whose
    full response is saved (a new call needs its fixture)."""
    from parity.app.operations.operate_exec import ecs_exec

    ctx = world.ctx()
    status(ctx)
    list(log_lines(ctx, since="1h"))
    exec_world = World(spec("prod", {"aws": {"execute_command": True}}), world.root)
    ecs_exec(exec_world.ctx(), "website-agent", WEB_A[:8])
    made = {(svc, op) for w in (world, exec_world) for svc, client in w.clients.items() for op, _ in client.calls}
    saved_ops = {(svc, op) for svc, op, _make in RESPONSES.values()}
    assert made <= saved_ops, made - saved_ops
    assert {op for _svc, op in made} >= {
        "DescribeStacks", "DescribeServices", "DescribeTaskDefinition", "ListTasks", "DescribeTasks", "ListStackResources",
        "DescribeTargetHealth", "DescribeAlarms", "BatchGetImage", "DescribeLogGroups", "FilterLogEvents", "ExecuteCommand",
    }  # fmt: skip


# -- inv status --env ------------------------------------------------------------------------


def test_status_shows_each_service_as_ecs_runs_it(world):
    found = status(world.ctx())
    web, crawler = found.deployments
    assert (web.name, web.desired, web.running, web.pending) == ("website-agent", 2, 2, 1)
    assert web.revision == "huskit-website-agent:9"
    assert (
        web.image
        == f"123456789012.dkr.ecr.eu-central-1.amazonaws.com/huskit/website-agent@{IMAGES['website-agent'][0]}"
    )
    assert web.rollout["state"] == "IN_PROGRESS" and web.rollout["older_deployments"] == 1
    assert web.rollout["reason"] == "ECS deployment ecs-svc/1111111111111111111 in progress."
    # the events of this deployment, oldest first; the steady state of the one before is not among them
    assert web.events == [
        f"(service website-agent) has started 1 tasks: (task {WEB_A}).",
        "(service website-agent) registered 1 targets in (target-group huskit-Websi-1RZ4H0W3PGKQ6)",
    ]
    assert web.targets == [
        {"id": "10.0.1.23:5171", "state": "healthy", "reason": "", "description": ""},
        {"id": "10.0.2.41:5171", "state": "unhealthy", "reason": "Target.ResponseCodeMismatch",
         "description": "Health checks failed with these codes: [502]"},
    ]  # fmt: skip
    assert (crawler.revision, crawler.rollout["state"], crawler.targets) == ("huskit-crawler:12", "COMPLETED", [])
    rows = {(t.name, t.container): t for t in found.tasks}
    assert set(rows) == {("website-agent", WEB_A), ("website-agent", WEB_B), ("crawler", CRAWLER)}
    a = rows[("website-agent", WEB_A)]
    assert (a.state, a.health, a.networks, a.address, a.target, a.execute_command) == (
        "running",
        "healthy",
        ["subnet-0a1b2c3d4e5f60718"],
        "10.0.1.23",
        "healthy",
        "RUNNING",
    )
    assert rows[("website-agent", WEB_B)].target == "unhealthy" and rows[("crawler", CRAWLER)].target is None
    assert found.urls == {"edge": "https://d1a2b3c4d5e6f7.cloudfront.net"}
    assert found.alarms == [
        {"name": "huskit-website-agent-5xx", "reason": world.alarms["MetricAlarms"][0]["StateReason"]}
    ]
    assert found.warnings == [
        "website-agent: target 10.0.2.41:5171 is unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])"
    ]


def test_status_asks_for_the_templates_alarms_in_alarm_and_the_templates_target_group(world):
    status(world.ctx())
    (alarms,) = [p for op, p in world.calls("cloudwatch") if op == "DescribeAlarms"]
    assert alarms["StateValue"] == "ALARM"
    assert {"huskit-website-agent-5xx", "huskit-website-agent-p95-latency", "huskit-crawler-cpu"} <= set(
        alarms["AlarmNames"]
    )
    assert all(n.startswith("huskit-") and not n.startswith("huskit-staging") for n in alarms["AlarmNames"])
    pages = [p for op, p in world.calls("cloudformation") if op == "ListStackResources"]
    assert pages == [{"StackName": "huskit-prod"}, {"StackName": "huskit-prod", "NextToken": "2"}]
    (asked,) = [p for op, p in world.calls("elbv2")]  # the web's group only: the internal crawler has none
    assert asked == {"TargetGroupArn": TARGET_GROUP}


def test_the_json_has_local_status_keys_where_the_concepts_match(world):
    found = status(world.ctx()).as_json()
    json.dumps(found)  # plain JSON
    local = status_json(
        [ContainerState(name="huskit-crawler-1", service="crawler", state="running", health="healthy")], {}, []
    )
    assert set(local) <= set(found)
    assert set(local["services"][0]) <= set(found["services"][0])
    assert found["services"][0]["published_ports"] == []  # a Fargate task publishes none
    assert {"deployments", "e2e", "alarms"} <= set(found)


def test_status_says_whether_the_running_images_passed_e2e_together(world):
    configs = {s: c for s, (_d, c) in IMAGES.items()}
    found = status(world.ctx())
    assert found.e2e["passed"] is False
    assert found.e2e["detail"] == f"website-agent: image {configs['website-agent'][:19]} has not passed e2e"

    records.record_e2e_pass(world.root, configs, "e2e")  # the set ECS runs, by its config digests
    found = status(world.ctx())
    assert found.e2e == {"passed": True, "detail": "these images passed e2e together", "images": configs}
    digests = [p["imageIds"][0]["imageDigest"] for op, p in world.calls("ecr") if op == "BatchGetImage"]
    assert sorted(digests) == sorted(d for d, _c in IMAGES.values())

    records.record_e2e_pass(world.root, {**configs, "crawler": "sha256:" + "f" * 64}, "e2e")
    world.manifest_readable = False
    assert status(world.ctx()).e2e["passed"] is None  # not a guess: unknown


def test_drift_is_warned_as_inv_parity_would_judge_it(world):
    container = world.taskdefs["crawler"]["taskDefinition"]["containerDefinitions"][0]
    container["environment"] = [
        e if e["name"] != "CRAWL4AI_TIMEOUT" else {"name": "CRAWL4AI_TIMEOUT", "value": "90"}
        for e in container["environment"]
    ]
    world.taskdefs["crawler"]["taskDefinition"]["memory"] = "8192"
    found = status(world.ctx())
    drift = [w for w in found.warnings if w.startswith("crawler:")]
    assert drift == [
        (
            "crawler: environment.CRAWL4AI_TIMEOUT: live=90 rendered=30, undeclared (`inv parity --env prod` fails on it; "
            "`inv promote --env prod` registers the spec again)"
        ),
        (
            "crawler: memory: live=8192 rendered=4096, undeclared (`inv parity --env prod` fails on it; "
            "`inv promote --env prod` registers the spec again)"
        ),
    ]


def test_a_service_not_started_yet_and_a_missing_one_are_warnings(world):
    world.services["services"][1].update(desiredCount=0, runningCount=0)
    world.services["services"] = world.services["services"][1:]  # website-agent gone
    found = status(world.ctx())
    assert "crawler: runs nothing yet (desired 0): `inv promote --env prod` starts it" in found.warnings
    assert "website-agent: no ECS service in huskit-prod (`inv infra-apply --env prod` creates it)" in found.warnings


def test_no_stack_yet_is_one_line_naming_what_creates_it(world):
    world.stacks = None
    with pytest.raises(ParityError) as exc:
        status(world.ctx())
    assert str(exc.value) == (
        "prod: the stack huskit-prod does not exist yet in eu-central-1 (hint: `inv infra-apply --env prod` creates it)"
    )
    assert [op for op, _ in world.calls()] == ["DescribeStacks"]


# -- inv logs --env --------------------------------------------------------------------------


def test_logs_are_by_task_in_time_order_across_tasks_and_services(world):
    lines = list(log_lines(world.ctx(), since="1h"))
    assert lines == [
        f"website-agent/{WEB_A[:8]} 2026-05-01T09:59:00.000Z listening on 0.0.0.0:5171",
        f"crawler/{CRAWLER[:8]} 2026-05-01T09:59:00.700Z listening on 0.0.0.0:4999",
        f"website-agent/{WEB_B[:8]} 2026-05-01T09:59:01.000Z listening on 0.0.0.0:5171",
        f"website-agent/{WEB_A[:8]} 2026-05-01T09:59:02.500Z GET /healthz 200 1ms",
        f"website-agent/{WEB_B[:8]} 2026-05-01T09:59:03.000Z GET /healthz 502 0ms: upstream not ready",
        f"website-agent/{WEB_A[:8]} 2026-05-01T09:59:04.000Z POST /api/chat 200 812ms",
    ]
    pages = [
        p
        for op, p in world.calls("logs")
        if op == "FilterLogEvents" and p["logGroupName"] == "/ecs/huskit-website-agent"
    ]
    assert len(pages) == 2 and pages[1]["nextToken"] == "3"  # every page read
    assert all(p["startTime"] == int((NOW - 3600) * 1000) for p in pages)


def test_logs_of_one_service_since_a_time_with_a_filter(world):
    lines = list(log_lines(world.ctx(), ["website-agent"], since="2026-05-01T09:59:02", text="healthz"))
    assert [line.split(" ", 2)[2] for line in lines] == [
        "GET /healthz 200 1ms",
        "GET /healthz 502 0ms: upstream not ready",
    ]
    (ask,) = [p for op, p in world.calls("logs") if op == "FilterLogEvents"]
    assert ask["filterPattern"] == '"healthz"' and ask["startTime"] == 1777629542000
    assert ask["logGroupName"] == "/ecs/huskit-website-agent"


def test_a_filter_cloudwatch_cannot_quote_is_applied_here():
    assert quoted_term('say "hi"') is None and quoted_term("a b") == '"a b"' and quoted_term(None) is None
    assert stream_task("ecs/crawler/abc") == "abc" and stream_task("other-stream") == "other-stream"


def test_follow_asks_again_and_shows_each_new_line_once(world):
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        if len(polls) == 1:  # a new line, and one that CloudWatch listed late (older than the last shown)
            base = world.events["website-agent"][0]
            world.events["website-agent"] += [
                {**base, "eventId": "late", "timestamp": base["timestamp"] + 3500, "message": "late line\n"},
                {**base, "eventId": "new", "timestamp": base["timestamp"] + 9000, "message": "new line\n"},
            ]

    stop = lambda: len(polls) >= 3  # noqa: E731
    lines = list(log_lines(world.ctx(sleep=sleep), ["website-agent"], since="1h", follow=True, until=stop))
    assert polls == [5.0, 5.0, 5.0]
    assert [line.split(" ", 2)[2] for line in lines][-2:] == ["late line", "new line"]
    assert len(lines) == len(set(lines)) == 7
    asks = [p["startTime"] for op, p in world.calls("logs") if op == "FilterLogEvents" and "nextToken" not in p]
    assert asks[0] == int((NOW - 3600) * 1000) and asks[1] == 1777629544000 - 10_000  # the last line shown, less 10 s


def test_a_missing_log_group_is_one_line(world):
    world.groups.discard("/ecs/huskit-crawler")
    with pytest.raises(ParityError) as exc:
        list(log_lines(world.ctx(), ["crawler"]))
    assert (
        str(exc.value)
        == "crawler: log group /ecs/huskit-crawler does not exist in prod (hint: `inv infra-apply --env prod` creates it)"
    )


@pytest.mark.parametrize(("services", "since", "message"), [
    (["web"], "10m", "unknown service 'web' (known: website-agent, crawler)"),
    (None, "10 minutes", "--since 10 minutes: neither a duration (30s, 10m, 2h, 1d) nor a time (2026-05-01T10:00)"),
])  # fmt: skip
def test_bad_logs_input_stops_before_aws_is_asked(world, services, since, message):
    with pytest.raises(ConfigError) as exc:
        list(log_lines(world.ctx(), services, since=since))
    assert str(exc.value) == message and exc.value.exit_code == 2
    assert world.calls() == []
