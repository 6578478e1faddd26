"""A stand-in for ECS's service deployments inside the rehearsal's emulator
(moto 5.2.5 implements none of ListServiceDeployments,
DescribeServiceDeployments, ContinueServiceDeployment, StopServiceDeployment).

Installed on moto's ECS response class, so each call still goes through the
emulator's authorization first (adapters/emulator.py: the caller's policies,
against the resource ``parity.iam_policy`` says the call is authorized on).

What it models, from the UpdateService that carries a gated strategy
(``deploymentConfiguration.strategy`` BLUE_GREEN, CANARY or LINEAR) and a new
task definition: one service deployment that moves one lifecycle stage per
DescribeServiceDeployments (ECS's stages, in ECS's order), with the traffic
weights of each stage; that waits at POST_TEST_TRAFFIC_SHIFT when the update
asked for a PAUSE hook there (AWAITING_ACTION) until ContinueServiceDeployment
says CONTINUE (on to the production shift, the bake, SUCCESSFUL) or ROLLBACK;
StopServiceDeployment ROLLBACK likewise. A rollback puts the service back on
the task definition it ran before. Not modelled: time (the bake and the hook's
timeout pass as stages, not minutes), alarms, tasks (moto runs none).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

GATED = {"BLUE_GREEN", "CANARY", "LINEAR"}
BEFORE_PAUSE = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
]
AFTER_PAUSE = ["PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"]
DEPLOYMENTS: dict[str, dict[str, Any]] = {}  # ARN -> the deployment's state


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _paused(config: dict[str, Any]) -> bool:
    return any(
        h.get("targetType") == "PAUSE" and "POST_TEST_TRAFFIC_SHIFT" in (h.get("lifecycleStages") or [])
        for h in config.get("lifecycleHooks") or []
    )


def started(backend: Any, cluster: str, service: str, source: str | None, params: dict[str, Any]) -> None:
    """Record the deployment an UpdateService starts, if it is a gated one."""
    config = params.get("deploymentConfiguration") or {}
    target = params.get("taskDefinition")
    if config.get("strategy") not in GATED or not target:
        return
    svc = backend._get_service(cluster, service)
    arn = svc.arn.replace(":service/", ":service-deployment/") + "/" + secrets.token_hex(10)
    DEPLOYMENTS[arn] = {
        "arn": arn, "cluster": cluster, "service": service, "service_arn": svc.arn, "cluster_arn": svc.cluster_arn,
        "source": source, "target": svc.task_definition, "config": config, "pause": _paused(config),
        "stages": list(BEFORE_PAUSE), "index": -1, "status": "PENDING", "hook": None, "created": _now(),
        "backend": backend,
    }  # fmt: skip


def _advance(d: dict[str, Any]) -> None:
    if d["status"] in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "STOPPED"):
        return
    if d["status"] == "ROLLBACK_IN_PROGRESS":
        d["status"] = "ROLLBACK_SUCCESSFUL"
        _revert(d)
        return
    if d["hook"] == "AWAITING_ACTION":
        return
    d["status"] = "IN_PROGRESS"
    if d["index"] + 1 < len(d["stages"]):
        d["index"] += 1
    stage = d["stages"][d["index"]]
    if stage == "POST_TEST_TRAFFIC_SHIFT" and d["hook"] is None:
        if d["pause"]:
            d["hook"] = "AWAITING_ACTION"
            return
        d["stages"] += AFTER_PAUSE
    elif stage == "CLEAN_UP":
        d["status"] = "SUCCESSFUL"


def _revert(d: dict[str, Any]) -> None:
    """The service back on what it ran before the deployment."""
    if not d["source"]:
        return
    svc = d["backend"]._get_service(d["cluster"], d["service"])
    svc.task_definition = d["source"]
    for deployment in svc.deployments[:1]:
        deployment["taskDefinition"] = d["source"]


def _weights(d: dict[str, Any]) -> tuple[float, float]:
    """(production, test) weight of the new revision at the current stage."""
    stage = d["stages"][d["index"]] if d["index"] >= 0 else "RECONCILE_SERVICE"
    if d["status"] in ("ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"):
        return 0.0, 0.0
    order = BEFORE_PAUSE + AFTER_PAUSE
    test = 100.0 if order.index(stage) >= order.index("TEST_TRAFFIC_SHIFT") else 0.0
    production = 100.0 if order.index(stage) >= order.index("POST_PRODUCTION_TRAFFIC_SHIFT") else 0.0
    if stage == "PRODUCTION_TRAFFIC_SHIFT":
        strategy = d["config"].get("strategy")
        production = {
            "CANARY": float((d["config"].get("canaryConfiguration") or {}).get("canaryPercent", 5.0)),
            "LINEAR": float((d["config"].get("linearConfiguration") or {}).get("stepPercent", 10.0)),
        }.get(strategy, 100.0)
    return production, test


def describe(d: dict[str, Any]) -> dict[str, Any]:
    production, test = _weights(d)
    stage = d["stages"][d["index"]] if d["index"] >= 0 else "RECONCILE_SERVICE"
    hooks = []
    if d["hook"] is not None:
        hooks = [
            {
                "hookId": f"{d['arn'].rsplit('/', 1)[-1]}-pause",
                "targetType": "PAUSE",
                "status": d["hook"],
                "timeoutAction": "ROLLBACK",
            }
        ]
    return {
        "serviceDeploymentArn": d["arn"], "serviceArn": d["service_arn"], "clusterArn": d["cluster_arn"],
        "createdAt": d["created"], "startedAt": d["created"], "updatedAt": _now(),
        "sourceServiceRevisions": [{"arn": d["source"], "requestedProductionTrafficWeight": 100.0 - production,
                                    "requestedTestTrafficWeight": 100.0 - test}],
        "targetServiceRevision": {"arn": d["target"], "requestedProductionTrafficWeight": production, "requestedTestTrafficWeight": test},
        "status": d["status"], "statusReason": d.get("reason", ""), "lifecycleStage": stage, "lifecycleHookDetails": hooks,
        "deploymentConfiguration": d["config"],
        "alarms": {"status": "DISABLED", "alarmNames": [], "triggeredAlarmNames": []},
        "deploymentCircuitBreaker": {"status": "MONITORING", "failureCount": 0, "threshold": 10},
    }  # fmt: skip


def _error(code: str, message: str) -> Any:
    from werkzeug.exceptions import HTTPException

    class ClientError(HTTPException):
        code = 400

    err = ClientError()
    err.description = json.dumps({"__type": code, "message": message})
    return err


def install() -> None:
    """The four operations on moto's ECS responses, and UpdateService recording gated deployments."""
    from moto.ecs.responses import EC2ContainerServiceResponse as R

    original_update = R.update_service

    def update_service(self: Any) -> Any:
        params = self._get_params()
        cluster, service = (
            str(params.get("cluster", "default")).rsplit("/", 1)[-1],
            str(params.get("service", "")).rsplit("/", 1)[-1],
        )
        try:
            source = self.ecs_backend._get_service(cluster, service).task_definition
        except Exception:  # noqa: BLE001 - moto's own error comes from the update itself
            source = None
        result = original_update(self)
        started(self.ecs_backend, cluster, service, source, params)
        return result

    def list_service_deployments(self: Any) -> str:
        cluster = str(self._get_param("cluster", "default")).rsplit("/", 1)[-1]
        service = str(self._get_param("service")).rsplit("/", 1)[-1]
        found = [d for d in DEPLOYMENTS.values() if (d["cluster"], d["service"]) == (cluster, service)]
        briefs = [{k: v for k, v in describe(d).items() if k in ("serviceDeploymentArn", "serviceArn", "clusterArn", "createdAt", "startedAt", "status", "statusReason")}
                  | {"targetServiceRevisionArn": d["target"]} for d in reversed(found)]  # fmt: skip
        return json.dumps({"serviceDeployments": briefs})

    def describe_service_deployments(self: Any) -> str:
        out, failures = [], []
        for arn in self._get_param("serviceDeploymentArns") or []:
            d = DEPLOYMENTS.get(arn)
            if d is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            _advance(d)
            out.append(describe(d))
        return json.dumps({"serviceDeployments": out, "failures": failures})

    def continue_service_deployment(self: Any) -> str:
        arn = self._get_param("serviceDeploymentArn")
        d = DEPLOYMENTS.get(arn)
        if d is None or d["hook"] != "AWAITING_ACTION":
            raise _error("InvalidParameterException", f"{arn}: no lifecycle hook awaits an action")
        d["hook"] = "SUCCEEDED"
        if self._get_param("action", "CONTINUE") == "ROLLBACK":
            d["status"], d["reason"] = "ROLLBACK_IN_PROGRESS", "rolled back by ContinueServiceDeployment"
        else:
            d["stages"] += AFTER_PAUSE
        return json.dumps({"serviceDeploymentArn": arn})

    def stop_service_deployment(self: Any) -> str:
        arn = self._get_param("serviceDeploymentArn")
        d = DEPLOYMENTS.get(arn)
        if d is None:
            raise _error("ServiceDeploymentNotFoundException", f"{arn} does not exist")
        if self._get_param("stopType", "ROLLBACK") == "ROLLBACK":
            d["status"], d["reason"] = "ROLLBACK_IN_PROGRESS", "Service deployment stopped with rollback"
        else:
            d["status"], d["reason"] = "STOPPED", "Service deployment stopped"
        return json.dumps({"serviceDeploymentArn": arn})

    R.update_service = update_service
    R.list_service_deployments = list_service_deployments
    R.describe_service_deployments = describe_service_deployments
    R.continue_service_deployment = continue_service_deployment
    R.stop_service_deployment = stop_service_deployment


def main(argv: list[str]) -> None:
    """A plain moto server with the stand-in (no authorization): ``python -m
    parity.adapters.deployments_emulated PORT`` (the deploy layer's moto tests,
    on loopback), or with moto_server's own flags (``-H 0.0.0.0 -p 5000``: the
    local stack's ecs-emulator, which runs this file as it is: it imports
    nothing of the toolkit's)."""
    install()
    from moto.server import main as moto_main

    moto_main(argv if argv and argv[0].startswith("-") else ["-H", "127.0.0.1", "-p", argv[0]])


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
