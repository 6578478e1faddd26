"""Render the local stack as a compose file, from the spec alone.

Production is mirrored as follows:
- security groups -> networks: the edge and the public services share
  ``public``; each internal service and the services allowed to call it share
  ``internal`` (``internal: true``, the service known by its discovery name);
  each service reaches its own dependencies on ``<service>-egress``; the edge
  reaches the S3 origin on ``aws``; clients on the WAF's allow-list reach the
  edge on ``allow-listed-clients`` (addresses from that range only). Nothing else is shared, so the crawler is
  unreachable from the edge.
- Fargate sizes -> CPU and memory limits; task-definition health checks ->
  compose health checks; desired count -> replicas.
- The WAF's IP-set allow rule -> ``allow-listed-clients``: a network whose
  container addresses are ``local.allow_listed_clients`` (on ``edge.allow_list``;
  its gateway, the host's side, is left out, so clients on loopback stay
  counted); the bench's load generator joins it to reach the edge.
- Secrets Manager -> secret env vars listed by name only: their values come
  from LocalStack at start, in the environment of the compose process, and are
  never written here.

The result is plain data; ``dump`` turns it into the committed YAML.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import yaml

from parity.render.common import HEADER, offline_tag, rel
from parity.render.edge import HEALTH_PATH, WAF_JS, admin_url, edge_command, edge_environment, render_edge
from parity.spec.models import Dependency, HealthCheck, Stack, clients_network

LOCAL_TAG = "local"
EDGE_CONFIG = "./edge/nginx.conf"
EDGE_WAF = "./edge/waf.js"  # the WAF's managed rules, emulated (njs)
LOCALSTACK_IMAGE_VAR = "PARITY_LOCALSTACK_IMAGE"
CLIENTS_NETWORK = "allow-listed-clients"
PUBLIC_NETWORK = "public"  # the edge and the public services: where the edge reaches its targets


def image_name(stack: Stack, service: str) -> str:
    """The local tag of a service's image (``huskit/crawler:local``)."""
    return f"{stack.project}/{service}:{LOCAL_TAG}"


def literal(value: str) -> str:
    """``value`` as compose must see it to pass it on unchanged: compose
    interpolates ``$NAME``, ECS does not, so every ``$`` is doubled."""
    return value.replace("$", "$$")


def healthcheck(check: HealthCheck) -> dict[str, Any]:
    return {
        "test": ["CMD-SHELL", literal(check.command)],
        "interval": f"{check.interval}s",
        "timeout": f"{check.timeout}s",
        "retries": check.retries,
        "start_period": f"{check.start_period}s",
    }


def _env_list(environment: dict[str, str], secret_names: list[str]) -> list[str]:
    # KEY=value for plain settings; a bare KEY takes the value from the compose
    # process's environment, which is where resolved secrets are handed over.
    return [f"{k}={literal(v)}" for k, v in environment.items()] + list(secret_names)


def networks_of(stack: Stack) -> dict[str, list[str]]:
    """Which members (services, dependencies, ``edge``) sit on which network."""
    nets: dict[str, list[str]] = {PUBLIC_NETWORK: ["edge", *stack.public_services()]}
    internal: list[str] = []
    for name in stack.internal_services():
        for member in [*stack.services[name].ingress_from, name]:
            if member not in internal:
                internal.append(member)
    if internal:
        nets["internal"] = internal
    for name in stack.services:
        deps = [d for d, dep in stack.local.dependencies.items() if name in dep.used_by]
        if deps:
            nets[f"{name}-egress"] = [name, *deps]
    aws = [d for d, dep in stack.local.dependencies.items() if dep.kind == "localstack"]
    if aws:
        nets["aws"] = ["edge", *aws]
    # Load and test clients the WAF must not count (edge.allow_list) run on a network of their own.
    if stack.local.allow_listed_clients:
        nets[CLIENTS_NETWORK] = ["edge"]
    # ECS/ECR emulation is only for the host's deploy commands: reachable from nothing else.
    tools = [d for d, dep in stack.local.dependencies.items() if dep.kind in ("moto", "registry")]
    if tools:
        nets["deploy-tools"] = tools
    # Docker publishes no port from a closed network: a dependency that publishes
    # one for local tools but sits only on closed networks gets its own way out.
    closed = closed_networks(stack, nets)
    stranded = [
        d
        for d, dep in stack.local.dependencies.items()
        if dep.publish and all(n in closed for n, m in nets.items() if d in m)
    ]
    if stranded:
        nets["host-access"] = stranded
    return nets


def closed_networks(stack: Stack, nets: dict[str, list[str]] | None = None) -> set[str]:
    """Networks with no route in or out, like a security group that admits only
    its members: ``internal`` and the egress network of each internal service.
    The host gets no address on them either (``inhibit_ipv4``), so even the
    host cannot reach an internal service."""
    nets = nets if nets is not None else networks_of(stack)
    internal = {f"{n}-egress" for n in stack.internal_services()}
    return {n for n in nets if n == "internal" or n in internal}


def _member_networks(stack: Stack, member: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for net, members in networks_of(stack).items():
        if member in members:
            svc = stack.services.get(member)
            if net == "internal" and svc is not None and svc.discovery:
                out[net] = {"aliases": [svc.discovery]}
            else:
                out[net] = {}
    return out


def _service(stack: Stack, name: str) -> dict[str, Any]:
    svc = stack.services[name]
    build: dict[str, Any] = {"context": rel(svc.build.context), "dockerfile": svc.build.dockerfile}
    if svc.build.target:
        build["target"] = svc.build.target
    if svc.build.base_image:
        build["args"] = {"BASE_IMAGE": svc.build.base_image}
    deps = {d: {"condition": "service_healthy"} for d, dep in stack.local.dependencies.items() if name in dep.used_by}
    out: dict[str, Any] = {
        "image": image_name(stack, name),
        "build": build,
        "environment": _env_list(svc.environment, list(svc.secrets)),
        "networks": _member_networks(stack, name),
        "healthcheck": healthcheck(svc.health),
        "deploy": {
            "replicas": svc.desired_count,
            "resources": {"limits": {"cpus": f"{svc.cpu / 1024:.2f}", "memory": f"{svc.memory}M"}},
        },
        "restart": "unless-stopped",
        "labels": {"parity.role": "service", "parity.exposure": svc.exposure},
    }
    if deps:
        out["depends_on"] = deps
    return out


@dataclass(frozen=True)
class Kind:
    """How a kind of local dependency runs: which image (a key of
    ``local.images``), its port inside the container, where it keeps data (a
    named volume), its health command."""

    image: str
    port: int
    health: str
    start: int = 10
    data_dir: str | None = None


KINDS: dict[str, Kind] = {
    "postgres": Kind("postgres", 5432, 'pg_isready -U "$$POSTGRES_USER" -d "$$POSTGRES_DB" -h 127.0.0.1',
                     data_dir="/var/lib/postgresql/data"),
    "mongo": Kind("mongo", 27017, "mongosh --quiet --eval \"db.adminCommand('ping')\"", data_dir="/data/db"),
    "static-site": Kind("nginx", 80, "wget -q -O /dev/null http://127.0.0.1/"),
    "moto": Kind("moto", 5000, "curl -fsS http://127.0.0.1:5000/moto-api/ -o /dev/null", start=5),
    "registry": Kind("registry", 5000, "wget -q -O /dev/null http://127.0.0.1:5000/v2/", start=5,
                     data_dir="/var/lib/registry"),
    "localstack": Kind("localstack", 4566, "curl -fsS http://127.0.0.1:4566/_localstack/health", start=20),
}  # fmt: skip


def _dependency(stack: Stack, name: str, dep: Dependency) -> dict[str, Any]:
    kind = KINDS[dep.kind]
    image = stack.local.images[kind.image]
    environment = dict(dep.environment)
    passthrough = list(dep.secrets)
    if dep.kind == "localstack":
        # pinned, unless the user brings an auth token (see app.local_stack.compose_settings)
        image = f"${{{LOCALSTACK_IMAGE_VAR}:-{image}}}"
        environment = {"SERVICES": "s3,secretsmanager,logs,sts,iam", "AWS_DEFAULT_REGION": stack.region, **environment}
        passthrough.append("LOCALSTACK_AUTH_TOKEN")
    out: dict[str, Any] = {"image": image}
    if kind.data_dir:
        out["volumes"] = [f"{name}-data:{kind.data_dir}"]
    elif dep.kind == "static-site":
        out["volumes"] = [f"{rel(dep.source or '')}:/usr/share/nginx/html:ro"]
    out["healthcheck"] = _quick_check(kind.health, start=kind.start)
    env = _env_list(environment, passthrough)
    if env:
        out["environment"] = env
    if dep.publish:
        out["ports"] = [f"127.0.0.1:{dep.publish}:{kind.port}"]
    out["networks"] = _member_networks(stack, name)
    out["restart"] = "unless-stopped"
    out["labels"] = {"parity.role": "dependency", "parity.stands-for": dep.stands_for}
    return out


def _quick_check(command: str, start: int = 10) -> dict[str, Any]:
    # Local dependencies are checked often so the stack is ready soon; the
    # services keep their task-definition timings.
    return {
        "test": ["CMD-SHELL", command],
        "interval": "3s",
        "timeout": "3s",
        "retries": 20,
        "start_period": f"{start}s",
    }


def _edge(stack: Stack) -> dict[str, Any]:
    public = stack.public_services()
    aws = [d for d, dep in stack.local.dependencies.items() if dep.kind == "localstack"]
    depends: dict[str, Any] = {s: {"condition": "service_started"} for s in public}
    depends.update({d: {"condition": "service_healthy"} for d in aws})
    volumes = [f"{EDGE_CONFIG}:/etc/nginx/nginx.conf:ro"]
    if stack.edge.managed_rules:
        volumes.append(f"{EDGE_WAF}:{WAF_JS}:ro")
    out: dict[str, Any] = {
        "image": stack.local.images["nginx"],
        "volumes": volumes,
        "command": [literal(part) for part in edge_command(stack)],
    }
    if edge_environment(stack):
        # the origin lock's secret values, from LocalStack at start (as the services' secrets)
        out["environment"] = edge_environment(stack)
    return out | {
        "ports": [f"127.0.0.1:{stack.edge.port}:80"],
        "networks": _member_networks(stack, "edge"),
        "healthcheck": _quick_check(f"wget -q -O /dev/null {admin_url(HEALTH_PATH)}", start=5),
        "depends_on": depends,
        "restart": "unless-stopped",
        # its mounted config, by digest: a changed config changes compose's hash, so `up` recreates the edge
        "labels": {
            "parity.role": "edge",
            "parity.stands-for": "CloudFront + WAF + ALB",
            "parity.config": _edge_digest(stack),
        },
    }


def _edge_digest(stack: Stack) -> str:
    from parity.render.waf import render_waf_js

    return hashlib.sha256((render_edge(stack) + render_waf_js(stack)).encode()).hexdigest()[:16]


def render_compose(stack: Stack) -> dict[str, Any]:
    """The compose project for the local stack, as data."""
    services: dict[str, Any] = {}
    for name in stack.services:
        services[name] = _service(stack, name)
    for name, dep in stack.local.dependencies.items():
        services[name] = _dependency(stack, name, dep)
    services["edge"] = _edge(stack)
    nets = networks_of(stack)
    closed = closed_networks(stack, nets)
    networks = {
        net: (
            {"internal": True, "driver_opts": {"com.docker.network.bridge.inhibit_ipv4": "true"}}
            if net in closed
            else {}
        )
        for net in nets
    }
    if stack.local.allow_listed_clients:
        # Containers get addresses from the allow-listed range only; the gateway (the host) is outside it.
        subnet, gateway = clients_network(stack.local.allow_listed_clients)
        networks[CLIENTS_NETWORK] = {
            "ipam": {"config": [{"subnet": subnet, "ip_range": stack.local.allow_listed_clients, "gateway": gateway}]}
        }
    volumes = {f"{name}-data": {} for name, dep in stack.local.dependencies.items() if KINDS[dep.kind].data_dir}
    return {"name": stack.project, "services": services, "networks": networks, "volumes": volumes}


def render_offline_override(stack: Stack) -> dict[str, Any]:
    """A compose override that swaps every upstream image for its offline stand-in."""
    images = stack.local.images
    by_upstream = {ref: offline_tag(ref) for ref in images.values()}
    services: dict[str, Any] = {}
    for name, svc in stack.services.items():
        if svc.build.base_image in by_upstream:
            services[name] = {"build": {"args": {"BASE_IMAGE": by_upstream[svc.build.base_image]}}}
    base = render_compose(stack)["services"]
    for name in [*stack.local.dependencies, "edge"]:
        image = base[name]["image"]
        upstream = image.split(":-", 1)[1].rstrip("}") if image.startswith("${") else image
        services[name] = {"image": by_upstream[upstream]}
    return {"services": services}


def dump(data: dict[str, Any], source: str = "stack.yaml") -> str:
    """YAML with a do-not-edit header, stable key order."""
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)
    return HEADER.format(source=source) + body
