"""`inv parity`, the infrastructure side, pure: who may reach each service, its
Cloud Map name and target group, and the edge (ALB idle timeout, CloudFront's
origin response timeout and behaviours), each reduced to flat fields from
three sources, then compared:

- ``infra ENV``: ENV's CloudFormation template (``render_template``) as it
  reads, following its references (the ECS service's security groups and
  their ingress rules, its registry, its target group; CloudFront's behaviours
  through the ALB's listener and rules to a service), so a template that says
  something else than the spec shows up.
- ``local``: the running stack. A service's ``ingress`` is every member of
  the networks its container is on (which members a network has is the
  rendered compose file's ``networks_of``; a network it does not know stays
  visible as ``network NAME``), on the container's ports. The edge's fields
  come from the running edge's nginx.conf (its origin response timeout is
  the ALB behaviours' ``proxy_read_timeout``, the lesser of the two timeouts,
  which is CloudFront's as long as it is the shorter: the spec keeps it so).
- ``spec ENV``: what the spec says the template should say.

Fields per service: ``ingress`` (sorted ``source:port``: ``alb``, a service,
``cloudfront`` for the managed prefix list; locally ``edge`` is the ALB),
``discovery`` (``name.namespace``), for public services ``health.path`` and
``deregistration_delay`` (the target group's; nothing local stands for them:
compared with the spec only). The stack-level row ``edge``: ``edge.idle_timeout``,
``edge.origin_response_timeout``, ``edge.routes`` (``path -> origin (cache)``,
cache ``cached`` or ``none``), ``edge.listener`` and ``edge.ingress``.

How a difference between local and ``infra ENV`` is judged:
- ``ingress``: a Docker network admits its members both ways, a security
  group one way. A local-only source is declared when the reverse is
  allowed (the service may reach it: the crawler sits on ``internal`` with the
  website-agent) or when it is one of the service's own dependencies (a local
  stand-in for an outside service it uses, on its egress network). A source the template admits
  that is missing locally, or any other extra, is undeclared.
- ``edge.ingress``: local-only by design (clients reach the local edge from
  the host and the ``allow-listed-clients`` network; CloudFront's prefix list
  exists only in AWS): declared.
- a field the overlays set differently for ENV (e.g. ``edge.listener``:
  locally, and on the emulator, plain HTTP; ENV with a certificate HTTPS):
  declared, if the local side says what the local spec says.
- anything else: undeclared.
The template vs ``spec ENV``: the renderer must say what the spec says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from parity.render.compose import networks_of
from parity.render.edge import target_group
from parity.render.infra.common import uses_tls
from parity.render.infra.edge import CACHING_DISABLED
from parity.render.parity import MISSING, Difference, View, _differences
from parity.spec.models import Stack

EDGE = "edge"  # the stack-level row
ALB, CLOUDFRONT = "alb", "cloudfront"
LOCAL_ONLY = {"edge.ingress": "locally clients reach the edge from the host and the allow-listed-clients network; "
                              "in AWS only CloudFront's origin-facing servers reach the ALB"}  # fmt: skip
OVERLAY_WHY = {"edge.listener": "locally (and on the emulator) there is no certificate: the ALB's listener is plain HTTP"}


def _cache(value: str) -> str:
    return "none" if value == "none" else "cached"


def _route(path: str, origin: str, cache: str) -> str:
    return f"{path} -> {origin} ({cache})"


# -- the spec: what the template should say -----------------------------------------


def spec_infra_views(stack: Stack) -> dict[str, View]:
    """Per service and for ``edge``: the infrastructure the spec asks for."""
    out: dict[str, View] = {}
    for name, svc in stack.services.items():
        sources = ([ALB] if svc.exposure == "public" else []) + list(svc.ingress_from)
        view: View = {"ingress": sorted(f"{s}:{svc.port}" for s in sources), "discovery": svc.discovery}
        if svc.exposure == "public":
            view["health.path"] = svc.health.path or "/"
            view["deregistration_delay"] = svc.deregistration_delay
        out[name] = view
    edge = stack.edge
    tls = uses_tls(stack)
    out[EDGE] = {
        "edge.idle_timeout": edge.idle_timeout,
        "edge.origin_response_timeout": edge.origin_response_timeout,
        "edge.routes": sorted(_route(r.path, r.origin, _cache(r.cache)) for r in edge.routes),
        "edge.listener": "https" if tls else "http",
        "edge.ingress": [f"{CLOUDFRONT}:443"] if tls else [f"{CLOUDFRONT}:80"],  # CloudFront reaches the ALB on one port
    }
    return out


# -- the template, as it reads ---------------------------------------------------


def _target(value: Any) -> str | None:
    """The logical id a ``Ref`` / ``Fn::GetAtt`` / ``${X}`` in a ``Fn::Sub`` points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            names = [n for n in re.findall(r"\$\{([^}!]+)\}", value["Fn::Sub"]) if not n.startswith("AWS::")]
            return names[-1] if names else None
    return value if isinstance(value, str) else None


def _port(rule: Mapping[str, Any]) -> str:
    if str(rule.get("IpProtocol")) == "-1":
        return "all"
    a, b = rule.get("FromPort"), rule.get("ToPort")
    return str(a) if a == b else f"{a}-{b}"


def template_views(stack: Stack, template: Mapping[str, Any]) -> dict[str, View]:
    """Per service and for ``edge``: what the template says, following its references."""
    res: dict[str, Any] = template.get("Resources") or {}

    def props(name: str | None) -> dict[str, Any]:
        return (res.get(name or "") or {}).get("Properties") or {}

    def of_type(kind: str) -> dict[str, dict[str, Any]]:
        return {n: r.get("Properties") or {} for n, r in res.items() if r.get("Type") == kind}

    services = {p.get("ServiceName"): (n, p) for n, p in of_type("AWS::ECS::Service").items()}
    # who each security group stands for: the ALB's, a service's (the group its ECS service uses)
    who: dict[str, str] = {g: ALB for g in (_target(x) for p in of_type("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
                                            for x in p.get("SecurityGroups") or []) if g}  # fmt: skip
    for name, (_, p) in services.items():
        for x in (p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration", {}).get("SecurityGroups") or []:
            who[_target(x) or ""] = name

    def source(rule: Mapping[str, Any]) -> str:
        if rule.get("SourcePrefixListId") is not None:
            return CLOUDFRONT  # the only prefix list the template takes: CloudFront's origin-facing servers
        if rule.get("SourceSecurityGroupId") is not None:
            group = _target(rule["SourceSecurityGroupId"]) or "?"
            return who.get(group, group)
        return str(rule.get("CidrIp") or rule.get("CidrIpv6") or "?")

    ingress: dict[str, list[str]] = {}
    for name, p in of_type("AWS::EC2::SecurityGroup").items():
        for rule in p.get("SecurityGroupIngress") or []:
            ingress.setdefault(name, []).append(f"{source(rule)}:{_port(rule)}")
    for p in of_type("AWS::EC2::SecurityGroupIngress").values():
        ingress.setdefault(_target(p.get("GroupId")) or "?", []).append(f"{source(p)}:{_port(p)}")

    out: dict[str, View] = {}
    for name in stack.services:
        _, p = services.get(name, (None, {}))
        groups = [_target(x) for x in (p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration", {}).get("SecurityGroups") or []]
        view: View = {"ingress": sorted(e for g in groups for e in ingress.get(g or "", []))}
        discovery = None
        for reg in p.get("ServiceRegistries") or []:
            cm = props(_target(reg.get("RegistryArn")))
            space = props(_target(cm.get("NamespaceId"))).get("Name")
            discovery = f"{cm.get('Name')}.{space}"
        view["discovery"] = discovery
        for lb in p.get("LoadBalancers") or []:
            tg = props(_target(lb.get("TargetGroupArn")))
            view["health.path"] = tg.get("HealthCheckPath")
            attrs = {a["Key"]: a["Value"] for a in tg.get("TargetGroupAttributes") or []}
            delay = attrs.get("deregistration_delay.timeout_seconds")
            view["deregistration_delay"] = int(delay) if delay is not None else 300  # ELB's default
        out[name] = view
    out[EDGE] = _template_edge(of_type, who, ingress)
    return out


def _template_edge(of_type: Any, who: Mapping[str, str], ingress: Mapping[str, list[str]]) -> View:
    view: View = {}
    albs = of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
    for p in albs.values():
        attrs = {a["Key"]: a["Value"] for a in p.get("LoadBalancerAttributes") or []}
        view["edge.idle_timeout"] = int(attrs.get("idle_timeout.timeout_seconds", 60))  # ALB's default
    view["edge.ingress"] = sorted(e for g, w in who.items() if w == ALB for e in ingress.get(g, []))
    # the ALB's routing: the default action, and path rules, to a target group -> its service
    by_tg = {
        _target(lb.get("TargetGroupArn")): p.get("ServiceName")
        for p in of_type("AWS::ECS::Service").values()
        for lb in p.get("LoadBalancers") or []
    }
    listeners = of_type("AWS::ElasticLoadBalancingV2::Listener")
    forwarding = {n: p for n, p in listeners.items() if any(a.get("Type") == "forward" for a in p.get("DefaultActions") or [])}
    view["edge.listener"] = "https" if any(p.get("Protocol") == "HTTPS" for p in forwarding.values()) else "http"
    default_origin = next((by_tg.get(_target(a.get("TargetGroupArn"))) for p in forwarding.values()
                           for a in p.get("DefaultActions") or [] if a.get("Type") == "forward"), None)  # fmt: skip
    by_path: dict[str, str | None] = {}
    for p in of_type("AWS::ElasticLoadBalancingV2::ListenerRule").values():
        if _target(p.get("ListenerArn")) not in forwarding:
            continue
        target = next((by_tg.get(_target(a.get("TargetGroupArn"))) for a in p.get("Actions") or [] if a.get("Type") == "forward"), None)
        for cond in p.get("Conditions") or []:
            for value in (cond.get("PathPatternConfig") or {}).get("Values") or []:
                by_path[value] = target
    for p in of_type("AWS::CloudFront::Distribution").values():
        config = p.get("DistributionConfig") or {}
        origins = {o.get("Id"): o for o in config.get("Origins") or []}
        for o in origins.values():
            if "CustomOriginConfig" in o:
                view["edge.origin_response_timeout"] = o["CustomOriginConfig"].get("OriginReadTimeout", 30)
        routes = []
        behaviours = [{"PathPattern": "*", **(config.get("DefaultCacheBehavior") or {})}, *(config.get("CacheBehaviors") or [])]
        for b in behaviours:
            pattern = b.get("PathPattern", "")
            path = pattern.removesuffix("*")
            path = path or "/"
            origin = origins.get(b.get("TargetOriginId")) or {}
            if "S3OriginConfig" in origin or "s3" in str(origin.get("Id", "")):
                to = "s3"
            else:  # the ALB: the rule for this path pattern, else its default action
                to = by_path.get(f"{path}*") or default_origin or "?"
            routes.append(_route(path, to, "none" if b.get("CachePolicyId") == CACHING_DISABLED else "cached"))
        view["edge.routes"] = sorted(routes)
    return view


# -- the local stack --------------------------------------------------------------


def _short_networks(stack: Stack, container: Mapping[str, Any]) -> list[str]:
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    return [n.removeprefix(f"{stack.project}_") for n in networks]


def local_service_view(stack: Stack, name: str, containers: list[Mapping[str, Any]]) -> View:
    """Who may reach ``name`` locally: every member of its container's
    networks, on its ports (``edge`` stands for the ALB)."""
    if not containers:
        return {"ingress": [], "discovery": None}
    first = containers[0]
    nets = networks_of(stack)
    ports = sorted(int(p.split("/")[0]) for p in ((first.get("Config") or {}).get("ExposedPorts") or {}))
    sources: set[str] = set()
    for net in _short_networks(stack, first):
        members = nets.get(net)
        if members is None:
            sources.add(f"network {net}")
            continue
        sources |= {ALB if m == EDGE else m for m in members if m != name}
    aliases = [a for v in ((first.get("NetworkSettings") or {}).get("Networks") or {}).values()
               for a in (v.get("Aliases") or []) if "." in a]  # fmt: skip
    return {
        "ingress": sorted(f"{s}:{p}" for s in sources for p in ports),
        "discovery": aliases[0] if aliases else None,
    }


def local_edge_view(stack: Stack, nginx_conf: str | None, edge_containers: list[Mapping[str, Any]] = ()) -> View:
    """The local edge as its nginx.conf configures it (the running one's, read
    from the container) and as its container is reachable."""
    if nginx_conf is None:
        return {"edge.routes": []}
    view: View = {}
    server_level: list[str] = []
    routes: list[tuple[str, list[str]]] = []
    blocks: list[str] = []
    body: list[str] = []
    for raw in nginx_conf.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.endswith("{"):
            blocks.append(line[:-1].strip())
            body = [] if line.startswith("location ") else body
        elif line == "}":
            closed = blocks.pop() if blocks else ""
            # an exact-match location (= /__edge/health) is the edge's own, not a behaviour
            if closed.startswith("location ") and not closed.startswith("location ="):
                routes.append((closed.split()[1], body))
        elif line and blocks and blocks[-1].startswith("location "):
            body.append(line)
        elif line and blocks and blocks[-1] == "server":
            server_level.append(line)
    for line in nginx_conf.splitlines():
        k = re.fullmatch(r"\s*keepalive_timeout\s+(\d+)s?;.*", line)
        if k:
            view["edge.idle_timeout"] = int(k.group(1))
    for line in server_level:
        r = re.fullmatch(r"proxy_read_timeout\s+(\d+)s?;", line)
        if r:  # the ALB behaviours' wait for a byte: CloudFront's origin response timeout
            view["edge.origin_response_timeout"] = int(r.group(1))
        if re.fullmatch(r"listen\s+(\S+\s+)?ssl.*;|listen\s+443.*;", line):
            view["edge.listener"] = "https"
        elif line.startswith("listen ") and "edge.listener" not in view:
            view["edge.listener"] = "http"
    out = []
    groups = {target_group(name): name for name in stack.services}
    for path, lines in routes:
        text = "\n".join(lines)
        if "$s3_origin" in text and "proxy_pass" in text:
            origin = "s3"
        else:  # an ALB behaviour: proxied to the service's target group (an nginx upstream)
            s = re.search(r"proxy_pass\s+http://(\w+);", text)
            origin = groups.get(s.group(1), "?") if s else "?"
        cached = any(re.fullmatch(r"proxy_cache\s+(?!off)\S+;", x) for x in lines)
        out.append(_route(path, origin, "cached" if cached else "none"))
    view["edge.routes"] = sorted(out)
    ingress: set[str] = set()
    nets = networks_of(stack)
    for c in edge_containers[:1]:
        for bindings in ((c.get("NetworkSettings") or {}).get("Ports") or {}).values():
            ingress |= {f"host:{b['HostPort']}" for b in bindings or []}
        for net in _short_networks(stack, c):
            members = [m for m in nets.get(net, [f"network {net}"]) if m != EDGE] or [net]
            ingress |= {f"{m}:80" for m in members}
    view["edge.ingress"] = sorted(ingress)
    return view


# -- comparing --------------------------------------------------------------------


def _reachable_by(stack: Stack, name: str) -> set[str]:
    """Sources ``name`` itself may reach (so a two-way network admits them back),
    and its own local dependencies (stand-ins for outside services it uses)."""
    out = {d for d, dep in stack.local.dependencies.items() if name in dep.used_by}
    if name == EDGE:
        return out
    out |= {peer for peer, svc in stack.services.items() if name in svc.ingress_from}
    if stack.services[name].exposure == "public":
        out.add(ALB)  # the edge and the public services share `public`
    return out


def _ingress_verdict(stack: Stack, name: str, local: list[str], infra: list[str]) -> tuple[str, str]:
    missing = sorted(set(infra) - set(local))
    extra = sorted(set(local) - set(infra))
    allowed = _reachable_by(stack, name)
    unexplained = [e for e in extra if e.rsplit(":", 1)[0] not in allowed]
    if missing or unexplained:
        parts = ([f"the template admits {', '.join(missing)}, locally not"] if missing else []) + (
            [f"locally also {', '.join(unexplained)}"] if unexplained else [])  # fmt: skip
        return "undeclared", "; ".join(parts)
    return "intended", (f"a Docker network admits both ways: {', '.join(extra)} "
                        "(a peer the service may reach, or its own local dependency)")  # fmt: skip


def compare_infra(
    local_stack: Stack,
    name: str,
    env: str,
    local: View,
    infra: View,
    local_spec: View,
    env_spec: View,
) -> list[Difference]:
    """The differences of one row (a service or ``edge``): local vs the template
    for ``env``, and the template vs the spec for ``env``; each judged."""
    out = []
    sides = ("local", f"infra {env}")
    for path in sorted(set(local) & set(infra) | (set(infra) - {"health.path", "deregistration_delay"})):
        a, b = local.get(path, MISSING), infra.get(path, MISSING)
        if a == b:
            continue
        if path == "ingress":
            verdict, why = _ingress_verdict(local_stack, name, a if isinstance(a, list) else [], b if isinstance(b, list) else [])
        elif path in LOCAL_ONLY:
            verdict, why = "intended", LOCAL_ONLY[path]
        elif a == local_spec.get(path, MISSING) and local_spec.get(path, MISSING) != env_spec.get(path, MISSING):
            verdict, why = "intended", OVERLAY_WHY.get(path, f"declared by the overlays (deploy/local.yaml, deploy/{env}.yaml)")
        else:
            verdict, why = "undeclared", "the local stack and the infrastructure differ"
        out.append(Difference(name, path, sides, (a, b), verdict, why))
    out += _differences(name, env_spec, infra, (f"spec {env}", f"infra {env}"), "undeclared",
                        "the infrastructure template does not say what the spec says")  # fmt: skip
    return out
