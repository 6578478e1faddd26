"""Promote's blue/green gate: follow ONE ECS service deployment of a gated
service (``deployment.strategy`` blue_green, canary or linear) through its
lifecycle stages, answer its pause with the e2e suite's verdict, and say how
it ended.

After the UpdateService that starts it (with the service's configuration:
the PAUSE hook at POST_TEST_TRAFFIC_SHIFT included, ``parity.render.deployment``):

 1. find it: ListServiceDeployments of the service, created since the update;
 2. follow it (DescribeServiceDeployments), reporting each stage as it
    passes with the traffic split (``production: blue N% / green M%; test: green``);
 3. at the pause (its PAUSE hook AWAITING_ACTION): run the gate, the smoke
    checks against the public URL with the test header (only the new revision
    gets those requests); ContinueServiceDeployment CONTINUE when they pass,
    ROLLBACK when they fail (production never moved to the new revision);
 4. wait through the production shift and the bake time, reporting.

How it can end, each one outcome (``Gate``):
 - SUCCESSFUL: the new revision serves production, the bake passed;
 - ROLLED_BACK: the e2e gate failed (the failing checks named); the pause
   timed out before anyone answered (``test_timeout_minutes``); an alarm of
   ``deployment.alarms`` fired (during the bake); the circuit breaker tripped;
   the deployment was stopped from outside promote;
 - FAILED: ECS's rollback failed too;
 - TIMEOUT: promote's own deadline passed (it then stops the deployment with
   StopServiceDeployment ROLLBACK).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from parity.errors import ParityError
from parity.render.deployment import PAUSE_STAGE

Report = Callable[[str], None]  # (as parity.app.deploy.context names it: that module imports this one)

# ECS's lifecycleStage values, in the order a deployment passes them (botocore's
# ServiceDeploymentLifecycleStage; a unit test holds this list to the model).
STAGES = [
    "RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
]  # fmt: skip
ENDED = {"SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"}
IN_PROGRESS = {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
FIND_TIMEOUT = 60.0  # seconds for the deployment to be listed after the update


class DeploymentsApi(Protocol):
    """ECS's service deployment calls (adapters/ecs.py)."""

    def service_deployments(self, cluster: str, service: str, since: datetime | None) -> list[dict[str, Any]]: ...
    def describe_service_deployment(self, arn: str) -> dict[str, Any] | None: ...
    def continue_service_deployment(self, arn: str, hook_id: str, action: str) -> None: ...
    def stop_service_deployment(self, arn: str, stop_type: str) -> None: ...


@dataclass
class Gate:
    """How one gated deployment ended."""

    service: str
    arn: str
    state: str  # SUCCESSFUL, ROLLED_BACK, FAILED, TIMEOUT
    reason: str
    failing: list[str] = field(default_factory=list)  # the e2e checks that failed at the gate
    stages: list[str] = field(default_factory=list)  # the stages seen, in order

    @property
    def ok(self) -> bool:
        return self.state == "SUCCESSFUL"


def traffic_split(deployment: dict[str, Any]) -> str:
    """``production: blue 100% / green 0%; test: green`` from the deployment's
    revisions (blue: what ran before, green: the new revision)."""
    target = deployment.get("targetServiceRevision") or {}
    green = target.get("requestedProductionTrafficWeight")
    blue = sum((s.get("requestedProductionTrafficWeight") or 0) for s in deployment.get("sourceServiceRevisions") or [])
    if green is None:
        green = 0.0 if deployment.get("sourceServiceRevisions") else 100.0
    test = "green" if (target.get("requestedTestTrafficWeight") or 0) > 0 else "blue"
    return f"production: blue {_pct(blue)} / green {_pct(green)}; test: {test}"


def _pct(value: float) -> str:
    return f"{value:g}%"


def paused_hook(deployment: dict[str, Any]) -> dict[str, Any] | None:
    """The PAUSE hook waiting for an answer, if the deployment is at one."""
    for hook in deployment.get("lifecycleHookDetails") or []:
        if hook.get("targetType") == "PAUSE" and hook.get("status") == "AWAITING_ACTION":
            return hook
    return None


def find(api: DeploymentsApi, cluster: str, service: str, since: datetime | None,
         clock: Callable[[], float], sleep: Callable[[float], None], interval: float) -> str:  # fmt: skip
    """The ARN of the service deployment the update started: the newest one
    created since ``since`` that has not ended."""
    deadline = clock() + FIND_TIMEOUT
    while True:
        found = [d for d in api.service_deployments(cluster, service, since) if d.get("status") not in ENDED]
        if found:
            newest = max(found, key=lambda d: _when(d.get("createdAt")))
            return newest["serviceDeploymentArn"]
        if clock() >= deadline:
            raise ParityError(
                f"{service}: ECS lists no service deployment started by the update (ListServiceDeployments)",
                hint="look at the service's deployments in the ECS console",
            )
        sleep(interval)


def _when(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value or 0)


def follow(
    api: DeploymentsApi,
    cluster: str,
    service: str,
    arn: str,
    gate: Callable[[], list[str]],
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    interval: float = 5.0,
    report: Report = lambda _m: None,
) -> Gate:
    """Follow deployment ``arn`` to its end (see the module's docstring).
    ``gate`` runs the e2e checks against the new revision and returns the
    names of those that failed ([] when all passed)."""
    deadline = clock() + timeout
    answered: str | None = None
    failing: list[str] = []
    stages: list[str] = []
    last: tuple[Any, ...] = ()
    while True:
        dep = api.describe_service_deployment(arn)
        if dep is None:
            return Gate(
                service, arn, "FAILED", f"deployment {arn} is gone (DescribeServiceDeployments)", failing, stages
            )
        stage, status = dep.get("lifecycleStage"), dep.get("status")
        split = traffic_split(dep)
        if (stage, status, split) != last:
            last = (stage, status, split)
            if stage and (not stages or stages[-1] != stage):
                stages.append(stage)
            report(f"{service}: {stage or '-'} ({status}) {split}")
        if status in ENDED:
            return _ended(service, arn, dep, answered, failing, stages)
        hook = paused_hook(dep)
        if hook is not None and answered is None and status == "IN_PROGRESS":  # the e2e gate
            report(
                f"{service}: paused at {stage or PAUSE_STAGE}: e2e smoke checks against the new revision (test traffic)"
            )
            failing = _run_gate(gate)
            answered = _answer(api, arn, hook["hookId"], failing, service, report)
        if clock() >= deadline:
            api.stop_service_deployment(arn, "ROLLBACK")
            report(f"{service}: still {status} at {stage} after {timeout:.0f} s: promote stopped it with rollback")
            return Gate(
                service,
                arn,
                "TIMEOUT",
                f"still {status} at {stage} after {timeout:.0f} s; promote stopped it (rollback)",
                failing,
                stages,
            )
        sleep(interval)


def _answer(api: DeploymentsApi, arn: str, hook_id: str, failing: list[str], service: str, report: Report) -> str:
    """ContinueServiceDeployment: CONTINUE when the gate passed, else ROLLBACK.
    "LATE" when ECS no longer takes an answer (the pause timed out while the
    checks ran): the next description says what ECS did instead."""
    action = "ROLLBACK" if failing else "CONTINUE"
    try:
        api.continue_service_deployment(arn, hook_id, action)
    except ParityError as exc:
        report(f"{service}: ECS did not take the answer {action}: {exc.message}")
        return "LATE"
    if failing:
        report(f"{service}: e2e FAILED ({', '.join(failing)}): rolling back; production stays on the old revision")
    else:
        report(f"{service}: e2e passed against the new revision: continuing to the production shift")
    return action


def _run_gate(gate: Callable[[], list[str]]) -> list[str]:
    try:
        return list(gate())
    except ParityError as exc:  # the checks could not run: that is a failed gate, not a pass
        return [f"the e2e run itself: {exc.message}"]


def _ended(
    service: str, arn: str, dep: dict[str, Any], answered: str | None, failing: list[str], stages: list[str]
) -> Gate:
    status, reason = dep.get("status"), dep.get("statusReason") or ""

    def out(state: str, why: str) -> Gate:
        return Gate(service, arn, state, why, failing, stages)

    if status == "SUCCESSFUL":
        if answered != "CONTINUE":  # ECS went past the pause without promote's word: the gate did not run
            return out(
                "FAILED", f"ECS completed the deployment without pausing at {PAUSE_STAGE}: the e2e gate never ran"
            )
        return out("SUCCESSFUL", "production on the new revision, bake passed")
    back = "ECS rolled back" if status == "ROLLBACK_SUCCESSFUL" else f"ECS's rollback ended {status}"
    state = "FAILED" if status == "ROLLBACK_FAILED" else "ROLLED_BACK"
    if answered == "ROLLBACK":
        return out(
            state, f"e2e failed against the new revision: {', '.join(failing)}; {back}: production never moved to it"
        )
    if answered == "LATE" and failing:
        back += f" (the e2e gate had failed too: {', '.join(failing)})"
    timed_out = [h for h in dep.get("lifecycleHookDetails") or [] if h.get("status") == "TIMED_OUT"]
    if timed_out:
        return out(state, f"the pause at {PAUSE_STAGE} timed out before promote answered; {back}")
    alarms = dep.get("alarms") or {}
    if alarms.get("status") == "TRIGGERED":
        names = ", ".join(alarms.get("triggeredAlarmNames") or []) or "an alarm"
        return out(state, f"alarm {names} fired during {dep.get('lifecycleStage') or 'the deployment'}; {back}")
    breaker = dep.get("deploymentCircuitBreaker") or {}
    if breaker.get("status") == "TRIGGERED":
        return out(state, f"the circuit breaker tripped ({breaker.get('failureCount', '?')} tasks failed); {back}")
    if status == "STOPPED":
        return out("ROLLED_BACK", f"stopped from outside promote ({reason or status}); it went no further")
    if "stop" in reason.lower():
        return out(state, f"stopped from outside promote ({reason}); {back}")
    return out(state, f"{reason or status}; {back}")


def read_test_header(store: Any, stack: Any) -> str:
    """The test header's value, from its secret's JSON key (``edge.test_traffic.secret``).
    It goes to the e2e suite's environment only: never printed."""
    import json

    tt = stack.edge.test_traffic
    if tt is None:
        raise ParityError(
            "edge.test_traffic is not set: a gated deployment has no test header", hint="set it in stack.yaml"
        )
    name = stack.secret_name(tt.secret)
    raw = store.get(name)
    if raw is None:
        raise ParityError(f"secret {name} does not exist", hint=f"`inv infra-apply --env {stack.env}` creates it")
    try:
        value = json.loads(raw).get(tt.secret.key)
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise ParityError(f"secret {name} has no JSON key {tt.secret.key!r} with a value (edge.test_traffic.secret)")
    return value


def gated_timeout(stack: Any, service: str) -> float:
    """How long promote follows a gated deployment: the rollout's own time,
    the pause's, the canary or linear steps' and the bake's, with a margin."""
    import math

    dep = stack.services[service].deployment
    minutes = dep.test_timeout_minutes + dep.bake_minutes
    if dep.canary is not None:
        minutes += dep.canary.bake_minutes
    if dep.linear is not None:
        minutes += math.ceil(100 / dep.linear.step_percent) * dep.linear.step_bake_minutes
    return stack.aws.rollout_timeout * 2 + minutes * 60 + 300


def smoke_failures(root: Any, base_url: str, extra_env: dict[str, str]) -> list[str]:
    """Promote's e2e gate: the smoke checks against ``base_url`` with
    ``extra_env`` in the suite's environment; the names of those that failed
    ([] when they all passed)."""
    from parity.app.checks.e2e_run import failed_checks, run_e2e

    if run_e2e(root, base_url, "smoke", extra_env=extra_env):
        return []
    return failed_checks(root) or ["the smoke run (no failed check named in reports/e2e/checks.json: see its output)"]
