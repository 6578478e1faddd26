"""Issue 20 (AWS): promote's state machine for a gated service (app/deploy/service_deployment.py),
on DescribeServiceDeployments / ListServiceDeployments responses built from
botocore's model (every member the output shape lists, aws_model.complete),
answered through the real adapter (adapters/ecs.EcsDeployments) by clients
that validate each request against the operation's input shape. One scenario
per way a gated deployment ends: success; e2e fails -> rollback; the pause
times out; an alarm fires during the bake; a stop from outside; ECS's
rollback fails; promote's own deadline; ECS never pausing. Then promote
itself (app/deploy/promote.py) on a gated website-agent: what it tells ECS, how the
test header reaches the e2e run (its environment only), and the exit."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from parity.adapters.ecs import EcsDeployments
from parity.app.deploy import service_deployment as gated
from parity.app.deploy.promote import promote
from parity.errors import DeployFailed

from .aws_model import FakeTarget, RecordingClient, complete, model, output_shape
from .conftest import ROOT
from .deploy_fakes import Clock, make_ctx

ARN = "arn:aws:ecs:eu-central-1:111122223333:service-deployment/huskit-prod/website-agent/Kx2Z1abc"
OLD = "arn:aws:ecs:eu-central-1:111122223333:service-revision/huskit-prod/website-agent/1111"
NEW = "arn:aws:ecs:eu-central-1:111122223333:service-revision/huskit-prod/website-agent/2222"
HOOK = "hook-7f3a"
ALARM = "huskit-website-agent-5xx"


def deployment(stage: str, status: str = "IN_PROGRESS", prod: float = 0.0, test: float = 0.0, hook: str | None = None,
               alarm: str = "MONITORING", breaker: str = "MONITORING", reason: str = "") -> dict:  # fmt: skip
    """One ServiceDeployment as DescribeServiceDeployments returns it: the
    fields the scenario sets, every other member made up from the model."""
    hooks = []
    if hook:
        hooks = [
            {
                "hookId": HOOK,
                "targetType": "PAUSE",
                "status": hook,
                "expiresAt": "2026-05-01T10:30:00Z",
                "timeoutAction": "ROLLBACK",
            }
        ]
    value = {
        "serviceDeploymentArn": ARN,
        "status": status,
        "statusReason": reason,
        "lifecycleStage": stage,
        "lifecycleHookDetails": hooks,
        "sourceServiceRevisions": [
            {
                "arn": OLD,
                "requestedProductionTrafficWeight": 100.0 - prod,
                "requestedTestTrafficWeight": 0.0 if test else 100.0,
            }
        ],
        "targetServiceRevision": {
            "arn": NEW,
            "requestedProductionTrafficWeight": prod,
            "requestedTestTrafficWeight": test,
        },
        "alarms": {
            "status": alarm,
            "alarmNames": [ALARM],
            "triggeredAlarmNames": [ALARM] if alarm == "TRIGGERED" else [],
        },
        "deploymentCircuitBreaker": {
            "status": breaker,
            "failureCount": 3 if breaker == "TRIGGERED" else 0,
            "threshold": 10,
        },
        "rollback": {},
    }
    return complete(model("ecs").shape_for("ServiceDeployment"), value)


UP = [deployment("RECONCILE_SERVICE"), deployment("SCALE_UP"), deployment("TEST_TRAFFIC_SHIFT", test=100.0)]
PAUSED = deployment("POST_TEST_TRAFFIC_SHIFT", test=100.0, hook="AWAITING_ACTION")
SHIFT = [deployment("PRODUCTION_TRAFFIC_SHIFT", prod=100.0, test=100.0, hook="SUCCEEDED"),
         deployment("BAKE_TIME", prod=100.0, test=100.0, hook="SUCCEEDED")]  # fmt: skip
DONE = deployment("CLEAN_UP", "SUCCESSFUL", prod=100.0, test=100.0, hook="SUCCEEDED")
ROLLED_BACK = [deployment("TEST_TRAFFIC_SHIFT", "ROLLBACK_IN_PROGRESS", hook="SUCCEEDED"),
               deployment("CLEAN_UP", "ROLLBACK_SUCCESSFUL", hook="SUCCEEDED")]  # fmt: skip


class World:
    """ECS as the scenario scripts it: each describe shows the next state (the
    last one stays); ContinueServiceDeployment and StopServiceDeployment move
    the script to what ECS does then."""

    def __init__(
        self, script: list[dict], on: dict[str, list[dict]] | None = None, refuse_continue: bool = False
    ) -> None:
        self.queue, self.on, self.refuse = list(script), on or {}, refuse_continue
        self.current: dict | None = None
        self.answers: list[tuple[str, str]] = []

    def describe(self, params: dict) -> dict:
        assert params["serviceDeploymentArns"] == [ARN]
        if self.queue:
            self.current = self.queue.pop(0)
        return {"serviceDeployments": [self.current], "failures": []}

    def cont(self, params: dict):
        if self.refuse:  # the hook timed out while the gate ran: ECS refuses the late answer
            return ClientError(
                {"Error": {"Code": "InvalidParameterException", "Message": "hook is not awaiting action"}},
                "ContinueServiceDeployment",
            )
        self.answers.append((params["hookId"], params["action"]))
        self.queue = list(self.on.get(params["action"], []))
        return {"serviceDeploymentArn": ARN}

    def stop(self, params: dict) -> dict:
        self.answers.append(("stop", params["stopType"]))
        self.queue = list(self.on.get("STOP", []))
        return {"serviceDeploymentArn": ARN}

    def client(self) -> RecordingClient:
        brief = complete(
            model("ecs").shape_for("ServiceDeploymentBrief"), {"serviceDeploymentArn": ARN, "status": "PENDING"}
        )
        return RecordingClient("ecs", {
            "ListServiceDeployments": {"serviceDeployments": [brief]},
            "DescribeServiceDeployments": self.describe,
            "ContinueServiceDeployment": self.cont,
            "StopServiceDeployment": self.stop,
        })  # fmt: skip


def run(world: World, failing: list[str] | None = None, timeout: float = 3600):
    client = world.client()
    api = EcsDeployments(FakeTarget({"ecs": client}))
    clock, lines, gate_runs = Clock(), [], []

    def gate() -> list[str]:
        gate_runs.append(clock.now)
        return list(failing or [])

    arn = gated.find(api, "huskit-prod", "website-agent", None, clock, clock.sleep, 5)
    outcome = gated.follow(api, "huskit-prod", "website-agent", arn, gate, timeout, clock, clock.sleep, 5, lines.append)
    return outcome, lines, gate_runs, client


def test_the_stages_are_ecs_own_in_order():
    assert gated.STAGES == model("ecs").shape_for("ServiceDeploymentLifecycleStage").enum
    assert set(gated.ENDED | gated.IN_PROGRESS) == set(model("ecs").shape_for("ServiceDeploymentStatus").enum)


def test_the_saved_responses_carry_every_field_of_the_model():
    from .aws_model import invalid, missing

    shape = output_shape("ecs", "DescribeServiceDeployments")
    response = {"serviceDeployments": [PAUSED], "failures": []}
    assert missing(shape, complete(shape, response), "response") == []
    assert invalid(shape, response) == ""


def test_success_reports_each_stage_with_its_split_continues_at_the_pause_and_waits_for_the_bake():
    world = World([*UP, PAUSED, PAUSED], on={"CONTINUE": [*SHIFT, DONE]})
    outcome, lines, gate_runs, client = run(world)
    assert outcome.ok and outcome.state == "SUCCESSFUL"
    assert outcome.stages == ["RECONCILE_SERVICE", "SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
                              "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"]  # fmt: skip
    assert len(gate_runs) == 1 and world.answers == [(HOOK, "CONTINUE")]
    assert "website-agent: POST_TEST_TRAFFIC_SHIFT (IN_PROGRESS) production: blue 100% / green 0%; test: green" in lines
    assert "website-agent: BAKE_TIME (IN_PROGRESS) production: blue 0% / green 100%; test: green" in lines
    assert [op for op, _ in client.calls].count("ContinueServiceDeployment") == 1


def test_a_failing_e2e_rolls_back_with_the_checks_named_and_production_never_moved():
    world = World([*UP, PAUSED], on={"ROLLBACK": ROLLED_BACK})
    outcome, lines, _, _ = run(world, failing=["test_smoke::test_home_page", "test_smoke::test_login"])
    assert outcome.state == "ROLLED_BACK" and not outcome.ok
    assert world.answers == [(HOOK, "ROLLBACK")]
    assert outcome.reason.startswith(
        "e2e failed against the new revision: test_smoke::test_home_page, test_smoke::test_login"
    )
    assert "production never moved to it" in outcome.reason
    assert not any(
        "green 100%" in line and "production" in line
        for line in lines
        if "test: green" not in line or "blue 0%" in line
    )
    assert all("blue 100% / green 0%" in line for line in lines if "production:" in line)


def test_a_gate_that_cannot_run_is_a_failed_gate():
    from parity.errors import ParityError

    world = World([PAUSED], on={"ROLLBACK": ROLLED_BACK})
    client = world.client()
    api = EcsDeployments(FakeTarget({"ecs": client}))
    clock = Clock()

    def gate() -> list[str]:
        raise ParityError("secret huskit/prod/edge-test does not exist")

    outcome = gated.follow(api, "c", "website-agent", ARN, gate, 3600, clock, clock.sleep, 5)
    assert world.answers == [(HOOK, "ROLLBACK")] and outcome.state == "ROLLED_BACK"
    assert "the e2e run itself: secret huskit/prod/edge-test does not exist" in outcome.reason


def test_a_pause_that_times_out_before_the_answer_is_ecs_rollback():
    timed_out = [deployment("POST_TEST_TRAFFIC_SHIFT", "ROLLBACK_IN_PROGRESS", hook="TIMED_OUT"),
                 deployment("CLEAN_UP", "ROLLBACK_SUCCESSFUL", hook="TIMED_OUT")]  # fmt: skip
    world = World([*UP, PAUSED, *timed_out], refuse_continue=True)
    outcome, _lines, gate_runs, _ = run(world)
    assert len(gate_runs) == 1 and world.answers == []  # the answer came too late
    assert outcome.state == "ROLLED_BACK"
    assert outcome.reason == "the pause at POST_TEST_TRAFFIC_SHIFT timed out before promote answered; ECS rolled back"


def test_an_alarm_during_the_bake_is_ecs_rollback_naming_the_alarm():
    fired = [deployment("BAKE_TIME", prod=100.0, test=100.0, hook="SUCCEEDED"),
             deployment("BAKE_TIME", "ROLLBACK_IN_PROGRESS", prod=0.0, hook="SUCCEEDED", alarm="TRIGGERED"),
             deployment("CLEAN_UP", "ROLLBACK_SUCCESSFUL", hook="SUCCEEDED", alarm="TRIGGERED")]  # fmt: skip
    world = World([*UP, PAUSED], on={"CONTINUE": [SHIFT[0], *fired]})
    outcome, lines, _, _ = run(world)
    assert outcome.state == "ROLLED_BACK"
    assert (
        outcome.reason == f"alarm {ALARM} fired during CLEAN_UP; ECS rolled back"
        or outcome.reason == f"alarm {ALARM} fired during BAKE_TIME; ECS rolled back"
    )
    assert "website-agent: BAKE_TIME (ROLLBACK_IN_PROGRESS) production: blue 100% / green 0%; test: blue" in lines


def test_a_stop_from_outside_is_a_failure_of_its_own():
    stopped = [deployment("BAKE_TIME", "STOP_REQUESTED", prod=100.0, test=100.0, hook="SUCCEEDED"),
               deployment("BAKE_TIME", "STOPPED", prod=100.0, test=100.0, hook="SUCCEEDED", reason="Service deployment stopped by user")]  # fmt: skip
    world = World([*UP, PAUSED], on={"CONTINUE": [SHIFT[0], *stopped]})
    outcome, _, _, _ = run(world)
    assert outcome.state == "ROLLED_BACK" and not outcome.ok
    assert outcome.reason.startswith("stopped from outside promote (Service deployment stopped by user)")


def test_a_circuit_breaker_during_scale_up_and_a_failed_rollback():
    world = World([deployment("SCALE_UP", "ROLLBACK_IN_PROGRESS", breaker="TRIGGERED"),
                   deployment("CLEAN_UP", "ROLLBACK_FAILED", breaker="TRIGGERED")])  # fmt: skip
    outcome, _, gate_runs, _ = run(world)
    assert gate_runs == [] and outcome.state == "FAILED"
    assert outcome.reason == "the circuit breaker tripped (3 tasks failed); ECS's rollback ended ROLLBACK_FAILED"


def test_promotes_own_deadline_stops_the_deployment_with_rollback():
    world = World([deployment("SCALE_UP")], on={"STOP": ROLLED_BACK})
    outcome, _, _, _ = run(world, timeout=60)
    assert outcome.state == "TIMEOUT" and world.answers == [("stop", "ROLLBACK")]


def test_a_deployment_that_never_paused_did_not_pass_the_gate():
    world = World([*UP, *SHIFT, DONE])
    outcome, _, gate_runs, _ = run(world)
    assert gate_runs == [] and outcome.state == "FAILED"
    assert "the e2e gate never ran" in outcome.reason


def test_the_split_of_a_canary_step():
    d = deployment("PRODUCTION_TRAFFIC_SHIFT", prod=5.0, test=100.0)
    assert gated.traffic_split(d) == "production: blue 95% / green 5%; test: green"


# -- promote on a gated website-agent --------------------------------------------------------


class FakeDeployments:
    """ECS's service deployments for promote's test: a blue/green deployment
    that pauses once, then ends as the gate's answer says."""

    def __init__(self, ecs) -> None:
        self.ecs, self.answers, self.state = ecs, [], None

    def service_deployments(self, cluster, service, since):
        return [{"serviceDeploymentArn": ARN, "status": "IN_PROGRESS", "createdAt": since}]

    def describe_service_deployment(self, arn):
        if not self.answers:
            return PAUSED
        if self.answers[-1] == "CONTINUE":
            return DONE
        svc = self.ecs.services["website-agent"]  # ECS's rollback: the service back on what it ran
        svc["taskDefinition"] = svc["previous"]
        svc["deployments"][0]["rolloutState"] = "COMPLETED"
        return ROLLED_BACK[-1]

    def continue_service_deployment(self, arn, hook_id, action):
        self.answers.append(action)

    def stop_service_deployment(self, arn, stop_type):
        raise AssertionError("not stopped in these scenarios")


SECRET = "s3cr3t-test-header-value-never-printed"


def gated_ctx(failing: list[str]):
    ctx = make_ctx(ROOT, gated=True)
    ctx.stack = ctx.stack.model_copy(update={"aws": ctx.stack.aws.model_copy(update={"url": "https://app.example"})})
    ctx.deployments = FakeDeployments(ctx.ecs)
    ctx.test_header = lambda: SECRET
    runs = []

    def gate_smoke(url, env):
        runs.append((url, env))
        return failing

    ctx.gate_smoke = gate_smoke
    ctx.gate_runs = runs  # type: ignore[attr-defined]
    ctx.outputs = dict
    return ctx


def test_promote_gives_ecs_the_pause_and_the_e2e_run_the_test_header_in_its_environment_only():
    ctx = gated_ctx([])
    promote(ctx, force=True)
    config = ctx.ecs.services["website-agent"]["deploymentConfiguration"]
    assert config["strategy"] == "BLUE_GREEN" and config["lifecycleHooks"][0]["lifecycleStages"] == [
        "POST_TEST_TRAFFIC_SHIFT"
    ]
    assert ctx.ecs.services["crawler"]["deploymentConfiguration"].get("strategy") is None  # rolling, as before
    assert ctx.gate_runs == [("https://app.example", {"PARITY_E2E_HEADERS": json.dumps({"X-Test-Traffic": SECRET})})]
    assert ctx.deployments.answers == ["CONTINUE"]
    assert ctx.smoke_calls == ["https://app.example"]  # the final smoke run, production, as before
    assert not any(SECRET in line for line in ctx.lines)


def test_promote_exits_non_zero_naming_the_failed_checks_and_leaves_production_on_the_old_revision():
    ctx = gated_ctx(["test_smoke::test_chat_stream"])
    before = ctx.ecs.services["website-agent"]["taskDefinition"]
    with pytest.raises(DeployFailed) as exc:
        promote(ctx, force=True)
    assert (
        "website-agent: rollout ROLLED_BACK: e2e failed against the new revision: test_smoke::test_chat_stream"
        in str(exc.value)
    )
    assert ctx.deployments.answers == ["ROLLBACK"]
    assert ctx.ecs.services["website-agent"]["taskDefinition"] == before
    # ECS did the rollback: promote did not update website-agent a second time
    assert [c for c in ctx.ecs.calls if c[0] == "update" and c[1] == "website-agent"][1:] == []
    assert not any(SECRET in line for line in ctx.lines)


def test_the_gate_names_the_failing_checks_and_passes_the_header_in_the_suites_environment(tmp_path, monkeypatch):
    from parity.app.checks import e2e_run

    calls = []

    def run_e2e(root, base_url, marker=None, group=None, *, extra_env=None):
        calls.append((base_url, marker, extra_env))
        return False

    monkeypatch.setattr(e2e_run, "run_e2e", run_e2e)
    monkeypatch.setattr(e2e_run, "failed_checks", lambda root: ["test_smoke::test_login"])
    env = {"PARITY_E2E_HEADERS": json.dumps({"X-Test-Traffic": SECRET})}
    assert gated.smoke_failures(tmp_path, "https://app.example", env) == ["test_smoke::test_login"]
    assert calls == [("https://app.example", "smoke", env)]
    monkeypatch.setattr(e2e_run, "failed_checks", lambda root: [])
    assert gated.smoke_failures(tmp_path, "https://app.example", env)[0].startswith(
        "the smoke run (no failed check named"
    )


def test_the_test_header_is_read_from_its_secrets_json_key_and_missing_ones_say_so():
    from parity.errors import ParityError

    stack = make_ctx(ROOT, gated=True).stack

    class Store:
        def __init__(self, value):
            self.value = value

        def get(self, name):
            assert name == "huskit/prod/edge-test"
            return self.value

    assert gated.read_test_header(Store(json.dumps({"value": SECRET})), stack) == SECRET
    with pytest.raises(ParityError, match=r"^secret huskit/prod/edge-test does not exist"):
        gated.read_test_header(Store(None), stack)
    with pytest.raises(ParityError, match=r"has no JSON key 'value'") as exc:
        gated.read_test_header(Store(json.dumps({"other": SECRET})), stack)
    assert SECRET not in str(exc.value)
