"""What a gated service (``deployment.strategy`` blue_green, canary or linear)
adds to the ALB, and the role ECS shifts its traffic with.

- an alternate target group (the same settings as the service's own): ECS
  starts the new revision there, and swaps the two at each deployment;
- ONE production listener rule (ECS takes one per load balancer entry) holding
  all of the service's route paths, and a test listener rule before it: the
  same paths and origin lock, plus the test header (``edge.test_traffic``)
  with the secret's value. Both forward to the two target groups by weight
  (100/0); ECS moves the weights. A test request passes CloudFront (whose
  origin request policy forwards every viewer header but Host) and the WAF
  like any request; only the header's value tells the ALB to send it to the
  new revision;
- the test header's secret, created like the origin lock's (a generated value,
  retained; the rule holds a dynamic reference, never the value);
- the ECS infrastructure role for load balancers (AdvancedConfiguration's
  roleArn): AWS's managed policy AmazonECSInfrastructureRolePolicyForLoadBalancers
  narrowed to this environment's gated rules and target groups.

A rule holds at most ``alb.condition_values_per_rule`` condition values
(paths, the lock's one or two values, the test header's): a spec that needs
more is refused, naming the service."""

from __future__ import annotations

from typing import Any

from parity.errors import ConfigError
from parity.limits import limit
from parity.render.infra.common import Template, logical, prefix, ref

TEST_SECRET = "EdgeTestSecret"
ECS_LB_ROLE = "EcsLoadBalancersRole"


def alternate_target_group(service: str) -> str:
    return f"{logical(service)}AlternateTargetGroup"


def production_rule(service: str) -> str:
    return f"{logical(service)}ProductionRule"


def test_rule(service: str) -> str:
    return f"{logical(service)}TestRule"


def gated_public(stack: Any) -> list[str]:
    """The public services with a gated strategy (the others render as before)."""
    return [s for s in stack.public_services() if stack.services[s].deployment.gated]


def role_name(stack: Any) -> str:
    return f"{prefix(stack)}-ecs-load-balancers"


def test_secret_value(stack: Any) -> str:
    """The test header's value as a dynamic reference (CloudFormation resolves it; the template never holds it)."""
    tt = stack.edge.test_traffic
    return f"{{{{resolve:secretsmanager:{stack.secret_name(tt.secret)}:SecretString:{tt.secret.key}}}}}"


def _paths(stack: Any, service: str) -> list[str]:
    routes = sorted((r for r in stack.edge.routes if r.origin == service), key=lambda r: -len(r.path))
    return [f"{r.path}*" for r in routes]


def check_order(stack: Any) -> None:
    """One rule for all of a gated service's paths is right only if no other
    service's route falls between them: a route of another service under one
    of the gated service's shorter paths would be shadowed by the merged rule."""
    for service in gated_public(stack):
        mine = [r.path for r in stack.edge.routes if r.origin == service]
        for route in stack.edge.routes:
            if route.origin in (service, "s3"):
                continue
            shadowed = [
                p
                for p in mine
                if route.path.startswith(p) and route.path != p and any(len(m) > len(route.path) for m in mine)
            ]
            if shadowed:
                raise ConfigError(
                    f"services.{service}.deployment.strategy: {stack.services[service].deployment.strategy} puts all of "
                    f"{service}'s paths in one listener rule (ECS takes one production rule), but route {route.path} "
                    f"({route.origin}) lies between them (under {shadowed[0]})",
                    hint="keep the gated service's paths apart from the other services' routes, or deploy it rolling",
                )


def serving_parameter(service: str) -> str:
    """Which of the service's two target groups production is on now: ECS moves
    it at each deployment; infra-plan/apply read it back from the production
    rule's live weights (as they read the revision), so a rule CloudFormation
    rewrites (an origin lock rotation changes its conditions) keeps it there."""
    return f"{logical(service)}ProductionTargetGroup"


def _serves_alternate(service: str) -> str:
    return f"{logical(service)}ServesAlternate"


def _forward(t: Template, service: str) -> list[dict[str, Any]]:
    param, cond = serving_parameter(service), _serves_alternate(service)
    t.parameters[param] = {
        "Type": "String",
        "AllowedValues": ["primary", "alternate"],
        "Default": "primary",
        "Description": f"The target group {service}'s production traffic is on (infra-plan/apply read it from the live rule)",
    }
    t.conditions[cond] = {"Fn::Equals": [ref(param), "alternate"]}
    return [{
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": ref(f"{logical(service)}TargetGroup"), "Weight": {"Fn::If": [cond, 0, 100]}},
            {"TargetGroupArn": ref(alternate_target_group(service)), "Weight": {"Fn::If": [cond, 100, 0]}},
        ]},
    }]  # fmt: skip


def _count(conditions: list[dict[str, Any]]) -> int:
    total = 0
    for c in conditions:
        if "PathPatternConfig" in c:
            total += len(c["PathPatternConfig"]["Values"])
        else:
            values = c["HttpHeaderConfig"]["Values"]
            total += len(values["Fn::If"][1]) if isinstance(values, dict) else len(values)  # the most it may hold
    return total


def add_rules(t: Template, listener: str, service: str, locked: list[dict[str, Any]], priority: int) -> int:
    """The test rule (at ``priority``) and the production rule (after it); returns the next priority."""
    stack = t.stack
    paths = [{"Field": "path-pattern", "PathPatternConfig": {"Values": _paths(stack, service)}}]
    tt = stack.edge.test_traffic
    test = [
        {
            "Field": "http-header",
            "HttpHeaderConfig": {"HttpHeaderName": tt.header, "Values": [test_secret_value(stack)]},
        }
    ]
    most = limit("alb.condition_values_per_rule")
    if _count([*paths, *locked, *test]) > most:
        raise ConfigError(
            f"services.{service}.deployment.strategy: its test listener rule would hold {_count([*paths, *locked, *test])} "
            f"condition values ({len(paths[0]['PathPatternConfig']['Values'])} paths, the origin lock's, the test header's); "
            f"an ALB rule holds at most {most}",
            hint=f"route fewer paths to {service}, or deploy it rolling",
        )
    depends = [TEST_SECRET, *(["EdgeOriginSecret"] if locked else [])]
    t.add(test_rule(service), "AWS::ElasticLoadBalancingV2::ListenerRule", {
        "ListenerArn": ref(listener), "Priority": priority,
        "Conditions": [*paths, *locked, *test],
        "Actions": _forward(t, service),
    }, DependsOn=depends)  # fmt: skip
    t.add(production_rule(service), "AWS::ElasticLoadBalancingV2::ListenerRule", {
        "ListenerArn": ref(listener), "Priority": priority + 1,
        "Conditions": [*paths, *locked],
        "Actions": _forward(t, service),
    }, **({"DependsOn": "EdgeOriginSecret"} if locked else {}))  # fmt: skip
    return priority + 2


def add_secret(t: Template) -> None:
    """The test header's secret (a generated value, retained), once."""
    stack = t.stack
    tt = stack.edge.test_traffic
    if tt is None or not gated_public(stack) or TEST_SECRET in t.resources:
        return
    t.add(TEST_SECRET, "AWS::SecretsManager::Secret", {
        "Name": stack.secret_name(tt.secret),
        "Description": f"{stack.project} {stack.env}: the header that sends a request to a gated deployment's new revision "
                       f"({tt.header}); promote reads it for the e2e gate",
        "GenerateSecretString": {
            "SecretStringTemplate": "{}", "GenerateStringKey": tt.secret.key,
            "PasswordLength": 48, "ExcludePunctuation": True,
        },
    }, DeletionPolicy="Retain", UpdateReplacePolicy="Retain")  # fmt: skip


def add_role(t: Template) -> None:
    """ECS's infrastructure role for load balancers: read the ALB, move the
    gated services' targets and rule weights; nothing of any other environment."""
    stack = t.stack
    services = gated_public(stack)
    if not services:
        return
    groups = [ref(f"{logical(s)}TargetGroup") for s in services] + [ref(alternate_target_group(s)) for s in services]
    rules = [ref(production_rule(s)) for s in services] + [ref(test_rule(s)) for s in services]
    t.add(ECS_LB_ROLE, "AWS::IAM::Role", {
        "RoleName": role_name(stack),
        "Description": f"ECS shifts the traffic of {stack.project} {stack.env}'s blue/green deployments",
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}],
        },
        "Policies": [{"PolicyName": "shift-traffic", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {
                # no resource-level permission exists for the Describe actions (Service Authorization Reference)
                "Sid": "ReadTheLoadBalancer",
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
                ],
                "Resource": "*",
            },
            {
                "Sid": "MoveTheTargets",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"],
                "Resource": groups,
            },
            {"Sid": "ShiftTheWeights", "Effect": "Allow", "Action": "elasticloadbalancing:ModifyRule", "Resource": rules},
        ]}}],
    })  # fmt: skip


def advanced_configuration(service: str) -> dict[str, Any]:
    """The service's LoadBalancers[0].AdvancedConfiguration."""
    return {
        "AlternateTargetGroupArn": ref(alternate_target_group(service)),
        "ProductionListenerRule": ref(production_rule(service)),
        "TestListenerRule": ref(test_rule(service)),
        "RoleArn": {"Fn::GetAtt": [ECS_LB_ROLE, "Arn"]},
    }
