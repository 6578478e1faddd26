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

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parity.render.compose import networks_of
from parity.render.edge import public_host, target_group
from parity.render.infra import edge as infra_edge
from parity.render.infra import needs_edge_stack, render_template
from parity.render.infra.common import Template, uses_tls
from parity.render.infra.edge import ALL_VIEWER_EXCEPT_HOST, CACHING_DISABLED, policy_headers
from parity.render.parity import MISSING, Difference, View, _differences
from parity.spec import managed_rules
from parity.spec.models import Stack

EDGE = "edge"  # the stack-level row
ALB, CLOUDFRONT = "alb", "cloudfront"
LOCAL_ONLY = {"edge.ingress": "locally clients reach the edge from the host and the allow-listed-clients network; "
                              "in AWS only CloudFront's origin-facing servers reach the ALB"}  # fmt: skip
OVERLAY_WHY = {
    "edge.listener": "locally (and on the emulator) there is no certificate: the ALB's listener is plain HTTP",
    "edge.forwarded_host": "the public URL differs per environment (the service's PUBLIC_URL)",
}
NONE = "none"


def with_companion(stack: Stack, template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with its us-east-1 companion's resources (the web ACL) merged in,
    where the environment has one (rendered here without the apply-time checks)."""
    if not needs_edge_stack(stack):
        return template
    companion = Template(stack, part="edge")
    infra_edge.render_edge(companion)
    return {**template, "Resources": {**companion.resources, **template["Resources"]}}


def infra_template(stack: Stack) -> dict[str, Any]:
    """ENV's template as ``inv parity`` reads it: with its companion's web ACL."""
    return with_companion(stack, render_template(stack))


def _lock(sent: str | None, required: str | None, default: int | None) -> str:
    """The origin lock in one line: the header CloudFront sends, the header every
    forwarding rule of the ALB requires, what the ALB answers without it."""
    if not sent and not required:
        return NONE
    return f"sent={sent or '-'} required={required or '-'} otherwise={default or 'forward'}"


def _headers(headers: Mapping[str, str]) -> list[str]:
    return sorted(f"{k}: {v}" for k, v in headers.items())


def _override(group: str, rule: str, paths: list[str] | None) -> str:
    return f"{group}/{rule} counts on {','.join(sorted(paths))}" if paths else f"{group}/{rule} counts everywhere"


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
        "edge.ingress": [f"{CLOUDFRONT}:443"]
        if tls
        else [f"{CLOUDFRONT}:80"],  # CloudFront reaches the ALB on one port
        "edge.waf.groups": [g.group for g in edge.managed_rules],
        "edge.waf.rules": sorted(
            f"{r.group}/{r.name}" for g in edge.managed_rules for r in managed_rules.rules_of(g.group)
        ),
        "edge.waf.overrides": sorted(
            _override(g.group, o.rule, o.paths) for g in edge.managed_rules for o in g.overrides
        ),
        "edge.origin_lock": _lock(edge.origin_lock.header, edge.origin_lock.header, 403) if edge.origin_lock else NONE,
        "edge.response_headers": _headers(edge.response_headers),
        "edge.static_response_headers": _headers({**edge.response_headers, **edge.static_response_headers}),
        "edge.host": "origin",
        "edge.forwarded_host": _default_public_host(stack),
    }
    return out


def _default_public_host(stack: Stack) -> str | None:
    default = next((r.origin for r in stack.edge.routes if r.path == "/" and r.origin != "s3"), None)
    return public_host(stack, default) if default else None


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
        groups = [
            _target(x)
            for x in (p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration", {}).get("SecurityGroups") or []
        ]
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
    # the listeners that serve (not the HTTP one that only redirects to HTTPS)
    serving = {
        n: p
        for n, p in listeners.items()
        if not any(a.get("Type") == "redirect" for a in p.get("DefaultActions") or [])
    }
    view["edge.listener"] = "https" if any(p.get("Protocol") == "HTTPS" for p in serving.values()) else "http"
    defaults = [a for p in serving.values() for a in p.get("DefaultActions") or []]
    default_origin = next(
        (by_tg.get(_target(a.get("TargetGroupArn"))) for a in defaults if a.get("Type") == "forward"), None
    )
    default_status = next(
        (int(a["FixedResponseConfig"]["StatusCode"]) for a in defaults if a.get("Type") == "fixed-response"), None
    )
    by_path: dict[str, str | None] = {}
    required: list[set[str]] = []  # per forwarding rule: the headers it requires
    for p in of_type("AWS::ElasticLoadBalancingV2::ListenerRule").values():
        if _target(p.get("ListenerArn")) not in serving:
            continue
        target = next(
            (by_tg.get(_target(a.get("TargetGroupArn"))) for a in p.get("Actions") or [] if a.get("Type") == "forward"),
            None,
        )
        conditions = p.get("Conditions") or []
        required.append({(c.get("HttpHeaderConfig") or {}).get("HttpHeaderName", "") for c in conditions
                         if c.get("Field") == "http-header"} - {""})  # fmt: skip
        for cond in conditions:
            for value in (cond.get("PathPatternConfig") or {}).get("Values") or []:
                by_path[value] = target
    every_rule = set.intersection(*required) if required else set()
    lock_required = sorted(every_rule)[0] if every_rule and default_origin is None else None
    for p in of_type("AWS::CloudFront::Distribution").values():
        config = p.get("DistributionConfig") or {}
        origins = {o.get("Id"): o for o in config.get("Origins") or []}
        sent, forwarded_host = None, None
        for o in origins.values():
            if "CustomOriginConfig" in o:
                view["edge.origin_response_timeout"] = o["CustomOriginConfig"].get("OriginReadTimeout", 30)
                for h in o.get("OriginCustomHeaders") or []:
                    if "resolve:secretsmanager" in str(h.get("HeaderValue")):
                        sent = h.get("HeaderName")
                    elif str(h.get("HeaderName", "")).lower() == "x-forwarded-host":
                        forwarded_host = h.get("HeaderValue")
        view["edge.origin_lock"] = _lock(sent, lock_required, default_status)
        view["edge.forwarded_host"] = forwarded_host
        routes, headers, hosts = [], {"alb": [], "s3": []}, []
        behaviours = [
            {"PathPattern": "*", **(config.get("DefaultCacheBehavior") or {})},
            *(config.get("CacheBehaviors") or []),
        ]
        for b in behaviours:
            pattern = b.get("PathPattern", "")
            path = pattern.removesuffix("*")
            path = path or "/"
            origin = origins.get(b.get("TargetOriginId")) or {}
            if "S3OriginConfig" in origin or "s3" in str(origin.get("Id", "")):
                to, kind = "s3", "s3"
            else:  # the ALB: the rule for this path pattern, else its default action
                to, kind = by_path.get(f"{path}*") or default_origin or "?", "alb"
                hosts.append("origin" if b.get("OriginRequestPolicyId") == ALL_VIEWER_EXCEPT_HOST else "viewer")
            routes.append(_route(path, to, "none" if b.get("CachePolicyId") == CACHING_DISABLED else "cached"))
            policy = of_type("AWS::CloudFront::ResponseHeadersPolicy").get(
                _target(b.get("ResponseHeadersPolicyId")) or "", {}
            )
            headers[kind].append(_headers(policy_headers(policy.get("ResponseHeadersPolicyConfig") or {})))
        view["edge.routes"] = sorted(routes)
        view["edge.host"] = hosts[0] if hosts and len(set(hosts)) == 1 else ",".join(sorted(set(hosts)))
        view["edge.response_headers"] = _same(headers["alb"])
        view["edge.static_response_headers"] = _same(headers["s3"])
    groups, overrides, rules = _template_waf(of_type)
    view["edge.waf.groups"], view["edge.waf.overrides"], view["edge.waf.rules"] = groups, overrides, rules
    return view


def _same(lists: list[list[str]]) -> list[str]:
    """What every behaviour of a kind gets; behaviours that differ show as 'differs: ...'."""
    if not lists:
        return []
    if all(x == lists[0] for x in lists):
        return lists[0]
    return ["differs between behaviours: " + " | ".join("; ".join(x) or "none" for x in lists)]


def _exempt_paths(statement: Mapping[str, Any]) -> list[str]:
    inner = statement.get("OrStatement", {}).get("Statements") or [statement]
    return [s["ByteMatchStatement"]["SearchString"] for s in inner
            if s.get("ByteMatchStatement", {}).get("PositionalConstraint") == "EXACTLY"
            and "UriPath" in s["ByteMatchStatement"].get("FieldToMatch", {})]  # fmt: skip


def _template_waf(of_type: Any) -> tuple[list[str], list[str], list[str]]:
    """The web ACL's managed groups (in order), its count overrides with the paths
    their label rule exempts, and every rule the groups run."""
    acl_rules = sorted((r for p in of_type("AWS::WAFv2::WebACL").values() for r in p.get("Rules") or []),
                       key=lambda r: r.get("Priority", 0))  # fmt: skip
    exempt: dict[str, list[str]] = {}  # label -> paths a Block rule on it leaves alone
    for r in acl_rules:
        parts = r.get("Statement", {}).get("AndStatement", {}).get("Statements") or []
        label = next((x["LabelMatchStatement"]["Key"] for x in parts if "LabelMatchStatement" in x), None)
        outside = next((x["NotStatement"]["Statement"] for x in parts if "NotStatement" in x), None)
        if label and outside is not None and "Block" in (r.get("Action") or {}):
            exempt[label] = _exempt_paths(outside)
    groups, overrides, rules = [], [], []
    for r in acl_rules:
        group = r.get("Statement", {}).get("ManagedRuleGroupStatement")
        if not group:
            continue
        groups.append(group["Name"])
        rules += [f"{m.group}/{m.name}" for m in managed_rules.rules_of(group["Name"])]
        for o in group.get("RuleActionOverrides") or []:
            if "Count" not in (o.get("ActionToUse") or {}):
                continue
            known = managed_rules.rule(group["Name"], o["Name"])
            overrides.append(_override(group["Name"], o["Name"], exempt.get(known.label) if known else None))
    return groups, sorted(overrides), sorted(rules)


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


@dataclass(eq=False)  # by identity: blocks key dicts
class Block:
    """One nginx directive: its name, arguments and, for a block, its children."""

    name: str
    args: list[str]
    children: list[Block] | None = None

    def all(self, name: str) -> list[Block]:
        return [c for c in self.children or [] if c.name == name]

    def first(self, name: str) -> Block | None:
        found = self.all(name)
        return found[0] if found else None


_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|(#[^\n]*)|([{};])|([^\s{};"\'#]+)')


def parse_nginx(text: str) -> Block:
    """nginx.conf as a tree (quotes, comments and nesting as nginx reads them)."""
    root = Block("main", [], [])
    stack, words = [root], []
    for m in _TOKEN.finditer(text):
        dq, sq, comment, punct, word = m.groups()
        if comment is not None:
            continue
        if punct is None:
            words.append(dq if dq is not None else sq if sq is not None else word)
        elif punct == ";" and words:
            stack[-1].children.append(Block(words[0], words[1:]))  # type: ignore[union-attr]
            words = []
        elif punct == "{":
            block = Block(words[0] if words else "", words[1:], [])
            stack[-1].children.append(block)  # type: ignore[union-attr]
            stack.append(block)
            words = []
        elif punct == "}" and len(stack) > 1:
            stack.pop()
            words = []
    return root


def _arg(block: Block | None, name: str) -> str | None:
    found = block.first(name) if block else None
    return " ".join(found.args) if found else None


def _seconds(value: str | None) -> int | None:
    return int(value.rstrip("s")) if value and value.rstrip("s").isdigit() else None


def _set_headers(block: Block) -> dict[str, str]:
    return {d.args[0].lower(): d.args[1] for d in block.all("proxy_set_header") if len(d.args) == 2}


def _added_headers(block: Block) -> dict[str, str]:
    return {d.args[0]: d.args[1] for d in block.all("add_header") if len(d.args) >= 2 and d.args[0] != "X-Cache"}


def _waf_policy(waf_js: str | None) -> dict[str, Any]:
    """The policy the local edge's waf.js holds ({} when there is none)."""
    if not waf_js or "const POLICY = " not in waf_js:
        return {}
    start = waf_js.index("const POLICY = ") + len("const POLICY = ")
    policy, _ = json.JSONDecoder().raw_decode(waf_js[start:])
    return policy or {}


def local_edge_view(
    stack: Stack, nginx_conf: str | None, edge_containers: list[Mapping[str, Any]] = (), waf_js: str | None = None
) -> View:
    """The local edge as its nginx.conf (and waf.js) configures it (the running
    one's, read from the container) and as its container is reachable."""
    if nginx_conf is None:
        return {"edge.routes": []}
    view: View = {}
    http = parse_nginx(nginx_conf).first("http") or Block("http", [], [])
    servers = http.all("server")
    listens = {s: [" ".join(d.args) for d in s.all("listen")] for s in servers}
    # the CloudFront part: the server clients reach on port 80 (or 443); the ALB part: the one it proxies to
    cloudfront = next((s for s, ls in listens.items() if any(re.match(r"(80|443)\b", x) for x in ls)), None)
    upstreams = {u.args[0]: [" ".join(d.args) for d in u.all("server")] for u in http.all("upstream") if u.args}
    # the ALB part: the server listening where CloudFront's origin (upstream alb) points
    alb_addr = next(iter(upstreams.get("alb", [])), "").split()[0] if upstreams.get("alb") else ""
    wanted = {alb_addr, alb_addr.rsplit(":", 1)[-1]} - {""} if not alb_addr.startswith("unix:") else {alb_addr}
    alb = next((s for s, ls in listens.items() if any(x.split()[0] in wanted for x in ls)), None)
    view["edge.idle_timeout"] = _seconds(_arg(http, "keepalive_timeout"))
    if cloudfront is not None:
        view["edge.listener"] = (
            "https" if any("ssl" in x or x.startswith("443") for x in listens[cloudfront]) else "http"
        )
    named = {loc.args[0]: loc for s in servers for loc in s.all("location") if loc.args and loc.args[0].startswith("@")}
    groups = {target_group(name): name for name in stack.services}
    routes, headers, hosts, forwarded, sent = [], {"alb": [], "s3": []}, [], set(), set()
    lock = stack.edge.origin_lock
    for loc in cloudfront.all("location") if cloudfront else []:
        if not loc.args or loc.args[0] in ("=", "~", "~*") or loc.args[0].startswith("@"):
            continue  # an exact or regex location is the edge's own, not a behaviour
        path = loc.args[0]
        nxt = _arg(loc, "set")
        target = nxt.split()[1] if nxt and nxt.startswith("$waf_next ") else None
        tries = loc.first("try_files")
        target = target or (tries.args[-1] if tries and tries.args[-1].startswith("@") else None)
        body = named.get(target or "", loc)
        proxy = _arg(body, "proxy_pass") or ""
        if "$s3_origin" in proxy:
            origin, kind = "s3", "s3"
        elif proxy == "http://alb":  # CloudFront -> the ALB part: its location for this path
            kind = "alb"
            alb_loc = next((x for x in (alb.all("location") if alb else []) if x.args == [path]), None)
            m = re.fullmatch(r"http://(\w+)", _arg(alb_loc, "proxy_pass") or "")
            origin = groups.get(m.group(1), "?") if m else "?"
            set_headers = _set_headers(body)
            host = set_headers.get("host", "$http_host")
            hosts.append("viewer" if host in ("$http_host", "$host") else "origin")
            forwarded.add(set_headers.get("x-forwarded-host"))
            if lock and set_headers.get(lock.header.lower()) == "$origin_verify_value":
                sent.add(lock.header)
        else:
            m = re.fullmatch(r"http://(\w+)", proxy)
            origin, kind = (groups.get(m.group(1), "?") if m else "?"), "alb"
        cached = (_arg(body, "proxy_cache") or "off") != "off"
        routes.append(_route(path, origin, "cached" if cached else "none"))
        headers[kind].append(_headers(_added_headers(body)))
        read = _seconds(_arg(body, "proxy_read_timeout"))
        if kind == "alb" and read is not None:  # CloudFront's wait for the ALB origin
            view["edge.origin_response_timeout"] = read
    view["edge.routes"] = sorted(routes)
    view["edge.host"] = hosts[0] if hosts and len(set(hosts)) == 1 else ",".join(sorted(set(hosts)))
    view["edge.forwarded_host"] = next(iter(forwarded)) if len(forwarded) == 1 else None
    view["edge.response_headers"] = _same(headers["alb"])
    view["edge.static_response_headers"] = _same(headers["s3"])
    # the ALB part's listener: every request without the accepted header value gets a fixed answer
    required, otherwise = None, None
    for directive in (alb.children or []) if alb else []:
        if directive.name == "if" and directive.args[:3] == ["($origin_verified", "=", "0)"]:
            ret = directive.first("return")
            otherwise = int(ret.args[0]) if ret and ret.args[0].isdigit() else None
    verified = next((m for m in http.all("map") if len(m.args) == 2 and m.args[1] == "$origin_verified"), None)
    if verified is not None and otherwise is not None:
        required = next((h for h in ([lock.header] if lock else []) if verified.args[0] == "$http_" + h.lower().replace("-", "_")),
                        verified.args[0])  # fmt: skip
    view["edge.origin_lock"] = _lock(next(iter(sent), None), required, otherwise)
    policy = _waf_policy(waf_js)
    emulated = policy.get("rules") or []
    view["edge.waf.groups"] = list(dict.fromkeys(r["group"] for r in emulated))
    view["edge.waf.rules"] = sorted(f"{r['group']}/{r['name']}" for r in emulated)
    view["edge.waf.overrides"] = sorted(
        _override(r["group"], r["name"], r["countOn"]) for r in emulated if r["countOn"]
    )
    if http.first("js_import") is None or not any(
        loc.first("js_content") for loc in (cloudfront.all("location") if cloudfront else [])
    ):
        view["edge.waf.groups"], view["edge.waf.rules"], view["edge.waf.overrides"] = [], [], []  # waf.js is never run
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


def _waf_verdict(local: list[str], infra: list[str]) -> tuple[str, str]:
    """Rules (or overrides of rules) the local edge does not emulate are declared;
    any other difference is not."""
    skipped = {f"{r.group}/{r.name}": r.why for r in managed_rules.RULES if r.test is None}
    rule_of = lambda entry: entry.split(" counts ", 1)[0]  # noqa: E731
    missing = [e for e in infra if e not in local]
    extra = [e for e in local if e not in infra]
    if extra or any(rule_of(e) not in skipped for e in missing):
        return "undeclared", "the local edge's WAF emulation and the web ACL differ"
    approximate = sum(1 for r in managed_rules.RULES if r.fidelity == "approximate" and f"{r.group}/{r.name}" in infra)
    names = sorted({rule_of(e) for e in missing})
    return "intended", (f"not emulated locally: {'; '.join(f'{n} ({skipped[n]})' for n in names)}"
                        f"; {approximate} more emulated approximately (spec/managed_rules.py)")  # fmt: skip


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
            verdict, why = _ingress_verdict(
                local_stack, name, a if isinstance(a, list) else [], b if isinstance(b, list) else []
            )
        elif path in LOCAL_ONLY:
            verdict, why = "intended", LOCAL_ONLY[path]
        elif path in ("edge.waf.rules", "edge.waf.overrides"):
            verdict, why = _waf_verdict(a if isinstance(a, list) else [], b if isinstance(b, list) else [])
        elif a == local_spec.get(path, MISSING) and local_spec.get(path, MISSING) != env_spec.get(path, MISSING):
            verdict, why = (
                "intended",
                OVERLAY_WHY.get(path, f"declared by the overlays (deploy/local.yaml, deploy/{env}.yaml)"),
            )
        else:
            verdict, why = "undeclared", "the local stack and the infrastructure differ"
        out.append(Difference(name, path, sides, (a, b), verdict, why))
    out += _differences(name, env_spec, infra, (f"spec {env}", f"infra {env}"), "undeclared",
                        "the infrastructure template does not say what the spec says")  # fmt: skip
    return out
