"""Wait for ONE deployment, by its ID, to finish its rollout.

"Services stable" is not success: after a circuit-breaker rollback the
service is stable again, on the old task definition. So the deployment that
the update created is followed by ID until ECS reports its ``rolloutState``:
COMPLETED (and the service runs the new task definition) is success; FAILED,
a rollback (ECS replaced it by a PRIMARY deployment of another task
definition) or the time running out is failure, with the service's events.

The emulator (moto) decides a rollout when a service is created
(COMPLETED if its MOTO_ECS_SERVICE_RUNNING >= the desired count, else
IN_PROGRESS forever), keeps that state on the deployment an update gives a
new ID to, and never updates a deployment's own ``taskDefinition``; so the
new task definition is checked on the service, which moto does update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parity.app.deploy.context import EcsApi, Report
from parity.render.diff import short_taskdef

MAX_EVENTS = 8


@dataclass
class Rollout:
    service: str
    deployment_id: str
    state: str  # COMPLETED, FAILED, ROLLED_BACK, TIMEOUT
    reason: str
    running: str | None  # the task definition the service runs at the end
    events: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "COMPLETED"


def primary(service: dict[str, Any]) -> dict[str, Any] | None:
    return next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)


def _when(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return 0.0


def recent_events(service: dict[str, Any], since: Any = None, limit: int = MAX_EVENTS) -> list[str]:
    """The service's event messages since ``since``, oldest first."""
    start = _when(since)
    events = [e for e in service.get("events", []) if _when(e.get("createdAt")) >= start]
    events.sort(key=lambda e: _when(e.get("createdAt")))
    return [e.get("message", "") for e in events[-limit:]]


def wait_rollout(
    ecs: EcsApi,
    cluster: str,
    service: str,
    deployment_id: str,
    task_definition: str,
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    interval: float = 5.0,
    report: Report = lambda _m: None,
) -> Rollout:
    """Follow deployment ``deployment_id`` of ``service`` until it completes,
    fails, is rolled back or ``timeout`` seconds pass."""
    deadline = clock() + timeout
    last_state = None
    created: Any = None
    while True:
        svc = ecs.describe_service(cluster, service) or {}
        running = svc.get("taskDefinition")
        deployments = svc.get("deployments", [])
        ours = next((d for d in deployments if d.get("id") == deployment_id), None)
        if ours is not None and created is None:
            created = ours.get("createdAt")
        events = recent_events(svc, created)
        head = primary(svc)

        def result(state: str, reason: str) -> Rollout:
            return Rollout(service, deployment_id, state, reason, running, events)  # noqa: B023 - this iteration's

        if head is not None and head.get("id") != deployment_id and head.get("taskDefinition") != task_definition:
            # ECS started another deployment of another task definition: the circuit
            # breaker's rollback (or someone else's deploy). Ours is no longer wanted.
            why = (ours or {}).get("rolloutStateReason") or "deployment replaced"
            return result("ROLLED_BACK", f"{why}; ECS rolled back to {short_taskdef(head.get('taskDefinition'))}")
        if ours is None:
            return result(
                "ROLLED_BACK", f"deployment {deployment_id} is gone; the service runs {short_taskdef(running)}"
            )
        state = ours.get("rolloutState", "IN_PROGRESS")
        if state != last_state:
            report(f"{service}: deployment {deployment_id} {state}")
            last_state = state
        if state == "COMPLETED":
            if running != task_definition:
                return result("ROLLED_BACK", f"completed, but the service runs {short_taskdef(running)}")
            return result("COMPLETED", ours.get("rolloutStateReason") or "completed")
        if state == "FAILED":
            return result("FAILED", ours.get("rolloutStateReason") or "rollout failed")
        if clock() >= deadline:
            return result("TIMEOUT", f"still {state} after {timeout:.0f} s")
        sleep(interval)
