"""Normalise task definitions and service settings, and diff them, so that a
diff shows only real changes (ecspresso's habit).

What ECS adds on its own is dropped (ARN, revision, status, registration
data, compatibilities), what it reports for a field left out is treated as
left out on both sides (``enableFaultInjection: false``, ``cpu: 0``,
``versionConsistency: enabled``, Fargate's X86_64/LINUX, the service's
default deployment settings and strategy), lists whose order has no meaning
are sorted (environment, secrets), and empty values are removed. The defaults
are tested on saved responses carrying every field botocore's model lists
(tests/unit/fixtures/aws-*.json).
Values of environment variables whose names look secret are shown as a short
hash, never in clear.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from typing import Any

from parity.spec.models import looks_secret

# What ECS adds to a task definition on its own: never part of a registration.
# (A test checks this against botocore's model: every output-only member of
# TaskDefinition must be listed here.)
TASKDEF_READ_ONLY = {
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
    "tags",
}
# What DescribeTaskDefinition returns for a field the registration left out
# (values as AWS returns them); equal to "not set", so dropped on both sides.
TASKDEF_DEFAULTS: dict[str, Any] = {
    "enableFaultInjection": False,
    "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},  # Fargate's default
}
CONTAINER_DEFAULTS: dict[str, Any] = {
    "cpu": 0,
    "essential": True,
    "versionConsistency": "enabled",
    "disableNetworking": False,
    "privileged": False,
    "readonlyRootFilesystem": False,
    "interactive": False,
    "pseudoTerminal": False,
    "restartPolicy": {"enabled": False},
}
PORT_DEFAULTS = {"protocol": "tcp"}
HEALTH_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3, "startPeriod": 0}
# DescribeServices' deploymentConfiguration of a service created without one.
SERVICE_DEFAULTS: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "alarms": {"alarmNames": [], "enable": False, "rollback": False},
    "strategy": "ROLLING",
    "lifecycleHooks": [],
}
# Settings that only mean something for some deployment strategies.
_STRATEGY_ONLY = {
    "bakeTimeInMinutes": {"BLUE_GREEN", "LINEAR", "CANARY"},
    "linearConfiguration": {"LINEAR"},
    "canaryConfiguration": {"CANARY"},
}


_MISSING = object()


def _without_defaults(value: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Drop each key whose value means the same as leaving it out. A partial
    mapping is completed by its default first (``{"enable": true}`` keeps its
    implied ``rollback: false``)."""
    out = {}
    for key, v in value.items():
        default = defaults.get(key, _MISSING)
        if isinstance(default, dict) and isinstance(v, dict):
            v = _prune({**default, **v})
            if v == _prune(default):
                continue
        elif v == default:
            continue
        out[key] = v
    return out


def _prune(value: Any) -> Any:
    """Drop None, empty lists and empty mappings, recursively."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _masked(name: str, value: str) -> str:
    if looks_secret(name):
        return f"<redacted sha256:{hashlib.sha256(value.encode()).hexdigest()[:12]}>"
    return value


def _container(c: dict[str, Any], network_mode: str | None) -> dict[str, Any]:
    c = _without_defaults(_prune(c), CONTAINER_DEFAULTS)
    ports = []
    for p in c.get("portMappings") or []:
        p = {**PORT_DEFAULTS, **p}
        if network_mode == "awsvpc" and p.get("containerPort") is not None:
            p.setdefault("hostPort", p["containerPort"])  # awsvpc: always the container port
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
    td = {k: v for k, v in _prune(copy.deepcopy(taskdef)).items() if k not in TASKDEF_READ_ONLY}
    td = _without_defaults(td, TASKDEF_DEFAULTS)
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
    config = _prune(copy.deepcopy(service.get("deploymentConfiguration") or {}))
    strategy = config.get("strategy", SERVICE_DEFAULTS["strategy"])
    config = {k: v for k, v in config.items() if strategy in _STRATEGY_ONLY.get(k, {strategy})}
    alarms = config.get("alarms")
    if alarms and not alarms.get("enable"):
        del config["alarms"]  # names of alarms that are not watched change nothing
    merged = {**SERVICE_DEFAULTS, **config}
    # Shown in full (promote sets these), except what equals "not set" and means nothing here.
    shown = {
        k: v for k, v in merged.items() if k not in ("alarms", "strategy", "lifecycleHooks") or v != SERVICE_DEFAULTS[k]
    }
    return _prune({"taskDefinition": short_taskdef(service.get("taskDefinition")), "deploymentConfiguration": shown})


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
