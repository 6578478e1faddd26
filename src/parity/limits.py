"""AWS's documented limits that the toolkit relies on: one table, each number
with the page that documents it. No emulator enforces these (moto and
LocalStack accept a security group over quota, a 0.25 vCPU task with 1536
MiB, a target group's unhealthy threshold of 1), so they are checked here:
the spec's bounds read them (``parity.spec.models``) and the rendered
template is verified against them (``parity.render.infra.verify``).

``adjustable`` marks a quota that a Service Quotas request can raise: the
value is the default, and going past it is a warning that names the quota,
not an error. This module imports nothing of the toolkit's (the spec and the
renderers both read it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VPC_QUOTAS = "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups"
CLOUDFRONT_PREFIX_LIST = (
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/LocationsOfEdgeServers.html#managed-prefix-list"
)
ECS_HEALTH_CHECK = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html"
FARGATE_TASK_SIZE = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size"
)
FARGATE_STORAGE = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-storage.html"
TARGET_GROUP = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html"
TARGET_GROUP_DRAIN = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay"
ALB_IDLE = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout"
ALB_QUOTAS = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html"
ALB_PATH_CONDITION = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html#path-conditions"
)
CLOUDFRONT_QUOTAS = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html"
CLOUDFRONT_TIMEOUT = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html#DownloadDistValuesOriginResponseTimeout"
WAF_RATE = (
    "https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-high-level-settings.html"
)
WAF_QUOTAS = "https://docs.aws.amazon.com/waf/latest/developerguide/limits.html"
WAF_WCU = "https://docs.aws.amazon.com/waf/latest/developerguide/aws-waf-capacity-units.html"
WAF_MANAGED = "https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html"
WAF_STRING_MATCH = "https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-string-match.html"
WAF_RATE_STATEMENT = "https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html"
WAF_IP_SET = "https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-ipset-match.html"
WAF_LABEL_MATCH = "https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-label-match.html"


@dataclass(frozen=True)
class Limit:
    """One documented number (or range, or table)."""

    name: str
    value: Any
    what: str
    source: str
    adjustable: bool = False  # a default quota Service Quotas can raise

    def line(self) -> str:
        return (
            f"{self.name} = {self.value}: {self.what}{' (adjustable quota)' if self.adjustable else ''} [{self.source}]"
        )


# Fargate's task sizes: CPU units -> the memory values (MiB) it offers with them,
# row by row as AWS's table lists them (Linux; 8 and 16 vCPU need platform 1.4.0).
_FARGATE = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# The web ACL capacity units (WCUs) of the AWS managed rule groups, as AWS's list gives them.
_MANAGED_WCU = {
    "AWSManagedRulesCommonRuleSet": 700,
    "AWSManagedRulesKnownBadInputsRuleSet": 200,
    "AWSManagedRulesAdminProtectionRuleSet": 100,
    "AWSManagedRulesSQLiRuleSet": 200,
    "AWSManagedRulesLinuxRuleSet": 200,
    "AWSManagedRulesUnixRuleSet": 100,
    "AWSManagedRulesAmazonIpReputationList": 25,
    "AWSManagedRulesAnonymousIpList": 50,
    "AWSManagedRulesBotControlRuleSet": 50,
}

_TABLE = [
    # EC2 / VPC
    Limit("sg.inbound_rules", 60, "inbound rules per security group (IPv4 and IPv6 counted apart)", VPC_QUOTAS, True),
    Limit("sg.per_interface", 5, "security groups per network interface (an ECS task, the ALB)", VPC_QUOTAS, True),
    Limit(
        "prefix_list.cloudfront_origin_facing",
        55,
        "weight of com.amazonaws.global.cloudfront.origin-facing in a rule: its max entries count as that many rules",
        CLOUDFRONT_PREFIX_LIST,
    ),
    # ECS / Fargate
    Limit("ecs.health.interval", (5, 300), "container health check interval, seconds", ECS_HEALTH_CHECK),
    Limit("ecs.health.timeout", (2, 60), "container health check timeout, seconds", ECS_HEALTH_CHECK),
    Limit("ecs.health.retries", (1, 10), "container health check retries", ECS_HEALTH_CHECK),
    Limit("ecs.health.start_period", (0, 300), "container health check start period, seconds", ECS_HEALTH_CHECK),
    Limit(
        "fargate.sizes",
        _FARGATE,
        "task CPU units -> the memory values (MiB) Fargate offers with them",
        FARGATE_TASK_SIZE,
    ),
    Limit("fargate.ephemeral_storage", (21, 200), "task ephemeral storage, GiB", FARGATE_STORAGE),
    # Application Load Balancer
    Limit("tg.health.interval", (5, 300), "target group health check interval, seconds", TARGET_GROUP),
    Limit(
        "tg.health.timeout",
        (2, 120),
        "target group health check timeout, seconds (less than the interval)",
        TARGET_GROUP,
    ),
    Limit("tg.healthy_threshold", (2, 10), "target group healthy threshold count", TARGET_GROUP),
    Limit("tg.unhealthy_threshold", (2, 10), "target group unhealthy threshold count", TARGET_GROUP),
    Limit("tg.deregistration_delay", (0, 3600), "target group deregistration delay, seconds", TARGET_GROUP_DRAIN),
    Limit("alb.idle_timeout", (1, 4000), "load balancer idle timeout, seconds", ALB_IDLE),
    Limit("alb.security_groups", 5, "security groups per load balancer", ALB_QUOTAS),
    Limit("alb.rules_per_listener", 100, "rules per listener, the default rule not counted", ALB_QUOTAS, True),
    Limit("alb.condition_values_per_rule", 5, "condition values per listener rule", ALB_QUOTAS),
    Limit("alb.wildcards_per_rule", 5, "condition wildcards per listener rule", ALB_QUOTAS),
    Limit("alb.path_pattern_length", 128, "characters in a path-pattern value", ALB_PATH_CONDITION),
    # CloudFront
    Limit(
        "cloudfront.origin_response_timeout",
        (1, 60),
        "origin response timeout, seconds, without a quota increase ('Response timeout per origin')",
        CLOUDFRONT_TIMEOUT,
        True,
    ),
    Limit(
        "cloudfront.origin_response_timeout_max",
        180,
        "origin response timeout, seconds, with a quota increase",
        CLOUDFRONT_QUOTAS,
    ),
    Limit(
        "cloudfront.origin_keepalive_timeout",
        (1, 60),
        "origin keep-alive timeout, seconds, without a quota increase",
        CLOUDFRONT_QUOTAS,
        True,
    ),
    Limit("cloudfront.cache_behaviors", 25, "cache behaviours per distribution", CLOUDFRONT_QUOTAS, True),
    Limit("cloudfront.origins", 25, "origins per distribution", CLOUDFRONT_QUOTAS, True),
    # WAF
    Limit("waf.rate_limit", (10, 2_000_000_000), "a rate-based rule's request limit", WAF_RATE),
    Limit("waf.rate_windows", (60, 120, 300, 600), "a rate-based rule's evaluation windows, seconds", WAF_RATE),
    Limit("waf.rate_rules_per_acl", 10, "rate-based rules per web ACL", WAF_QUOTAS, True),
    Limit("waf.wcu_included", 1500, "web ACL capacity units without extra charge", WAF_WCU),
    Limit("waf.wcu_max", 5000, "web ACL capacity units, at most", WAF_WCU),
    Limit("waf.wcu.managed", _MANAGED_WCU, "capacity units of the AWS managed rule groups", WAF_MANAGED),
    Limit(
        "waf.wcu.string_match",
        {"EXACTLY": 2, "STARTS_WITH": 2, "ENDS_WITH": 2, "CONTAINS": 10, "CONTAINS_WORD": 10},
        "string match base cost by positional constraint",
        WAF_STRING_MATCH,
    ),
    Limit("waf.wcu.text_transformation", 10, "capacity units per text transformation", WAF_STRING_MATCH),
    Limit(
        "waf.wcu.rate_based", 2, "rate-based statement's base cost (plus its scope-down statement)", WAF_RATE_STATEMENT
    ),
    Limit("waf.wcu.ip_set", 1, "IP set reference statement", WAF_IP_SET),
    Limit("waf.wcu.label_match", 1, "label match statement", WAF_LABEL_MATCH),
]

LIMITS: dict[str, Limit] = {limit.name: limit for limit in _TABLE}


def limit(name: str) -> Any:
    """The value of one limit (KeyError for a name the table does not hold)."""
    return LIMITS[name].value


def low(name: str) -> int:
    return LIMITS[name].value[0]


def high(name: str) -> int:
    return LIMITS[name].value[-1]


FARGATE_SIZES: dict[int, tuple[int, ...]] = _FARGATE
