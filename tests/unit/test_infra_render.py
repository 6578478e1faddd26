"""The environment's CloudFormation template: linted (cfn-lint, zero errors)
for every environment, and its security properties asserted on the rendered
JSON: the crawler admits only the web group on its port, nothing but the ALB
is reachable (and it only from CloudFront's prefix list), no secret value is in
it, the execution role reads only its own environment's secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from parity.errors import ConfigError
from parity.render.infra import render_edge_template, render_template
from parity.spec.load import deep_merge, load_stack, validate

from .conftest import ROOT

CERT = "arn:aws:acm:eu-central-1:123456789012:certificate/0b5c6a4e-1111-2222-3333-444455556666"
REAL = {"infra": {"certificate_arn": CERT, "origin_domain": "origin.huskit.example"}}


def stack_for(env: str, extra: dict | None = None):
    """The repo's spec for ``env``; staging and prod get a certificate (they require one)."""
    import yaml

    data = yaml.safe_load((ROOT / "stack.yaml").read_text())
    data = deep_merge(data, yaml.safe_load((ROOT / "deploy" / f"{env}.yaml").read_text()))
    if env != "local":
        data = deep_merge(data, REAL)
    if extra:
        data = deep_merge(data, extra)
    data["env"] = env
    return validate(data)


ENVS = ["local", "staging", "prod"]


@pytest.fixture(scope="module")
def templates() -> dict[str, dict]:
    return {env: render_template(stack_for(env)) for env in ENVS}


def resources(template, kind):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_finds_no_error_in_any_environment(templates, tmp_path):
    paths = []
    edges = {f"{env}-edge": render_edge_template(stack_for(env)) for env in ("staging", "prod")}
    for env, template in {**templates, **edges}.items():
        path = tmp_path / f"{env}.json"
        path.write_text(json.dumps(template, indent=1))
        paths.append(str(path))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "import cfnlint.runner, sys; cfnlint.runner.main()", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.monotonic() - started < 30


def test_rendering_is_pure_and_stable():
    assert render_template(stack_for("prod")) == render_template(stack_for("prod"))
    body = json.dumps(render_template(stack_for("prod")), separators=(",", ":"))
    assert len(body) < 51_200  # CloudFormation's limit for a template sent inline
    assert "123456789012" not in body.replace(CERT, "")  # the account is a pseudo parameter


def test_the_crawler_admits_only_the_web_group_on_its_port(templates):
    for template in templates.values():
        crawler = template["Resources"]["CrawlerSecurityGroup"]["Properties"]
        assert "SecurityGroupIngress" not in crawler
        rules = [r["Properties"] for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
                 if r["Properties"]["GroupId"] == {"Fn::GetAtt": ["CrawlerSecurityGroup", "GroupId"]}]  # fmt: skip
        assert [(r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"], r["IpProtocol"]) for r in rules] == [
            ({"Fn::GetAtt": ["WebsiteAgentSecurityGroup", "GroupId"]}, 4999, 4999, "tcp")
        ]


def test_the_crawler_lets_out_tcp_only_and_the_web_keeps_the_default(templates):
    """Issue 18: no UDP out of the crawler's group (WebRTC, QUIC past its proxy); DNS to the
    VPC resolver is not filtered by security groups. `egress` is the spec's, per service."""
    for env, template in templates.items():
        crawler = template["Resources"]["CrawlerSecurityGroup"]["Properties"]
        assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"]) for r in crawler["SecurityGroupEgress"]] == [
            ("tcp", 0, 65535, "0.0.0.0/0")
        ], env
        assert not resources(template, "AWS::EC2::SecurityGroupEgress")
        assert "SecurityGroupEgress" not in template["Resources"]["WebsiteAgentSecurityGroup"]["Properties"]
    assert "SecurityGroupEgress" not in render_template(stack_for("prod", {"services": {"crawler": {"egress": "all"}}}))[
        "Resources"]["CrawlerSecurityGroup"]["Properties"]  # fmt: skip
    with pytest.raises(ConfigError, match=r"services\.crawler\.egress"):
        stack_for("prod", {"services": {"crawler": {"egress": "udp"}}})


def test_nothing_is_public_but_cloudfront_and_the_alb(templates):
    for env, template in templates.items():
        groups = resources(template, "AWS::EC2::SecurityGroup")
        for name, group in groups.items():
            for rule in group["Properties"].get("SecurityGroupIngress", []):
                assert name == "AlbSecurityGroup", name
                assert "CidrIp" not in rule and "CidrIpv6" not in rule
                assert rule["SourcePrefixListId"] == {"Ref": "CloudFrontPrefixList"}
        for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
            props = rule["Properties"]
            assert "CidrIp" not in props and "CidrIpv6" not in props and "SourceSecurityGroupId" in props
        ports = sorted(r["FromPort"] for r in groups["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"])
        assert ports == ([80] if env == "local" else [443])  # one prefix-list rule: 55 of the group's 60
        bucket = template["Resources"]["StaticBucket"]["Properties"]["PublicAccessBlockConfiguration"]
        assert all(bucket.values()) and len(bucket) == 4
        policy = template["Resources"]["StaticBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        allow = [s for s in policy if s["Effect"] == "Allow"]
        assert [s["Principal"] for s in allow] == [{"Service": "cloudfront.amazonaws.com"}]
        assert allow[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"].endswith(
            ":distribution/${Distribution}"
        )
        for svc in resources(template, "AWS::ECS::Service").values():
            assert svc["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
        assert template["Parameters"]["CloudFrontPrefixList"]["AllowedPattern"] == "^pl-[0-9a-f]+$"


def test_no_secret_value_anywhere(templates):
    local_values = (
        json.loads((ROOT / "localstack/secrets.json").read_text())
        if (ROOT / "localstack/secrets.json").exists()
        else {}
    )
    for template in templates.values():
        text = json.dumps(template)
        for name, secret in resources(template, "AWS::SecretsManager::Secret").items():
            if name == "EdgeOriginSecret":  # Secrets Manager generates its value; the template holds none
                generate = secret["Properties"].pop("GenerateSecretString")
                assert set(generate) == {
                    "SecretStringTemplate",
                    "GenerateStringKey",
                    "PasswordLength",
                    "ExcludePunctuation",
                }
                assert generate["SecretStringTemplate"] == "{}"
            assert set(secret["Properties"]) == {"Name", "Description"}  # values are set out of band
            assert secret["DeletionPolicy"] == "Retain"
        for values in local_values.values():
            for value in values.values() if isinstance(values, dict) else [values]:
                if isinstance(value, str) and len(value) >= 8:
                    assert value not in text
        for taskdef in resources(template, "AWS::ECS::TaskDefinition").values():
            container = taskdef["Properties"]["ContainerDefinitions"][0]
            for secret in container["Secrets"]:
                assert secret["ValueFrom"]["Fn::Sub"].startswith("arn:aws:secretsmanager:")
            assert not {e["Name"] for e in container["Environment"]} & {s["Name"] for s in container["Secrets"]}


def _secret_resources(template):
    role = template["Resources"]["ExecutionRole"]["Properties"]
    out = []
    for policy in role["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if any(a.startswith("secretsmanager:") for a in actions):
                out += [r["Fn::Sub"] for r in st["Resource"]]
    return out


def test_the_execution_role_reads_only_its_environments_secrets(templates):
    assert sorted(_secret_resources(templates["staging"])) == [
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:huskit/staging/crawler-??????",
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:huskit/staging/website-agent-??????",
    ]
    for env in ("prod", "local"):
        assert all(":secret:huskit/prod/" in r for r in _secret_resources(templates[env]))
    for template in templates.values():
        role = json.dumps(template["Resources"]["ExecutionRole"])
        assert '"Resource": "*"' not in role.replace('"Action": "ecr:GetAuthorizationToken", "Resource": "*"', "")
        logs = [
            st
            for p in template["Resources"]["ExecutionRole"]["Properties"]["Policies"]
            for st in p["PolicyDocument"]["Statement"]
            if "logs:PutLogEvents" in st["Action"]
        ]
        assert [r["Fn::Sub"].split("log-group:")[1] for r in logs[0]["Resource"]] == [
            f"{g}:*"
            for g in (
                template["Resources"][k]["Properties"]["LogGroupName"]
                for k in ("WebsiteAgentLogGroup", "CrawlerLogGroup")
            )
        ]
    assert (
        "TaskRole" in templates["prod"]["Resources"]
        and "Policies" not in templates["prod"]["Resources"]["TaskRole"]["Properties"]
    )


def test_waf_rate_rules_lowercase_and_answer_429_with_the_allow_list_first(templates):
    stack = stack_for("prod", {"edge": {"allow_list": ["203.0.113.0/24", "2001:db8::/32"]}})
    acl = render_edge_template(stack)["Resources"]["WebAcl"]["Properties"]
    assert acl["Scope"] == "CLOUDFRONT"
    names = [r["Name"] for r in acl["Rules"]]
    assert names == [
        "AWSManagedRulesCommonRuleSet",
        "SizeRestrictions_BODY-outside-exempt-paths",
        "CrossSiteScripting_BODY-outside-exempt-paths",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "allow-list",
        "rate-api",
        "rate-api-auth",
    ]
    assert [r["Priority"] for r in acl["Rules"]] == list(range(7))
    assert len(acl["Rules"][4]["Statement"]["OrStatement"]["Statements"]) == 2
    rate = acl["Rules"][6]
    assert rate["Action"] == {"Block": {"CustomResponse": {"ResponseCode": 429}}}
    statement = rate["Statement"]["RateBasedStatement"]
    assert (statement["Limit"], statement["EvaluationWindowSec"], statement["AggregateKeyType"]) == (20, 300, "IP")
    match = statement["ScopeDownStatement"]["ByteMatchStatement"]
    assert match == {
        "SearchString": "/api/auth/", "FieldToMatch": {"UriPath": {}}, "PositionalConstraint": "STARTS_WITH",
        "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}],
    }  # fmt: skip
    # without an allow list there is no allow rule (and no IP set)
    plain = render_edge_template(stack_for("prod"))
    assert "allow-list" not in [r["Name"] for r in plain["Resources"]["WebAcl"]["Properties"]["Rules"]]
    assert not resources(plain, "AWS::WAFv2::IPSet")
    # the local edge's emulator takes the same web ACL inline (with the local allow list)
    local_allow = stack_for("local").edge.allow_list
    assert local_allow
    assert (
        templates["local"]["Resources"]["WebAcl"]["Properties"]["Rules"]
        == render_edge_template(stack_for("prod", {"edge": {"allow_list": local_allow}}))["Resources"]["WebAcl"][
            "Properties"
        ]["Rules"]
    )


def test_a_cloudfront_web_acl_lives_in_us_east_1():
    """WAF creates a CLOUDFRONT-scoped web ACL only in us-east-1: an environment in
    eu-central-1 gets a companion stack there and takes its ARN as a parameter."""
    prod = render_template(stack_for("prod"))
    assert not resources(prod, "AWS::WAFv2::WebACL") and not resources(prod, "AWS::WAFv2::IPSet")
    assert prod["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["WebACLId"] == {"Ref": "WebAclArn"}
    assert ":wafv2:us-east-1:" in prod["Parameters"]["WebAclArn"]["AllowedPattern"]
    edge = render_edge_template(stack_for("prod"))
    assert list(edge["Resources"]) == ["WebAcl"] and edge["Outputs"]["WebAclArn"]["Value"] == {
        "Fn::GetAtt": ["WebAcl", "Arn"]
    }
    inline = render_template(stack_for("prod", {"region": "us-east-1"}))
    assert "WebAcl" in inline["Resources"] and "WebAclArn" not in inline["Parameters"]


def test_waf_rules_are_what_the_wafv2_api_accepts(templates):
    acl = dict(render_edge_template(stack_for("prod"))["Resources"]["WebAcl"]["Properties"])
    shape = get_session().get_service_model("wafv2").operation_model("CreateWebACL").input_shape
    report = ParamValidator().validate(acl, shape)
    assert not report.has_errors(), report.generate_report()


def test_cloudfront_and_alb_follow_the_spec(templates):
    res = templates["prod"]["Resources"]
    config = res["Distribution"]["Properties"]["DistributionConfig"]
    alb = next(o for o in config["Origins"] if o["Id"] == "alb")
    assert alb["CustomOriginConfig"]["OriginReadTimeout"] == 30
    assert alb["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only" and alb["DomainName"] == {
        "Ref": "OriginDomain"
    }
    assert templates["prod"]["Parameters"]["OriginDomain"]["Default"] == "origin.huskit.example"
    assert [b["PathPattern"] for b in config["CacheBehaviors"]] == ["/assets/*", "/api/*"]
    assert (
        config["CacheBehaviors"][0]["TargetOriginId"] == "s3"
        and config["DefaultCacheBehavior"]["TargetOriginId"] == "alb"
    )
    assert config["WebACLId"] == {"Ref": "WebAclArn"}  # the us-east-1 companion's (see below)
    assert templates["local"]["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["WebACLId"] == {
        "Fn::GetAtt": ["WebAcl", "Arn"]
    }
    attrs = {a["Key"]: a["Value"] for a in res["Alb"]["Properties"]["LoadBalancerAttributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "300"
    tg = res["WebsiteAgentTargetGroup"]["Properties"]
    assert (tg["HealthCheckPath"], tg["Port"], tg["TargetType"]) == ("/healthz", 5171, "ip")
    assert tg["TargetGroupAttributes"] == [{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}]
    https = res["HttpsListener"]["Properties"]
    assert https["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    assert templates["prod"]["Parameters"]["CertificateArn"]["Default"] == CERT
    assert "HttpListener" not in res  # CloudFront's origin is https-only: nothing listens on 80
    timeout = render_template(stack_for("prod", {"edge": {"origin_response_timeout": 60}}))
    origin = timeout["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"][1]
    assert origin["CustomOriginConfig"]["OriginReadTimeout"] == 60


def test_services_take_their_revision_as_a_parameter(templates):
    template = templates["prod"]
    for service, logical, count in (("website-agent", "WebsiteAgent", 2), ("crawler", "Crawler", 1)):
        assert template["Parameters"][f"{logical}TaskDefinition"]["Default"] == ""
        props = template["Resources"][f"{logical}Service"]["Properties"]
        cond = f"{logical}HasRevision"
        assert props["TaskDefinition"] == {
            "Fn::If": [cond, {"Ref": f"{logical}TaskDefinition"}, {"Ref": f"{logical}PlaceholderTaskDefinition"}]
        }
        assert props["DesiredCount"] == {"Fn::If": [cond, {"Ref": "AWS::NoValue"}, 0]}
        assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        target = template["Resources"][f"{logical}ScalableTarget"]["Properties"]
        assert target["MinCapacity"] == {"Fn::If": [cond, count, 0]}
        placeholder = template["Resources"][f"{logical}PlaceholderTaskDefinition"]
        assert placeholder["Condition"] == f"{logical}NeedsPlaceholder"
        assert placeholder["Properties"]["Family"] == f"huskit-{service}"
        image = placeholder["Properties"]["ContainerDefinitions"][0]["Image"]
        assert image == {"Fn::Join": ["", [{"Fn::GetAtt": [f"{logical}Repository", "RepositoryUri"]}, ":bootstrap"]]}


def test_staging_uses_prods_repositories_and_no_environment_holds_its_deploy_identities(templates):
    staging, prod = templates["staging"]["Resources"], templates["prod"]["Resources"]
    assert (
        not resources(templates["staging"], "AWS::ECR::Repository")
        and len(resources(templates["prod"], "AWS::ECR::Repository")) == 2
    )
    # the OIDC provider and GitHub's roles are the bootstrap stack's (tests/unit/test_identities.py)
    for template in templates.values():
        assert not resources(template, "AWS::IAM::OIDCProvider")
        roles = [r["Properties"]["RoleName"] for r in resources(template, "AWS::IAM::Role").values()]
        assert all("github" not in name for name in roles), roles
    assert "MonthlyBudget" in prod and "MonthlyBudget" not in staging


def test_a_real_environment_needs_a_certificate_to_apply_not_to_render(tmp_path):
    from parity.render.infra import check

    prod = load_stack(ROOT, "prod")
    params = render_template(prod)["Parameters"]  # renders before the certificate exists: parameters without defaults
    assert "Default" not in params["CertificateArn"] and "Default" not in params["OriginDomain"]
    with pytest.raises(ConfigError) as exc:
        check(prod)
    assert str(exc.value).startswith("deploy/prod.yaml: infra.certificate_arn: required key is missing")
    check(stack_for("prod"))
    with pytest.raises(ConfigError, match=r"infra.origin_domain: required with infra.certificate_arn"):
        stack_for("prod", {"infra": {"origin_domain": None}})


def test_infra_section_is_validated_with_key_paths():
    with pytest.raises(ConfigError, match=r"infra.scaling.crawler.max_count: below services.crawler.desired_count"):
        stack_for(
            "prod", {"infra": {"scaling": {"crawler": {"max_count": 1}}}, "services": {"crawler": {"desired_count": 2}}}
        )
    with pytest.raises(ConfigError, match=r"infra.scaling.nope: not a service"):
        stack_for("prod", {"infra": {"scaling": {"nope": {"max_count": 2}}}})
    with pytest.raises(ConfigError, match=r"infra.accepted_findings: 'CKV_NOPE' is not a checkov check id"):
        stack_for("prod", {"infra": {"accepted_findings": {"CKV_NOPE": "x"}}})
    with pytest.raises(ConfigError, match=r"infra.certificat: unknown key"):
        stack_for("prod", {"infra": {"certificat": "x"}})
