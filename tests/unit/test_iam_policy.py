"""IAM's evaluation logic as parity.iam_policy implements it for the rehearsal's
emulator, and the table of what each call is authorized against, checked
against AWS's Service Authorization Reference (parliament's copy)."""

from __future__ import annotations

import re

import pytest
from parliament import iam_definition

from parity import iam_policy
from parity.iam_policy import ALLOW, DENY, IMPLICIT_DENY, evaluate, passed_roles, request_resources, trusts

ARN = "arn:aws:ecs:eu-central-1:123456789012:service/huskit-prod/crawler"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_an_explicit_deny_wins_and_nothing_allowed_is_an_implicit_deny():
    p = policy(allow("ecs:*"), {"Effect": "Deny", "Action": "ecs:UpdateService", "Resource": ARN})
    assert evaluate([p], "ecs:UpdateService", ARN).result == DENY
    assert evaluate([p], "ecs:DescribeServices", ARN).result == ALLOW
    assert evaluate([p], "s3:PutObject", "arn:aws:s3:::b/k").result == IMPLICIT_DENY
    assert evaluate([policy(allow("ECS:updateservice", ARN))], "ecs:UpdateService", ARN).allowed  # actions ignore case


def test_a_scoped_statement_allows_its_resource_only():
    p = policy(allow("ecs:UpdateService", "arn:aws:ecs:*:*:service/huskit-prod/*"))
    assert evaluate([p], "ecs:UpdateService", ARN).allowed
    assert not evaluate([p], "ecs:UpdateService", ARN.replace("huskit-prod", "huskit-staging")).allowed
    assert not evaluate([p], "ecs:UpdateService", "*").allowed  # a scoped grant never covers "*"


def test_an_allow_whose_condition_does_not_hold_is_neutral_not_a_deny():
    """moto 5.2.5 turns it into an explicit deny, so a second statement that does allow is ignored there."""
    role = "arn:aws:iam::123456789012:role/r"
    p = policy(
        allow("iam:PassRole", role, Condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
        allow(
            "iam:PassRole", role, Condition={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
        ),
    )
    assert evaluate([p], "iam:PassRole", role, {"iam:PassedToService": "cloudformation.amazonaws.com"}).allowed
    assert not evaluate([p], "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"}).allowed
    assert not evaluate([p], "iam:PassRole", role).allowed  # the key is absent: the condition does not hold


def test_condition_operators():
    match = iam_policy.conditions_match
    assert match({"StringLike": {"k": ["repo:o/r:*"]}}, {"k": "repo:o/r:environment:prod"})
    assert not match({"StringLike": {"k": "repo:o/r:ref:*"}}, {"k": "repo:o/r:environment:prod"})
    assert match({"StringNotEquals": {"k": "a"}}, {"k": "b"}) and not match({"StringNotEquals": {"k": "a"}}, {"k": "a"})
    assert match({"StringEqualsIfExists": {"k": "a"}}, {}) and not match({"StringEquals": {"k": "a"}}, {})
    assert match({"Null": {"k": "true"}}, {}) and not match({"Null": {"k": "false"}}, {})
    assert match({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "True"})  # keys ignore case
    with pytest.raises(iam_policy.UnsupportedCondition):
        match({"ForAnyValue:StringEquals": {"k": "a"}}, {"k": "a"})
    with pytest.raises(iam_policy.UnsupportedCondition):
        match({"NumericLessThan": {"k": "1"}}, {"k": "0"})


def test_a_trust_policy_names_its_principal_and_its_claims():
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    trust = policy({
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:o/r:environment:prod"}},
    })  # fmt: skip
    ok = {"token.actions.githubusercontent.com:sub": "repo:o/r:environment:prod"}
    assert trusts(trust, "Federated", provider, "sts:AssumeRoleWithWebIdentity", ok).allowed
    assert not trusts(
        trust, "Federated", provider.replace("123456789012", "999999999999"), "sts:AssumeRoleWithWebIdentity", ok
    ).allowed
    assert not trusts(trust, "Federated", provider, "sts:AssumeRole", ok).allowed
    assert not trusts(
        trust,
        "Federated",
        provider,
        "sts:AssumeRoleWithWebIdentity",
        {"token.actions.githubusercontent.com:sub": "repo:o/r:pull_request"},
    ).allowed


def _reference() -> dict[str, dict]:
    out = {}
    for service in iam_definition:
        resources = {r["resource"]: r["arn"] for r in service["resources"]}
        for p in service["privileges"]:
            types = {
                r["resource_type"].rstrip("*"): resources.get(r["resource_type"].rstrip("*"))
                for r in p["resource_types"]
                if r["resource_type"]
            }
            out[f"{service['prefix']}:{p['privilege']}"] = types
    return out


def _shape(arn: str) -> str:
    """An ARN format with its variables as *: ``${ClusterName}`` and ``{cluster}`` alike."""
    return re.sub(r"\$?\{[^}]+\}", "*", arn)


def test_every_action_is_authorized_against_the_resource_type_aws_lists_for_it():
    reference = _reference()
    for action, (kind, _names) in iam_policy.RESOURCES.items():
        assert action in reference, f"{action}: not an IAM action"
        resource_type = kind.split(":", 1)[1]
        assert resource_type in reference[action], f"{action} takes {sorted(reference[action])}, not {resource_type}"
        assert _shape(iam_policy.ARN_FORMATS[kind]) == _shape(reference[action][resource_type]), kind


def test_actions_with_no_resource_type_are_authorized_against_star_only():
    reference = _reference()
    for action in ("ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions",
                   "ecr:GetAuthorizationToken", "ec2:DescribeManagedPrefixLists"):  # fmt: skip
        assert reference[action] == {}, action
        assert request_resources(action, {}, "/", "eu-central-1", "123456789012") is None  # checked against "*"


def test_the_resource_of_a_request():
    def r(action, params, path="/"):
        stacks = {"huskit-prod": "arn:aws:cloudformation:eu-central-1:123456789012:stack/huskit-prod/abc"}
        return request_resources(action, params, path, "eu-central-1", "123456789012", lambda: stacks)

    assert r("ecs:UpdateService", {"cluster": "huskit-prod", "service": "crawler"}) == [ARN]
    assert r("ecs:DescribeServices", {"cluster": "arn:aws:ecs:eu-central-1:123456789012:cluster/huskit-prod", "services": ["crawler", "website-agent"]}) == [
        ARN, ARN.replace("crawler", "website-agent"),
    ]  # fmt: skip
    assert r("ecs:RegisterTaskDefinition", {"family": "huskit-crawler"}) == [
        "arn:aws:ecs:eu-central-1:123456789012:task-definition/huskit-crawler:*"
    ]
    assert r("cloudformation:CreateChangeSet", {"StackName": "huskit-prod"}) == [
        "arn:aws:cloudformation:eu-central-1:123456789012:stack/huskit-prod/abc"
    ]
    assert r("cloudformation:CreateChangeSet", {"StackName": "huskit-new"}) == [
        "arn:aws:cloudformation:eu-central-1:123456789012:stack/huskit-new/*"
    ]
    assert r("ecr:PutImage", {"repositoryName": "huskit/crawler"}) == [
        "arn:aws:ecr:eu-central-1:123456789012:repository/huskit/crawler"
    ]
    assert r("ecr:DescribeRepositories", {}) == ["*"]
    assert r("cloudfront:CreateInvalidation", {}, "/2020-05-31/distribution/E1ABC/invalidation") == [
        "arn:aws:cloudfront::123456789012:distribution/E1ABC"
    ]
    assert iam_policy.iam_action("s3:HeadBucket") == "s3:ListBucket"

    # a secret named by its name: its ARN (with the six characters Secrets Manager adds) when it exists
    def secrets():
        return {
            "secret:huskit/prod/crawler": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:huskit/prod/crawler-a1B2c3"
        }

    assert request_resources("secretsmanager:DescribeSecret", {"SecretId": "huskit/prod/crawler"}, "/", "eu-central-1", "123456789012", secrets) == [
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:huskit/prod/crawler-a1B2c3"
    ]  # fmt: skip
    assert request_resources("secretsmanager:DescribeSecret", {"SecretId": "huskit/prod/gone"}, "/", "eu-central-1", "123456789012", secrets) == [
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:huskit/prod/gone"
    ]  # fmt: skip


def test_the_roles_a_call_passes():
    assert passed_roles("ecs:RegisterTaskDefinition", {"executionRoleArn": "arn:x:role/e", "taskRoleArn": "arn:x:role/t"}) == [
        ("arn:x:role/e", "ecs-tasks.amazonaws.com"), ("arn:x:role/t", "ecs-tasks.amazonaws.com"),
    ]  # fmt: skip
    assert passed_roles("cloudformation:CreateChangeSet", {"RoleARN": "arn:x:role/cfn"}) == [
        ("arn:x:role/cfn", "cloudformation.amazonaws.com")
    ]
    assert (
        passed_roles("cloudformation:CreateChangeSet", {}) == [] and passed_roles("ecs:UpdateService", {"x": 1}) == []
    )
