"""Issue 20 (AWS): what a gated service adds to the template and what ECS is
told. Read on the rendered template: the alternate target group, ONE production
listener rule with all of the service's paths (ECS takes one per load balancer
entry), the test rule before it (the same paths and origin lock, plus the test
header's secret value), the ECS role that moves the weights (only these rules
and groups), the PassRole CloudFormation needs for it, the deployment
configuration ECS accepts (botocore's model) and CloudFormation's schema
(cfn-lint runs on every environment's template in test_infra_render)."""

from __future__ import annotations

import json

import parliament
import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from parity import iam_policy
from parity.errors import ConfigError
from parity.render.deployment import service_configuration
from parity.render.infra import render_template
from parity.render.infra.identities import concrete, service_role_policy

from .test_infra_render import stack_for

ACCOUNT, REGION = "123456789012", "eu-central-1"
ROLLING = {"services": {"website-agent": {"deployment": {"strategy": "rolling", "alarms": []}}}}


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="module")
def prod() -> dict:
    return render_template(stack_for("prod"))


def test_the_alternate_target_group_is_the_services_own_twin(prod):
    groups = resources(prod, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert groups["WebsiteAgentAlternateTargetGroup"]["Properties"] == groups["WebsiteAgentTargetGroup"]["Properties"]
    assert "CrawlerAlternateTargetGroup" not in groups  # internal, rolling


def test_one_production_rule_with_every_path_and_the_test_rule_before_it(prod):
    rules = resources(prod, "AWS::ElasticLoadBalancingV2::ListenerRule")
    assert set(rules) == {"WebsiteAgentTestRule", "WebsiteAgentProductionRule"}  # no per-route rule left for it
    test, production = rules["WebsiteAgentTestRule"]["Properties"], rules["WebsiteAgentProductionRule"]["Properties"]
    assert test["Priority"] < production["Priority"]

    def fields(rule):
        return {
            c["Field"] if c["Field"] != "http-header" else c["HttpHeaderConfig"]["HttpHeaderName"]: c
            for c in rule["Conditions"]
        }

    p, t = fields(production), fields(test)
    assert p["path-pattern"]["PathPatternConfig"]["Values"] == ["/api/*", "/*"]
    assert set(p) == {"path-pattern", "X-Origin-Verify"}  # production requires the origin lock, as before
    assert set(t) == {"path-pattern", "X-Origin-Verify", "X-Test-Traffic"}  # test: the same, and the test header
    assert t["path-pattern"] == p["path-pattern"] and t["X-Origin-Verify"] == p["X-Origin-Verify"]
    assert t["X-Test-Traffic"]["HttpHeaderConfig"]["Values"] == [
        "{{resolve:secretsmanager:huskit/prod/edge-test:SecretString:value}}"
    ]
    for rule in (
        test,
        production,
    ):  # ECS moves the weights between the two groups; the template keeps them where ECS left them
        assert rule["Actions"] == [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": {"Ref": "WebsiteAgentTargetGroup"}, "Weight": {"Fn::If": ["WebsiteAgentServesAlternate", 0, 100]}},
            {"TargetGroupArn": {"Ref": "WebsiteAgentAlternateTargetGroup"}, "Weight": {"Fn::If": ["WebsiteAgentServesAlternate", 100, 0]}},
        ]}}]  # fmt: skip
    assert prod["Parameters"]["WebsiteAgentProductionTargetGroup"]["Default"] == "primary"
    assert prod["Conditions"]["WebsiteAgentServesAlternate"] == {
        "Fn::Equals": [{"Ref": "WebsiteAgentProductionTargetGroup"}, "alternate"]
    }


def test_the_test_header_passes_cloudfront_and_the_waf_like_any_header(prod):
    dist = prod["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    # the managed AllViewerExceptHostHeader policy forwards every viewer header but Host to the ALB
    assert dist["DefaultCacheBehavior"]["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    assert all(
        b["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
        for b in dist["CacheBehaviors"]
        if b["TargetOriginId"] == "alb"
    )
    # and it is not one CloudFront sets itself (an origin custom header would overwrite the viewer's)
    assert all(h["HeaderName"] != "X-Test-Traffic" for o in dist["Origins"] for h in o.get("OriginCustomHeaders", []))


def test_the_secret_is_generated_retained_and_never_in_the_template(prod):
    secret = prod["Resources"]["EdgeTestSecret"]
    assert secret["Properties"]["Name"] == "huskit/prod/edge-test"
    assert secret["Properties"]["GenerateSecretString"]["GenerateStringKey"] == "value"
    assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"
    assert "SecretString" not in secret["Properties"]


def test_the_service_names_its_alternate_group_rules_and_role(prod):
    props = prod["Resources"]["WebsiteAgentService"]["Properties"]
    assert props["LoadBalancers"][0]["AdvancedConfiguration"] == {
        "AlternateTargetGroupArn": {"Ref": "WebsiteAgentAlternateTargetGroup"},
        "ProductionListenerRule": {"Ref": "WebsiteAgentProductionRule"},
        "TestListenerRule": {"Ref": "WebsiteAgentTestRule"},
        "RoleArn": {"Fn::GetAtt": ["EcsLoadBalancersRole", "Arn"]},
    }
    dc = props["DeploymentConfiguration"]
    assert dc["Strategy"] == "BLUE_GREEN" and dc["BakeTimeInMinutes"] == 10
    assert dc["Alarms"] == {"AlarmNames": [{"Ref": "WebsiteAgentTarget5xxAlarm"}], "Enable": True, "Rollback": True}
    assert "LifecycleHooks" not in dc  # CloudFormation cannot express a PAUSE hook: promote sets it
    assert "AdvancedConfiguration" not in json.dumps(prod["Resources"]["CrawlerService"])


def test_staging_names_its_own_alarm():
    dc = render_template(stack_for("staging"))["Resources"]["WebsiteAgentService"]["Properties"][
        "DeploymentConfiguration"
    ]
    assert dc["Alarms"]["AlarmNames"] == [{"Ref": "WebsiteAgentTarget5xxAlarm"}]  # huskit-staging-website-agent-5xx


def test_the_5xx_alarm_of_a_gated_service_counts_both_groups(prod):
    alarm = prod["Resources"]["WebsiteAgentTarget5xxAlarm"]["Properties"]
    groups = [
        m["MetricStat"]["Metric"]["Dimensions"][1]["Value"]["Fn::GetAtt"][0]
        for m in alarm["Metrics"]
        if "MetricStat" in m
    ]
    assert groups == ["WebsiteAgentTargetGroup", "WebsiteAgentAlternateTargetGroup"]
    assert [m for m in alarm["Metrics"] if m.get("ReturnData")] == [
        {"Id": "both", "Expression": "blue + green", "ReturnData": True}
    ]
    assert "Period" not in alarm and "MetricName" not in alarm


def test_a_rolling_service_renders_as_before():
    template = render_template(stack_for("prod", ROLLING))
    rules = resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule")
    assert set(rules) == {"WebsiteAgentRoute1", "WebsiteAgentRoute2"}
    assert rules["WebsiteAgentRoute1"]["Properties"]["Actions"] == [
        {"Type": "forward", "TargetGroupArn": {"Ref": "WebsiteAgentTargetGroup"}}
    ]
    for gone in ("WebsiteAgentAlternateTargetGroup", "EdgeTestSecret", "EcsLoadBalancersRole"):
        assert gone not in template["Resources"]
    assert template["Resources"]["WebsiteAgentService"]["Properties"]["DeploymentConfiguration"] == {
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}, "MaximumPercent": 200, "MinimumHealthyPercent": 100,
    }  # fmt: skip


def test_too_many_condition_values_for_the_test_rule_is_one_line_naming_the_service():
    routes = [
        {"path": "/assets/", "origin": "s3", "cache": "immutable"},
        {"path": "/api/", "origin": "website-agent", "cache": "none"},
        {"path": "/auth/", "origin": "website-agent", "cache": "none"},
        {"path": "/", "origin": "website-agent", "cache": "none"},
    ]
    with pytest.raises(ConfigError) as exc:
        render_template(stack_for("prod", {"edge": {"routes": routes}}))
    assert str(exc.value).startswith(
        "services.website-agent.deployment.strategy: its test listener rule would hold 6 condition values"
    )
    assert "at most 5" in str(exc.value)


def test_merged_paths_that_would_shadow_another_services_route_are_refused():
    extra = {
        "services": {"crawler": {"exposure": "public", "discovery": None}},
        "edge": {"routes": [
            {"path": "/assets/", "origin": "s3", "cache": "immutable"},
            {"path": "/api/x/", "origin": "website-agent", "cache": "none"},
            {"path": "/api/", "origin": "crawler", "cache": "none"},
            {"path": "/", "origin": "website-agent", "cache": "none"},
        ]},
    }  # fmt: skip
    try:
        stack = stack_for("prod", extra)
    except ConfigError:
        pytest.skip("the spec refuses a public crawler here already")
    with pytest.raises(
        ConfigError,
        match=r"^services\.website-agent\.deployment\.strategy: .*route /api/ \(crawler\) lies between them",
    ):
        render_template(stack)


def _nlb_quirk(finding) -> bool:
    """parliament's table gives ModifyRule an NLB rule format as well, and flags
    an ALB rule's ARN for not matching it: AWS's own managed policy
    (AmazonECSInfrastructureRolePolicyForLoadBalancers) gets the same finding."""
    return finding.issue == "RESOURCE_MISMATCH" and all(
        d["action"] == "elasticloadbalancing:ModifyRule" and "listener-rule/net/" in d["required_format"]
        for d in finding.detail
    )


def test_parliament_flags_aws_managed_policy_for_the_same_modify_rule_quirk():
    managed = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "elasticloadbalancing:ModifyRule",
        "Resource": ["arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*/*"],
    }]}  # fmt: skip
    found = parliament.analyze_policy_string(json.dumps(managed)).findings
    assert found and all(_nlb_quirk(f) for f in found)


def _lb_role(template: dict) -> dict:
    return template["Resources"]["EcsLoadBalancersRole"]["Properties"]


def test_the_ecs_role_is_trusted_by_ecs_and_may_touch_only_the_gated_rules_and_groups(prod):
    role = _lb_role(prod)
    assert role["RoleName"] == "huskit-ecs-load-balancers"
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    doc = role["Policies"][0]["PolicyDocument"]
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ShiftTheWeights"]["Resource"] == [
        {"Ref": "WebsiteAgentProductionRule"},
        {"Ref": "WebsiteAgentTestRule"},
    ]
    assert by_sid["MoveTheTargets"]["Resource"] == [
        {"Ref": "WebsiteAgentTargetGroup"},
        {"Ref": "WebsiteAgentAlternateTargetGroup"},
    ]
    assert "ModifyListener" not in json.dumps(doc)  # the rules are ECS's, the listener is not
    # parliament, with the Refs as the ARNs CloudFormation gives them
    arns = {
        "WebsiteAgentProductionRule": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/app/huskit/1/2/3",
        "WebsiteAgentTestRule": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/app/huskit/1/2/4",
        "WebsiteAgentTargetGroup": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/blue/1",
        "WebsiteAgentAlternateTargetGroup": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/green/2",
    }
    text = json.dumps(doc)
    for name, value in arns.items():
        text = text.replace(json.dumps({"Ref": name}), json.dumps(value))
    concrete_doc = json.loads(text)
    assert [f for f in parliament.analyze_policy_string(json.dumps(concrete_doc)).findings if not _nlb_quirk(f)] == []
    other = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/app/other/9/9/9"
    assert iam_policy.evaluate(
        [concrete_doc], "elasticloadbalancing:ModifyRule", arns["WebsiteAgentTestRule"], {}
    ).allowed
    assert not iam_policy.evaluate([concrete_doc], "elasticloadbalancing:ModifyRule", other, {}).allowed


def test_cloudformation_may_pass_the_ecs_role_to_ecs_only_and_the_task_roles_not_to_ecs():
    policy = concrete(service_role_policy(stack_for("prod")), ACCOUNT, REGION)
    lb = f"arn:aws:iam::{ACCOUNT}:role/huskit-ecs-load-balancers"
    task = f"arn:aws:iam::{ACCOUNT}:role/huskit-ecs-task-role"

    def passes(role: str, to: str) -> bool:
        return iam_policy.evaluate([policy], "iam:PassRole", role, {"iam:PassedToService": to}).allowed

    assert passes(lb, "ecs.amazonaws.com") and not passes(lb, "ecs-tasks.amazonaws.com")
    assert passes(task, "ecs-tasks.amazonaws.com") and not passes(task, "ecs.amazonaws.com")
    rolling = concrete(service_role_policy(stack_for("prod", ROLLING)), ACCOUNT, REGION)
    assert "PassTheLoadBalancerRoleToEcs" not in json.dumps(rolling)


@pytest.mark.parametrize("strategy,extra", [
    ("blue_green", {}), ("canary", {"canary": {"percent": 12.5, "bake_minutes": 3}}), ("linear", {}),
])  # fmt: skip
def test_what_promote_tells_ecs_is_valid_input_for_update_service(strategy, extra):
    stack = stack_for("prod", {"services": {"website-agent": {"deployment": {"strategy": strategy, **extra}}}})
    dc = service_configuration(stack, "website-agent")
    model = get_session().get_service_model("ecs").operation_model("UpdateService").input_shape
    report = ParamValidator().validate({"service": "s", "deploymentConfiguration": dc}, model)
    assert not report.has_errors(), report.generate_report()
    assert dc["strategy"] == strategy.upper()
    assert dc["lifecycleHooks"] == [{
        "targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"timeoutInMinutes": 30, "action": "ROLLBACK"},
    }]  # fmt: skip
    if strategy == "canary":
        assert dc["canaryConfiguration"] == {"canaryPercent": 12.5, "canaryBakeTimeInMinutes": 3}
    if strategy == "linear":
        assert dc["linearConfiguration"] == {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
    assert service_configuration(stack, "crawler") == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}, "maximumPercent": 200, "minimumHealthyPercent": 100,
    }  # fmt: skip


class _Rules:
    def __init__(self, weights):
        self.weights, self.asked = weights, []

    def rule_weights(self, arn):
        self.asked.append(arn)
        return self.weights


class _Cfn:
    def physical_ids(self, name):
        assert name == "huskit-prod"
        return {"WebsiteAgentProductionRule": "arn:rule/prod", "WebsiteAgentAlternateTargetGroup": "arn:tg/green",
                "WebsiteAgentTargetGroup": "arn:tg/blue"}  # fmt: skip


@pytest.mark.parametrize("weights,expected", [
    ({"arn:tg/blue": 100, "arn:tg/green": 0}, "primary"),
    ({"arn:tg/blue": 0, "arn:tg/green": 100}, "alternate"),  # after an odd number of deployments
])  # fmt: skip
def test_infra_plan_passes_back_the_group_production_is_on(weights, expected):
    from parity.app.infrastructure.infra import InfraContext, _serving

    ctx = InfraContext(stack=stack_for("prod"), cfn=_Cfn(), ecs=None, rules=_Rules(weights))
    assert _serving(ctx, "website-agent", {"WebsiteAgentProductionRule"}) == expected
    assert ctx.rules.asked == ["arn:rule/prod"]
    assert _serving(ctx, "website-agent", set()) == "primary"  # before the rule exists: nothing is read


def test_only_the_deploy_roles_read_the_weights_and_only_where_a_service_is_gated():
    from parity.render.infra.identities import job_policy

    for kind in ("plan", "apply", "promote"):
        assert "elasticloadbalancing:DescribeRules" in json.dumps(job_policy(stack_for("prod"), kind))
        assert "elasticloadbalancing:DescribeRules" not in json.dumps(job_policy(stack_for("prod", ROLLING), kind))
