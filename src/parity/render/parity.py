"""`inv parity`, the pure part: what the local stack runs, what the spec says it
should run, what the task definition for an environment says and what ECS
runs, each reduced to the same flat view (field path -> value), then compared.

A view's fields: ``image``, ``cpu`` and ``memory`` (ECS units, MiB), ``ports``
(container ports), ``published`` (host ports; Fargate tasks publish none),
``health.*``, ``environment.NAME`` (the value, masked when the name looks
secret), ``secrets.NAME`` (the source: ``secret-name:JSON-key``, never a
value), ``exposure``, ``discovery`` and ``replicas``.

How a difference is judged:
- running (containers) vs the local spec: nothing may differ. A container
  changed by hand (another image, other limits, an extra variable) is an
  undeclared difference.
- the local spec vs the spec for ENV: the overlays (``deploy/<env>.yaml``)
  declare these differences (local-only variables, secret prefixes, counts):
  listed as intended.
- the rendered task definition vs the spec for ENV: the renderer must say what
  the spec says; any difference is a bug.
- live vs rendered: drift, undeclared; except the image, which `inv promote`
  owns (another release may be live): listed as a release difference.
The image registry is local-only by design: locally ``image`` is the image ID
the container runs and should run (the one ``inv promote`` would ship).

The infrastructure (security groups, Cloud Map, the edge) is compared in
``parity_infra``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from parity.render.diff import HEALTH_DEFAULTS, _masked  # the diff's rules, so both show the same
from parity.spec.models import Service, Stack

MISSING = "<absent>"
SET = "<set>"  # an extra variable: its value is never shown (it may be a secret)
NANO = 1_000_000_000
MIB = 1024 * 1024

View = dict[str, Any]


# -- the spec, as each side should look ------------------------------------------


def _health(command: str, interval: int, timeout: int, retries: int, start_period: int) -> View:
    return {
        "health.command": command,
        "health.interval": interval,
        "health.timeout": timeout,
        "health.retries": retries,
        "health.start_period": start_period,
    }


def secret_source(stack: Stack, service: Service, name: str) -> str:
    ref = service.secrets[name]
    return f"{stack.secret_name(ref)}:{ref.key}" if ref.key else stack.secret_name(ref)


def spec_view(stack: Stack, name: str, image: str | None = None) -> View:
    """What the spec says ``name`` runs (in ``stack.env``)."""
    svc = stack.services[name]
    view: View = {
        "image": image,
        "cpu": svc.cpu,
        "memory": svc.memory,
        "ports": [svc.port],
        "published": [],
        **_health(
            svc.health.command, svc.health.interval, svc.health.timeout, svc.health.retries, svc.health.start_period
        ),
        "exposure": svc.exposure,
        "discovery": svc.discovery,
        "replicas": svc.desired_count,
    }
    view.update({f"environment.{k}": _masked(k, v) for k, v in svc.environment.items()})
    view.update({f"secrets.{k}": secret_source(stack, svc, k) for k in svc.secrets})
    return view


# -- a task definition (rendered or live) ------------------------------------------


def _source_of(value_from: str) -> str:
    """``arn:aws:secretsmanager:R:A:secret:NAME:KEY::`` -> ``NAME:KEY`` (a bare name stays)."""
    if not value_from.startswith("arn:"):
        return value_from
    rest = value_from.split(":secret:", 1)[1]
    name, _, tail = rest.partition(":")
    key = tail.split(":", 1)[0] if tail else ""
    return f"{name}:{key}" if key else name


def taskdef_view(taskdef: Mapping[str, Any]) -> View:
    """A task definition (register input or describe output) as a view."""
    c = next(iter(taskdef.get("containerDefinitions") or [{}]))
    hc = {**HEALTH_DEFAULTS, **(c.get("healthCheck") or {})}
    command = hc.get("command") or []
    view: View = {
        "image": c.get("image"),
        "cpu": int(taskdef["cpu"]) if taskdef.get("cpu") is not None else None,
        "memory": int(taskdef["memory"]) if taskdef.get("memory") is not None else None,
        "ports": sorted(p["containerPort"] for p in c.get("portMappings") or []),
        **_health(
            command[1] if command[:1] == ["CMD-SHELL"] else " ".join(command),
            hc["interval"],
            hc["timeout"],
            hc["retries"],
            hc["startPeriod"],
        ),
    }
    view.update(
        {f"environment.{e['name']}": _masked(e["name"], str(e.get("value", ""))) for e in c.get("environment") or []}
    )
    view.update({f"secrets.{s['name']}": _source_of(s["valueFrom"]) for s in c.get("secrets") or []})
    return view


# -- running containers (docker inspect output) ------------------------------------


def _env(entries: Iterable[str]) -> dict[str, str]:
    out = {}
    for entry in entries or []:
        name, _, value = entry.partition("=")
        out[name] = value
    return out


def container_view(stack: Stack, name: str, containers: list[Mapping[str, Any]], image_env: Iterable[str] = ()) -> View:
    """What the containers of ``name`` run, from ``docker inspect`` output.
    ``image_env`` (the image's own ``Config.Env``) is what the image sets by
    itself; the container's variables beyond it are the ones the stack set.
    Values are kept only for the spec's plain settings; secrets are names."""
    svc = stack.services[name]
    if not containers:
        return {"replicas": 0}
    first = containers[0]
    config, host = first.get("Config") or {}, first.get("HostConfig") or {}
    hc = config.get("Healthcheck") or {}
    test = hc.get("Test") or []
    images = sorted({c.get("Image") for c in containers})
    view: View = {
        "image": images[0] if len(images) == 1 else images,
        "cpu": round(host.get("NanoCpus", 0) * 1024 / NANO) or None,
        "memory": (host.get("Memory") or 0) // MIB or None,
        "ports": sorted(int(p.split("/")[0]) for p in (config.get("ExposedPorts") or {})),
        "published": sorted(
            int(b["HostPort"])
            for c in containers
            for bindings in ((c.get("NetworkSettings") or {}).get("Ports") or {}).values()
            for b in bindings or []
        ),
        **_health(
            test[1] if test[:1] == ["CMD-SHELL"] else " ".join(test),
            hc.get("Interval", 30 * NANO) // NANO,
            hc.get("Timeout", 5 * NANO) // NANO,
            hc.get("Retries", 3),
            hc.get("StartPeriod", 0) // NANO,
        ),
        "replicas": sum(1 for c in containers if (c.get("State") or {}).get("Running")),
    }
    baked = _env(image_env)
    for var, value in _env(config.get("Env")).items():
        if var in svc.secrets:
            view[f"secrets.{var}"] = secret_source(stack, svc, var)
        elif var in svc.environment:
            view[f"environment.{var}"] = _masked(var, value)
        elif baked.get(var) != value:
            view[f"environment.{var}"] = SET
    networks = (first.get("NetworkSettings") or {}).get("Networks") or {}
    short = {n.removeprefix(f"{stack.project}_"): v for n, v in networks.items()}
    view["exposure"] = "public" if "public" in short else "internal"
    aliases = [a for v in short.values() for a in (v.get("Aliases") or []) if "." in a]
    view["discovery"] = aliases[0] if aliases else None
    return view


# -- comparing --------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One field where two sides differ, and whether the spec declares it."""

    service: str
    path: str
    sides: tuple[str, str]
    values: tuple[Any, Any]
    verdict: str  # "undeclared", "intended" or "release"
    why: str

    @property
    def undeclared(self) -> bool:
        return self.verdict == "undeclared"


def _taskdef_fields(*views: View) -> set[str]:
    """The fields a task definition carries (the rest is the service's or local)."""
    fixed = {"cpu", "memory", "ports", *(k for k in views[0] if k.startswith("health."))}
    return fixed | {k for v in views for k in v if k.startswith(("environment.", "secrets."))}


def _differences(service: str, a: View, b: View, sides: tuple[str, str], verdict: str, why: str,
                 fields: set[str] | None = None) -> list[Difference]:  # fmt: skip
    out = []
    for path in sorted(fields if fields is not None else set(a) | set(b)):
        va, vb = a.get(path, MISSING), b.get(path, MISSING)
        if va != vb:
            out.append(Difference(service, path, sides, (va, vb), verdict, why))
    return out


def compare(
    service: str,
    running: View,
    local_spec: View,
    env: str,
    env_spec: View,
    rendered: View,
    live: View | None = None,
) -> list[Difference]:
    """Every difference between the sides of one service, judged (see the module)."""
    out = _differences(service, running, local_spec, ("running", "spec local"), "undeclared",
                       "the container differs from the spec (changed by hand, or stale: `inv up`)")  # fmt: skip
    if env != "local":
        fields = (set(local_spec) | set(env_spec)) - {"image"}
        out += _differences(service, local_spec, env_spec, ("spec local", f"spec {env}"), "intended",
                            f"declared by the overlays (deploy/local.yaml, deploy/{env}.yaml)", fields)  # fmt: skip
    out += _differences(service, env_spec, rendered, (f"spec {env}", "rendered"), "undeclared",
                        "the renderer does not say what the spec says", _taskdef_fields(env_spec, rendered))  # fmt: skip
    if live is not None:
        out += live_differences(service, rendered, live)
    return out


def live_differences(service: str, rendered: View, live: View) -> list[Difference]:
    """What ECS runs against the task definition rendered for its environment:
    drift, undeclared; another image is a release (`inv promote` owns it)."""
    out = _differences(service, rendered, live, ("rendered", "live"), "undeclared",
                       "live differs from the rendered spec (drift: `inv diff`, `inv promote`)",
                       _taskdef_fields(rendered, live))  # fmt: skip
    if rendered.get("image") != live.get("image"):
        out.append(Difference(service, "image", ("rendered", "live"), (rendered.get("image"), live.get("image")),
                              "release", "another release is live (`inv promote` owns the image)"))  # fmt: skip
    return out
