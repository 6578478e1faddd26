"""`inv parity [--env ENV]`: for each service, side by side, what the local
stack runs (its containers), what the spec says, what the task definition
rendered for ENV says and, with ``--env``, what ECS runs; the differences by
field path, each judged (see render/parity.py). Then the infrastructure: who
may reach each service, its Cloud Map name, and the edge (idle timeout, origin
response timeout, behaviours), the running stack (its containers' networks, the
running edge's nginx.conf) against ENV's rendered CloudFormation template (see
render/parity_infra.py). Exit non-zero when one is undeclared. ``run`` also
records the result in ``reports/parity.json`` for the report page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from parity.errors import ConfigError
from parity.render.compose import image_name
from parity.render.infra import render_template
from parity.render.parity import Difference, compare, container_view, spec_view, taskdef_view
from parity.render.parity_infra import (
    EDGE,
    compare_infra,
    local_edge_view,
    local_service_view,
    spec_infra_views,
    template_views,
    with_companion,
)
from parity.render.taskdef import render_taskdef
from parity.spec import load_stack

ACCOUNT = "000000000000"  # rendering needs an account; secret sources are compared without it


class LocalDocker(Protocol):
    def containers_of(self, service: str) -> list[str]: ...
    def inspect_raw(self, refs: list[str], kind: str = "container") -> list[dict[str, Any]]: ...
    def image_id(self, ref: str) -> str | None: ...
    def repo_digest(self, image: str, repository: str) -> str | None: ...
    def read_file(self, container: str, path: str) -> str | None: ...


EDGE_CONF = "/etc/nginx/nginx.conf"  # the running edge's configuration (compose mounts the rendered one there)
EDGE_WAF = "/etc/nginx/waf.js"  # its WAF emulation (the managed rules it applies)


class LiveEcs(Protocol):
    def describe_service(self, cluster: str, service: str) -> dict[str, Any] | None: ...
    def describe_task_definition(self, arn: str) -> dict[str, Any]: ...


@dataclass
class ServiceParity:
    service: str
    views: dict[str, dict[str, Any]]  # side -> view
    differences: list[Difference] = field(default_factory=list)


@dataclass
class ParityReport:
    env: str
    services: list[ServiceParity]

    @property
    def undeclared(self) -> list[Difference]:
        return [d for s in self.services for d in s.differences if d.undeclared]


def check(root: Path, docker: LocalDocker, env: str | None = None, live: LiveEcs | None = None) -> ParityReport:
    """Compare every service of the local stack with the spec, the task
    definition rendered for ``env`` (default: local) and, with ``live``, ECS."""
    target = env or "local"
    local = load_stack(root, "local")
    stack = load_stack(root, target)
    infra = template_views(stack, with_companion(stack, render_template(stack)))
    spec_local, spec_env = spec_infra_views(local), spec_infra_views(stack)
    out = []
    for name in local.services:
        built = docker.image_id(image_name(local, name))  # what the stack should run, and promote would ship
        containers = docker.inspect_raw(docker.containers_of(name))
        image_env = []
        if containers:
            image_env = (docker.inspect_raw([containers[0]["Image"]], kind="image")[0].get("Config") or {}).get(
                "Env"
            ) or []
        views = {
            "running": container_view(local, name, containers, image_env),
            "spec local": spec_view(local, name, built),
            f"spec {target}": spec_view(stack, name, built),
            "rendered": taskdef_view(render_taskdef(stack, name, image_name(local, name), ACCOUNT)),
        }
        live_view = None
        if live is not None:
            described = live.describe_service(stack.cluster, name)
            if described is None or not described.get("taskDefinition"):
                raise ConfigError(f"ECS service {name} does not exist in cluster {stack.cluster}")
            live_view = taskdef_view(live.describe_task_definition(described["taskDefinition"]))
            views["live"] = live_view
            views["rendered"]["image"] = _as_pushed(docker, built, live_view.get("image"), views["rendered"]["image"])
        diffs = compare(
            name, views["running"], views["spec local"], target, views[f"spec {target}"], views["rendered"], live_view
        )
        views["local net"] = local_service_view(local, name, containers)
        views[f"infra {target}"] = infra[name]
        diffs += compare_infra(local, name, target, views["local net"], infra[name], spec_local[name], spec_env[name])
        out.append(ServiceParity(name, views, diffs))
    edge_containers = docker.inspect_raw(docker.containers_of(EDGE))
    name = edge_containers[0]["Name"].lstrip("/") if edge_containers else None
    conf = docker.read_file(name, EDGE_CONF) if name else None
    waf = docker.read_file(name, EDGE_WAF) if name and local.edge.managed_rules else None
    edge = {"local": local_edge_view(local, conf, edge_containers, waf), f"infra {target}": infra[EDGE]}
    out.append(
        ServiceParity(
            EDGE, edge, compare_infra(local, EDGE, target, edge["local"], infra[EDGE], spec_local[EDGE], spec_env[EDGE])
        )
    )
    return ParityReport(target, out)


def run(root: Path, docker: LocalDocker, env: str | None = None, live: LiveEcs | None = None,
        report: Callable[[str], None] = print) -> ParityReport:  # fmt: skip
    """``check``, then its record (``reports/parity.json``) and the report page refreshed."""
    from parity.app import report as page
    from parity.app.jsonfile import write_json

    result = check(root, docker, env, live)
    write_json(Path(root) / page.PARITY, {**page.stamp(root), **as_record(result, live is not None)})
    page.refresh(root, report)
    return result


VALUE_WIDTH = 200  # a value on the page (a long list of ingress sources) is cut here


def as_record(report: ParityReport, live: bool) -> dict[str, Any]:
    """The report as JSON: per service its sides, how many fields agree, each
    difference (values as shown: secrets are names and sources, never values)."""
    services = []
    for svc in report.services:
        fields = set().union(*(v.keys() for v in svc.views.values()))
        services.append({
            "service": svc.service, "sides": list(svc.views), "same": len(fields) - len({d.path for d in svc.differences}),
            "differences": [
                {"path": d.path, "verdict": d.verdict, "why": d.why, "sides": list(d.sides), "values": [_cut(v) for v in d.values]}
                for d in svc.differences
            ],
        })  # fmt: skip
    images = {s.service: s.views["running"].get("image") for s in report.services if "running" in s.views}
    return {"env": report.env, "live": live, "images": {k: v for k, v in images.items() if v},
            "undeclared": len(report.undeclared), "services": services}  # fmt: skip


def _cut(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 3] + "..."


def _as_pushed(docker: LocalDocker, built: str | None, live_image: str | None, local_ref: str) -> str:
    """The local image as the live reference names it (``REPO@sha256:...``)
    when it was pushed there, so the same image is no difference."""
    repo, at, digest = (live_image or "").partition("@")
    if built and at and docker.repo_digest(built, repo) == digest:
        return live_image or local_ref
    return local_ref


class StackDocker:
    """The local stack's containers through the docker adapter. The stack's
    containers are listed once, on the first question (a check is a moment)."""

    def __init__(self, compose: Any, docker: Any) -> None:
        self.compose, self.docker = compose, docker
        self._names: dict[str, list[str]] | None = None

    def containers_of(self, service: str) -> list[str]:
        if self._names is None:
            self._names = {}
            for c in self.compose.containers():
                self._names.setdefault(c.service, []).append(c.name)
        return list(self._names.get(service, []))

    def inspect_raw(self, refs: list[str], kind: str = "container") -> list[dict[str, Any]]:
        return self.docker.inspect_raw(refs, kind)

    def image_id(self, ref: str) -> str | None:
        return self.docker.image_id(ref)

    def repo_digest(self, image: str, repository: str) -> str | None:
        return self.docker.repo_digest(image, repository)

    def read_file(self, container: str, path: str) -> str | None:
        return self.compose.exec(container, ["cat", path])


def connect_local(root: Path) -> StackDocker:
    from parity.adapters.docker import Compose, Docker, require_engine
    from parity.app.workspace import Workspace

    ws = Workspace.from_env(root)
    require_engine()
    return StackDocker(Compose(ws.compose_files(), load_stack(root, "local").project), Docker())


def connect_live(root: Path, env: str) -> tuple[LiveEcs | None, str]:
    """ECS for ``env`` when credentials (or an emulator) are there; else None
    and why, so the local and rendered sides are still compared."""
    from parity.adapters.aws import AwsTarget, has_credentials
    from parity.adapters.ecs import Ecs

    stack = load_stack(root, env)
    target = AwsTarget(region=stack.region, endpoint_url=stack.aws.endpoint_url)
    if not has_credentials(target):
        return None, f"live {env}: not compared (no AWS credentials in the chain)"
    return Ecs(target), f"live {env}: ECS in {stack.region}" + (
        f" at {target.endpoint_url}" if target.endpoint_url else ""
    )


def show(report: ParityReport, say: Callable[[str], None]) -> None:
    """Per service: the differences by field path, each side's value, the verdict."""
    for svc in report.services:
        sides = list(svc.views)
        same = len(set().union(*(v.keys() for v in svc.views.values()))) - len({d.path for d in svc.differences})
        say(
            f"{svc.service}: {len(svc.differences)} differences ({same} fields the same on every side: {', '.join(sides)})"
        )
        for d in svc.differences:
            mark = {"undeclared": "NG", "intended": "ok", "release": "--"}[d.verdict]
            say(
                f"  {mark} {d.path:<44} {d.sides[0]}={_short(d.values[0])}  {d.sides[1]}={_short(d.values[1])}  ({d.why})"
            )


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
