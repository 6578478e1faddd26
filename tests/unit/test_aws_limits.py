"""AWS's documented limits (parity.limits) made to run: the rendered template
of every environment against them (quotas no emulator enforces: a managed
prefix list's weight in a security group, a web ACL's capacity, listener rule
values, CloudFront's timeouts), and the spec's bounds read from the same
table, each breach one line with its key path (issue 16, findings 1 and 7)."""

from __future__ import annotations

import copy
import re

import pytest

from parity.errors import ConfigError, ParityError
from parity.limits import FARGATE_SIZES, LIMITS
from parity.render.infra import render_edge_template, render_template
from parity.render.infra.verify import verify

from .test_infra_render import stack_for

ENVS = ["local", "staging", "prod"]


def lines(result):
    return [f.line() for f in result.findings]


def test_every_limit_names_the_aws_page_that_documents_it():
    for name, lim in LIMITS.items():
        assert re.fullmatch(r"https://docs\.aws\.amazon\.com/\S+\.html(#[\w-]+)?", lim.source), name
        assert lim.what and lim.value is not None, name


def test_fargate_sizes_are_aws_table_row_by_row():
    """The documented task sizes (Linux): 0.25 vCPU offers 512, 1024 and 2048 MiB only."""
    assert FARGATE_SIZES[256] == (512, 1024, 2048)
    assert FARGATE_SIZES[512] == (1024, 2048, 3072, 4096)
    assert FARGATE_SIZES[1024] == tuple(range(2048, 8193, 1024))
    assert FARGATE_SIZES[2048] == tuple(range(4096, 16385, 1024))
    assert FARGATE_SIZES[4096] == tuple(range(8192, 30721, 1024))
    assert FARGATE_SIZES[8192] == tuple(range(16384, 61441, 4096))
    assert FARGATE_SIZES[16384] == tuple(range(32768, 122881, 8192))


@pytest.mark.parametrize("env", ENVS)
def test_every_environments_templates_are_within_aws_limits(env):
    templates = [render_template(stack_for(env))]
    if env != "local":
        templates.append(render_edge_template(stack_for(env)))
    for template in templates:
        result = verify(template)
        assert result.findings == [], lines(result)
        assert result.not_checked == []
    checked = [name for t in templates for name in verify(t).checked]
    assert {"sg.inbound_rules", "fargate.sizes", "ecs.health.timeout", "tg.unhealthy_threshold",
            "cloudfront.origin_response_timeout", "waf.wcu_max"} <= set(checked)  # fmt: skip


def test_the_alb_group_holds_the_prefix_list_once():
    """Finding 1: the CloudFront origin-facing list weighs 55 rules against the
    group's 60; referenced for 443 and 80 it weighed 110 and the create failed."""
    template = render_template(stack_for("prod"))
    ingress = template["Resources"]["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [(r["FromPort"], r["SourcePrefixListId"]) for r in ingress] == [(443, {"Ref": "CloudFrontPrefixList"})]
    assert verify(template).findings == []

    twice = copy.deepcopy(template)  # what the template rendered before: 443 and 80
    twice["Resources"]["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"].append(
        {**ingress[0], "FromPort": 80, "ToPort": 80}
    )
    (finding,) = verify(twice).findings
    assert (finding.level, finding.limit, finding.where) == ("error", "sg.inbound_rules", "AlbSecurityGroup")
    assert finding.message.startswith("110 inbound IPv4 rules")


def test_ingress_resources_count_against_their_group_too():
    template = render_template(stack_for("prod"))
    for i in range(6):  # 55 + 6 = 61: one over
        template["Resources"][f"Extra{i}"] = {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {"GroupId": {"Fn::GetAtt": ["AlbSecurityGroup", "GroupId"]}, "IpProtocol": "tcp",
                           "FromPort": 8000 + i, "ToPort": 8000 + i, "CidrIp": f"10.9.{i}.0/24"},
        }  # fmt: skip
    assert [f.message[:21] for f in verify(template).errors] == ["61 inbound IPv4 rules"]
    del template["Resources"]["Extra5"]
    assert verify(template).errors == []


def test_a_template_over_a_limit_is_refused_before_any_aws_call():
    from parity.app.infrastructure.infra import within_limits

    template = render_template(stack_for("prod"))
    template["Resources"]["WebsiteAgentTargetGroup"]["Properties"]["UnhealthyThresholdCount"] = 1
    with pytest.raises(ParityError) as exc:
        within_limits(template, lambda _l: None)
    assert str(exc.value).startswith(
        "the rendered template breaks AWS's limits: WebsiteAgentTargetGroup: UnhealthyThresholdCount 1 is outside 2-10"
    )
    assert exc.value.details == [
        (
            "error: WebsiteAgentTargetGroup: UnhealthyThresholdCount 1 is outside 2-10 "
            f"(tg.unhealthy_threshold, {LIMITS['tg.unhealthy_threshold'].source})"
        )
    ]


def test_listener_rules_and_web_acl_capacity():
    template = render_template(stack_for("local"))
    template["Resources"]["ApiRule"] = {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule", "Properties": {
        "ListenerArn": {"Ref": "HttpListener"}, "Priority": 1, "Actions": [],
        "Conditions": [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}},
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "x-origin", "Values": ["a", "b", "c", "d", "e"]}},
        ],
    }}  # fmt: skip
    acl = template["Resources"]["WebAcl"]["Properties"]
    base = verify(render_template(stack_for("local")))
    assert base.findings == []
    for group in ("AWSManagedRulesSQLiRuleSet", "AWSManagedRulesLinuxRuleSet", "AWSManagedRulesAdminProtectionRuleSet",
                  "AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList"):  # fmt: skip
        acl["Rules"].append({"Name": group, "Priority": len(acl["Rules"]), "OverrideAction": {"None": {}},
                             "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": group}},
                             "VisibilityConfig": {}})  # fmt: skip
    result = verify(template)
    found = {(f.level, f.limit): f.message for f in result.findings}
    assert found[("error", "alb.condition_values_per_rule")] == "6 condition values, over 5"
    # 700 + 200 (Common, KnownBadInputs) + 1 (allow list) + 2 x (2 + 2 + 10) (rate rules)
    # + 2 x (1 + 2 + 10) (the overrides' scope-down rules: a label AND NOT an exact path) + 575
    assert found[("warning", "waf.wcu_included")].startswith("at least 1530 capacity units")
    acl["Rules"].append({"Name": "regex", "Statement": {"RegexMatchStatement": {}}})
    assert "WebAcl: capacity of rule(s) regex (a statement the table has no WCU for)" in verify(template).not_checked


def test_an_origin_timeout_past_60_is_accepted_and_named_as_a_quota_increase():
    """Finding 7: CloudFront takes 1-60 s without a quota increase, up to 180 with one."""
    from parity.app.infrastructure.infra import render

    stack = stack_for("prod", {"edge": {"origin_response_timeout": 90}})
    seen: list[str] = []
    body = render(stack, report=seen.append)
    assert '"OriginReadTimeout": 90' in body
    assert seen == [
        (
            "warning: Distribution.Origins.alb: origin response timeout 90 s is over 60 s: CloudFront refuses it until "
            "the account's quota is raised (Service Quotas: CloudFront, 'Response timeout per origin') "
            f"(cloudfront.origin_response_timeout, {LIMITS['cloudfront.origin_response_timeout'].source})"
        )
    ]
    seen.clear()
    render(stack_for("prod"), report=seen.append)
    assert seen == []
    with pytest.raises(ConfigError, match=r"edge.origin_response_timeout: Input should be less than or equal to 180"):
        stack_for("prod", {"edge": {"origin_response_timeout": 181}})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"services": {"crawler": {"health": {"timeout": 61}}}},
         "services.crawler.health.timeout: Input should be less than or equal to 60"),
        ({"services": {"crawler": {"health": {"timeout": 1}}}},
         "services.crawler.health.timeout: Input should be greater than or equal to 2"),
        ({"services": {"crawler": {"health": {"interval": 301}}}},
         "services.crawler.health.interval: Input should be less than or equal to 300"),
        ({"services": {"crawler": {"health": {"retries": 11}}}},
         "services.crawler.health.retries: Input should be less than or equal to 10"),
        ({"services": {"crawler": {"cpu": 256, "memory": 1536}}},
         "services.crawler.memory: 1536 MiB is not valid with cpu 256 (Fargate allows 512, 1024, 2048)"),
        ({"services": {"crawler": {"ephemeral_storage": 201}}},
         "services.crawler.ephemeral_storage: Input should be less than or equal to 200"),
        ({"edge": {"idle_timeout": 4001}}, "edge.idle_timeout: Input should be less than or equal to 4000"),
    ],
)  # fmt: skip
def test_spec_bounds_are_awss(change, expected):
    """Finding 7: each bound is a spec error with its key path, exit 2."""
    with pytest.raises(ConfigError) as exc:
        stack_for("prod", change)
    assert exc.value.exit_code == 2
    assert str(exc.value) == f"stack.yaml: {expected}"


def test_a_retry_count_of_one_renders_the_target_groups_minimum():
    """ECS allows retries 1; a target group's unhealthy threshold is at least 2: mapped, not refused."""
    stack = stack_for("prod", {"services": {"website-agent": {"health": {"retries": 1}}}})
    template = render_template(stack)
    assert template["Resources"]["WebsiteAgentTargetGroup"]["Properties"]["UnhealthyThresholdCount"] == 2
    placeholder = template["Resources"]["WebsiteAgentPlaceholderTaskDefinition"]["Properties"]
    assert placeholder["ContainerDefinitions"][0]["HealthCheck"]["Retries"] == 1
    assert verify(template).findings == []


def test_every_fargate_size_the_spec_accepts_renders_a_task_aws_takes():
    for cpu, memories in FARGATE_SIZES.items():
        for memory in memories:
            stack = stack_for("local", {"services": {"crawler": {"cpu": cpu, "memory": memory}}})
            props = render_template(stack)["Resources"]["CrawlerPlaceholderTaskDefinition"]["Properties"]
            assert (
                verify({"Resources": {"T": {"Type": "AWS::ECS::TaskDefinition", "Properties": props}}}).findings == []
            )
