"""Normalise task definitions and service settings, and diff them, so that a
diff shows only real changes (ecspresso's habit).

What ECS adds on its own is dropped (ARN, revision, status, registration
data, compatibilities), what it fills in by default is filled in on both
sides (``cpu: 0``, ``protocol: tcp``, ``hostPort`` in awsvpc, health-check
defaults, the service's default deployment settings), lists whose order has
no meaning are sorted (environment, secrets), and empty values are removed.
Values of environment variables whose names look secret are shown as a short
hash, never in clear.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from typing import Any

TASKDEF_READ_ONLY = {
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "tags",
}
CONTAINER_DEFAULTS = {"cpu": 0, "essential": True}
HEALTH_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3, "startPeriod": 0}
SERVICE_DEFAULTS = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
_SECRETISH = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|API_KEY|ACCESS_KEY|SERVICE_KEY|CREDENTIAL)")


def _prune(value: Any) -> Any:
    """Drop None, empty lists and empty mappings, recursively."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _masked(name: str, value: str) -> str:
    if _SECRETISH.search(name):
        return f"<redacted sha256:{hashlib.sha256(value.encode()).hexdigest()[:12]}>"
    return value


def _container(c: dict[str, Any], network_mode: str | None) -> dict[str, Any]:
    c = {**CONTAINER_DEFAULTS, **c}
    ports = []
    for p in c.get("portMappings") or []:
        p = {"protocol": "tcp", **p}
        if network_mode == "awsvpc":
            p.setdefault("hostPort", p.get("containerPort"))
        ports.append(p)
    c["portMappings"] = sorted(ports, key=lambda p: (p.get("containerPort", 0), p.get("protocol", "")))
    c["environment"] = sorted(
        ({"name": e["name"], "value": _masked(e["name"], str(e.get("value", "")))} for e in c.get("environment") or []),
        key=lambda e: e["name"],
    )
    c["secrets"] = sorted(c.get("secrets") or [], key=lambda s: s["name"])
    if c.get("healthCheck"):
        c["healthCheck"] = {**HEALTH_DEFAULTS, **c["healthCheck"]}
    return c


def normalise_taskdef(taskdef: dict[str, Any]) -> dict[str, Any]:
    """A task definition (as registered or as described) in comparable form."""
    td = {k: v for k, v in copy.deepcopy(taskdef).items() if k not in TASKDEF_READ_ONLY}
    for key in ("cpu", "memory"):
        if td.get(key) is not None:
            td[key] = str(td[key])
    mode = td.get("networkMode")
    td["containerDefinitions"] = sorted(
        (_container(c, mode) for c in td.get("containerDefinitions") or []), key=lambda c: c.get("name", "")
    )
    return _prune(td)


def normalise_service(service: dict[str, Any]) -> dict[str, Any]:
    """The settings of a service that promote manages: its task definition
    and its deployment configuration (defaults filled in)."""
    config = copy.deepcopy(service.get("deploymentConfiguration") or {})
    alarms = config.pop("alarms", None)
    merged = {**SERVICE_DEFAULTS, **config}
    if alarms and alarms.get("enable"):
        merged["alarms"] = alarms
    return _prune({"taskDefinition": short_taskdef(service.get("taskDefinition")), "deploymentConfiguration": merged})


def short_taskdef(arn: str | None) -> str | None:
    """``arn:aws:ecs:...:task-definition/huskit-crawler:3`` -> ``huskit-crawler:3``."""
    return arn.rsplit("/", 1)[-1] if arn else arn


def unified(old: dict[str, Any] | None, new: dict[str, Any], old_label: str, new_label: str) -> str:
    """A unified diff of two normalised documents; empty when they are equal."""
    a = json.dumps(old, indent=2, sort_keys=True).splitlines() if old is not None else []
    b = json.dumps(new, indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, old_label, new_label, lineterm=""))


def taskdef_diff(live: dict[str, Any] | None, rendered: dict[str, Any], label: str) -> str:
    """The diff between the live task definition and the rendered one."""
    old = normalise_taskdef(live) if live is not None else None
    return unified(old, normalise_taskdef(rendered), f"{label} (live)", f"{label} (rendered)")


def service_diff(live: dict[str, Any], desired: dict[str, Any], label: str) -> str:
    """The diff between the live service settings and the desired ones."""
    return unified(normalise_service(live), normalise_service(desired), f"{label} (live)", f"{label} (desired)")
