"""A service's ECS ``deploymentConfiguration``, rendered from its spec
(``services.<name>.deployment``), in the ECS API's casing: promote passes it
with every UpdateService, the template takes it in CloudFormation's casing.

Rolling services get what every update set before blue/green existed. A gated
service (blue_green, canary, linear) gets ECS's strategy, its bake time, the
canary or linear steps, the spec's alarms and ONE lifecycle hook: a ``PAUSE``
at ``POST_TEST_TRAFFIC_SHIFT``, which promote answers with
ContinueServiceDeployment once the e2e gate has passed (or ECS rolls back
after ``test_timeout_minutes``). CloudFormation's ``AWS::ECS::Service`` schema
cannot express a PAUSE hook (its ``DeploymentLifecycleHook`` requires
``HookTargetArn`` and ``RoleArn`` and has no ``TargetType`` nor timeout), so
the hook is promote's alone: it is set by the very UpdateService that starts
the deployment it gates (``with_hooks``)."""

from __future__ import annotations

from typing import Any

from parity.spec import Stack

PAUSE_STAGE = "POST_TEST_TRAFFIC_SHIFT"
STRATEGIES = {"rolling": "ROLLING", "blue_green": "BLUE_GREEN", "canary": "CANARY", "linear": "LINEAR"}


def rolling_configuration() -> dict[str, Any]:
    """What every rolling update sets: no capacity dip, room to surge, and ECS
    rolls a failing deployment back by itself (the circuit breaker)."""
    return {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }


def pause_hook(stack: Stack, service: str) -> dict[str, Any]:
    """The e2e gate: ECS waits at POST_TEST_TRAFFIC_SHIFT for promote's word,
    at most ``test_timeout_minutes``, then rolls back."""
    return {
        "targetType": "PAUSE",
        "lifecycleStages": [PAUSE_STAGE],
        "timeoutConfiguration": {
            "timeoutInMinutes": stack.services[service].deployment.test_timeout_minutes,
            "action": "ROLLBACK",
        },
    }


def service_configuration(stack: Stack, service: str, with_hooks: bool = True) -> dict[str, Any]:
    """The service's deploymentConfiguration (ECS API casing)."""
    out = rolling_configuration()
    dep = stack.services[service].deployment
    if not dep.gated:
        return out
    out["strategy"] = STRATEGIES[dep.strategy]
    out["bakeTimeInMinutes"] = dep.bake_minutes
    if dep.canary is not None:
        out["canaryConfiguration"] = {
            "canaryPercent": dep.canary.percent,
            "canaryBakeTimeInMinutes": dep.canary.bake_minutes,
        }
    if dep.linear is not None:
        out["linearConfiguration"] = {
            "stepPercent": dep.linear.step_percent,
            "stepBakeTimeInMinutes": dep.linear.step_bake_minutes,
        }
    if dep.alarms:
        out["alarms"] = {"alarmNames": list(dep.alarms), "enable": True, "rollback": True}
    if with_hooks:
        out["lifecycleHooks"] = [pause_hook(stack, service)]
    return out


def rollback_configuration(stack: Stack, service: str) -> dict[str, Any]:
    """What a rollback (or a first promote's stop) sets: the service's own
    strategy, without the e2e gate: a revision that ran before is not tested
    again, and nobody would answer its pause (ECS would roll the rollback back)."""
    out = service_configuration(stack, service, with_hooks=False)
    if stack.services[service].deployment.gated:
        out["lifecycleHooks"] = []
    return out
