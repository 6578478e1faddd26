"""The rendered template against AWS's documented limits (``parity.limits``),
purely: what no emulator enforces and cfn-lint does not count (a managed
prefix list's weight in a security group's quota, a web ACL's capacity, a
listener rule's condition values, CloudFront's timeouts past the default
quota). ``inv infra-render`` and ``infra-plan``/``infra-apply`` run it: an
error refuses the template, a warning (an adjustable quota exceeded) is
printed with the quota to raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parity.limits import LIMITS, high, limit, low
from parity.render.infra.network import PREFIX_LIST_PARAMETER


@dataclass(frozen=True)
class Finding:
    level: str  # "error": AWS refuses it; "warning": it needs a quota increase
    limit: str  # the name in parity.limits.LIMITS
    where: str  # logical id (and property)
    message: str

    def line(self) -> str:
        source = LIMITS[self.limit]
        return f"{self.level}: {self.where}: {self.message} ({self.limit}, {source.source})"


@dataclass
class Verification:
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # the limits evaluated, by name
    not_checked: list[str] = field(default_factory=list)  # what the table could not judge, and why

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def _check(self, name: str) -> None:
        if name not in self.checked:
            self.checked.append(name)

    def error(self, name: str, where: str, message: str) -> None:
        self._check(name)
        self.findings.append(Finding("error", name, where, message))

    def warn(self, name: str, where: str, message: str) -> None:
        self._check(name)
        self.findings.append(Finding("warning", name, where, message))

    def within(self, name: str, where: str, value: Any, what: str) -> None:
        """An error when ``value`` is outside the range ``name`` documents."""
        self._check(name)
        if not isinstance(value, int) or isinstance(value, bool):
            self.not_checked.append(f"{where}: {what} is not a literal number")
            return
        lo, hi = low(name), high(name)
        if not lo <= value <= hi:
            self.error(name, where, f"{what} {value} is outside {lo}-{hi}")

    def at_most(self, name: str, where: str, count: int, what: str, adjustable: bool | None = None) -> None:
        self._check(name)
        cap = limit(name)
        if count > cap:
            quota = LIMITS[name].adjustable if adjustable is None else adjustable
            (self.warn if quota else self.error)(
                name, where, f"{count} {what}, over {cap}" + (" (ask for a quota increase first)" if quota else "")
            )


def verify(template: dict[str, Any]) -> Verification:
    """Every rule of ``parity.limits`` that a rendered template can break."""
    out = Verification()
    resources = template.get("Resources", {})
    _security_groups(out, resources)
    for name, res in resources.items():
        kind, props = res.get("Type"), res.get("Properties", {})
        check = _BY_TYPE.get(kind)
        if check:
            check(out, name, props)
    _listener_rules(out, resources)
    return out


# -- security groups -------------------------------------------------------------


def _group_of(ref: Any) -> str | None:
    """The logical id a GroupId points to (``{"Fn::GetAtt": [X, "GroupId"]}`` or ``{"Ref": X}``)."""
    if isinstance(ref, dict):
        if "Fn::GetAtt" in ref:
            return ref["Fn::GetAtt"][0]
        if "Ref" in ref:
            return ref["Ref"]
    return None


def _weight(out: Verification, where: str, rule: dict[str, Any]) -> tuple[int, int]:
    """(IPv4, IPv6) rules one ingress rule counts as. A security group source
    counts once in each; a managed prefix list as its max entries (CloudFront's
    origin-facing list holds IPv4 ranges)."""
    if "CidrIp" in rule:
        return 1, 0
    if "CidrIpv6" in rule:
        return 0, 1
    if "SourcePrefixListId" in rule:
        if rule["SourcePrefixListId"] == {"Ref": PREFIX_LIST_PARAMETER}:
            return limit("prefix_list.cloudfront_origin_facing"), 0
        out.not_checked.append(
            f"{where}: a prefix list other than CloudFront's origin-facing one (its weight is unknown)"
        )
        return 0, 0
    return 1, 1


def _security_groups(out: Verification, resources: dict[str, Any]) -> None:
    rules: dict[str, list[tuple[str, dict]]] = {
        name: [(name, r) for r in res.get("Properties", {}).get("SecurityGroupIngress", [])]
        for name, res in resources.items()
        if res.get("Type") == "AWS::EC2::SecurityGroup"
    }
    for name, res in resources.items():
        if res.get("Type") == "AWS::EC2::SecurityGroupIngress":
            group = _group_of(res["Properties"].get("GroupId"))
            if group in rules:
                rules[group].append((name, res["Properties"]))
            else:
                out.not_checked.append(f"{name}: ingress to a security group outside the template")
    for group, entries in rules.items():
        v4 = v6 = 0
        for where, rule in entries:
            a, b = _weight(out, where, rule)
            v4, v6 = v4 + a, v6 + b
        for family, count in (("IPv4", v4), ("IPv6", v6)):
            # an error, though the quota is adjustable: a fresh account has the default, and the create fails
            out.at_most("sg.inbound_rules", group, count, f"inbound {family} rules (a prefix list counts as its max entries)",
                        adjustable=False)  # fmt: skip


def _security_group_count(out: Verification, name: str, groups: Any, limit_name: str) -> None:
    if isinstance(groups, list):
        out.at_most(limit_name, f"{name}.SecurityGroups", len(groups), "security groups")


# -- per resource type -----------------------------------------------------------


def _task_definition(out: Verification, name: str, props: dict[str, Any]) -> None:
    sizes = limit("fargate.sizes")
    out._check("fargate.sizes")
    try:
        cpu, memory = int(props.get("Cpu")), int(props.get("Memory"))
    except (TypeError, ValueError):
        out.not_checked.append(f"{name}: Cpu/Memory are not literal numbers")
    else:
        if cpu not in sizes:
            out.error(
                "fargate.sizes", f"{name}.Cpu", f"{cpu} CPU units is not a Fargate size ({', '.join(map(str, sizes))})"
            )
        elif memory not in sizes[cpu]:
            out.error("fargate.sizes", f"{name}.Memory", f"{memory} MiB is not offered with {cpu} CPU units")
    storage = props.get("EphemeralStorage", {}).get("SizeInGiB")
    if storage is not None:
        out.within("fargate.ephemeral_storage", f"{name}.EphemeralStorage", storage, "ephemeral storage GiB")
    for container in props.get("ContainerDefinitions", []):
        health = container.get("HealthCheck")
        if not health:
            continue
        where = f"{name}.{container.get('Name')}.HealthCheck"
        for key, lim in (("Interval", "ecs.health.interval"), ("Timeout", "ecs.health.timeout"),
                         ("Retries", "ecs.health.retries"), ("StartPeriod", "ecs.health.start_period")):  # fmt: skip
            if key in health:
                out.within(lim, where, health[key], key)


def _target_group(out: Verification, name: str, props: dict[str, Any]) -> None:
    interval, timeout = props.get("HealthCheckIntervalSeconds"), props.get("HealthCheckTimeoutSeconds")
    out.within("tg.health.interval", name, interval, "HealthCheckIntervalSeconds")
    out.within("tg.health.timeout", name, timeout, "HealthCheckTimeoutSeconds")
    if isinstance(interval, int) and isinstance(timeout, int) and timeout >= interval:
        out.error(
            "tg.health.timeout", name, f"HealthCheckTimeoutSeconds {timeout} must be less than the interval {interval}"
        )
    out.within("tg.healthy_threshold", name, props.get("HealthyThresholdCount", 5), "HealthyThresholdCount")
    out.within("tg.unhealthy_threshold", name, props.get("UnhealthyThresholdCount", 2), "UnhealthyThresholdCount")
    for attr in props.get("TargetGroupAttributes", []):
        if attr.get("Key") == "deregistration_delay.timeout_seconds":
            out.within("tg.deregistration_delay", name, _int(attr.get("Value")), "deregistration delay")


def _load_balancer(out: Verification, name: str, props: dict[str, Any]) -> None:
    _security_group_count(out, name, props.get("SecurityGroups"), "alb.security_groups")
    for attr in props.get("LoadBalancerAttributes", []):
        if attr.get("Key") == "idle_timeout.timeout_seconds":
            out.within("alb.idle_timeout", name, _int(attr.get("Value")), "idle timeout")


def _service(out: Verification, name: str, props: dict[str, Any]) -> None:
    vpc = props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
    _security_group_count(out, name, vpc.get("SecurityGroups"), "sg.per_interface")


def _distribution(out: Verification, name: str, props: dict[str, Any]) -> None:
    config = props.get("DistributionConfig", {})
    out.at_most("cloudfront.origins", name, len(config.get("Origins", [])), "origins")
    out.at_most("cloudfront.cache_behaviors", name, len(config.get("CacheBehaviors", [])), "cache behaviours")
    for origin in config.get("Origins", []):
        custom = origin.get("CustomOriginConfig")
        if not custom:
            continue
        where = f"{name}.Origins.{origin.get('Id')}"
        for key, lim, what in (("OriginReadTimeout", "cloudfront.origin_response_timeout", "origin response timeout"),
                               ("OriginKeepaliveTimeout", "cloudfront.origin_keepalive_timeout", "origin keep-alive timeout")):  # fmt: skip
            value = custom.get(key)
            if value is None:
                continue
            out._check(lim)
            if not isinstance(value, int) or value < 1 or value > limit("cloudfront.origin_response_timeout_max"):
                out.error(
                    lim, where, f"{what} {value} s is outside 1-{limit('cloudfront.origin_response_timeout_max')}"
                )
            elif value > high(lim):
                out.warn(lim, where, f"{what} {value} s is over {high(lim)} s: CloudFront refuses it until the "
                         f"account's quota is raised (Service Quotas: CloudFront, '{_QUOTA_NAMES[lim]}')")  # fmt: skip


_QUOTA_NAMES = {
    "cloudfront.origin_response_timeout": "Response timeout per origin",
    "cloudfront.origin_keepalive_timeout": "Keep-alive timeout per origin",
}


def _web_acl(out: Verification, name: str, props: dict[str, Any]) -> None:
    rules = props.get("Rules", [])
    rate = [r for r in rules if "RateBasedStatement" in r.get("Statement", {})]
    out.at_most("waf.rate_rules_per_acl", name, len(rate), "rate-based rules")
    for rule in rate:
        statement = rule["Statement"]["RateBasedStatement"]
        where = f"{name}.{rule.get('Name')}"
        out.within("waf.rate_limit", where, statement.get("Limit"), "rate limit")
        out._check("waf.rate_windows")
        window = statement.get("EvaluationWindowSec", 300)
        if window not in limit("waf.rate_windows"):
            out.error(
                "waf.rate_windows", where, f"evaluation window {window} s is not one of {limit('waf.rate_windows')}"
            )
    total, unknown = 0, []
    for rule in rules:
        cost = _wcu(rule.get("Statement", {}))
        if cost is None:
            unknown.append(rule.get("Name", "?"))
        else:
            total += cost
    out._check("waf.wcu_max")
    if unknown:
        out.not_checked.append(
            f"{name}: capacity of rule(s) {', '.join(unknown)} (a statement the table has no WCU for)"
        )
    if total > limit("waf.wcu_max"):
        out.error("waf.wcu_max", name, f"at least {total} capacity units, over {limit('waf.wcu_max')}")
    elif total > limit("waf.wcu_included"):
        out.warn("waf.wcu_included", name, f"at least {total} capacity units: past {limit('waf.wcu_included')}, "
                 "every million requests costs extra")  # fmt: skip


def _wcu(statement: dict[str, Any]) -> int | None:
    """The capacity units of one statement, from the documented costs; None if unknown."""
    if "ManagedRuleGroupStatement" in statement:
        group = statement["ManagedRuleGroupStatement"]
        base = limit("waf.wcu.managed").get(group.get("Name")) if group.get("VendorName") == "AWS" else None
        scope = group.get("ScopeDownStatement")
        extra = _wcu(scope) if scope else 0
        return None if base is None or extra is None else base + extra
    if "RateBasedStatement" in statement:
        scope = statement["RateBasedStatement"].get("ScopeDownStatement")
        extra = _wcu(scope) if scope else 0
        if statement["RateBasedStatement"].get("CustomKeys"):
            return None
        return None if extra is None else limit("waf.wcu.rate_based") + extra
    if "ByteMatchStatement" in statement:
        match = statement["ByteMatchStatement"]
        base = limit("waf.wcu.string_match").get(match.get("PositionalConstraint"))
        field_ = match.get("FieldToMatch", {})
        if base is None or set(field_) - {"UriPath", "QueryString", "SingleHeader", "Method", "Body"}:
            return None
        return base + limit("waf.wcu.text_transformation") * len(match.get("TextTransformations", []))
    if "IPSetReferenceStatement" in statement:
        return limit("waf.wcu.ip_set")
    if "LabelMatchStatement" in statement:
        return limit("waf.wcu.label_match")
    for logical in ("OrStatement", "AndStatement"):
        if logical in statement:
            costs = [_wcu(s) for s in statement[logical].get("Statements", [])]
            return None if None in costs else sum(costs)
    if "NotStatement" in statement:
        return _wcu(statement["NotStatement"].get("Statement", {}))
    return None


def _listener_rules(out: Verification, resources: dict[str, Any]) -> None:
    per_listener: dict[str, int] = {}
    for name, res in resources.items():
        if res.get("Type") != "AWS::ElasticLoadBalancingV2::ListenerRule":
            continue
        props = res.get("Properties", {})
        listener = _group_of(props.get("ListenerArn")) or "?"
        per_listener[listener] = per_listener.get(listener, 0) + 1
        values = wildcards = 0
        for condition in props.get("Conditions", []):
            for key, value in condition.items():
                if key == "Field" or not isinstance(value, dict):
                    continue
                found = value.get("Values", [])
                values += len(found)
                wildcards += sum(str(v).count("*") + str(v).count("?") for v in found)
                if key == "PathPatternConfig":
                    out._check("alb.path_pattern_length")
                    for v in found:
                        if len(str(v)) > limit("alb.path_pattern_length"):
                            out.error("alb.path_pattern_length", name, f"path pattern of {len(str(v))} characters")
            if "Values" in condition:
                values += len(condition["Values"])
        out.at_most("alb.condition_values_per_rule", name, values, "condition values")
        out.at_most("alb.wildcards_per_rule", name, wildcards, "wildcards")
    for listener, count in per_listener.items():
        out.at_most("alb.rules_per_listener", listener, count, "listener rules")


def _int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


_BY_TYPE = {
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::ElasticLoadBalancingV2::TargetGroup": _target_group,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::ECS::Service": _service,
    "AWS::CloudFront::Distribution": _distribution,
    "AWS::WAFv2::WebACL": _web_acl,
}
