"""Issue 16, finding 4: the deploy identities, rendered from the spec into each
environment's bootstrap stack (render/infra/identities.py). Checked here on the
rendered policies, with AWS's own table of actions and resource types
(parliament) and IAM's evaluation logic (parity.iam_policy); the rehearsal
(tests/integration/test_rehearse.py) makes the same roles act in an emulator.

Seen failing on e618c26: the environment's own template held one deploy role
trusting only the service repositories (main.yml's job in this repository is
refused), with no CloudFormation right (infra.yml could not apply),
ecs:RegisterTaskDefinition on "*" and no ecs:DeregisterTaskDefinition."""

from __future__ import annotations

import json
import subprocess
import sys

import parliament
import pytest

from parity import iam_policy, workflows
from parity.render.infra import render_template
from parity.render.infra.identities import (
    GITHUB,
    KINDS,
    SERVICES_OF_TYPES,
    concrete,
    environment_types,
    job_policy,
    render_bootstrap_template,
    role_name,
    subjects,
)

from .conftest import ROOT
from .test_infra_render import stack_for

ACCOUNT, REGION = "123456789012", "eu-central-1"
ENVS = ["staging", "prod"]
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"
REPOSITORY = "HuskIT/huskit-parity"
# parliament's findings accepted, each with why (the unit test fails on any other)
ACCEPTED = {
    (
        "CloudFormationRole",
        "RESOURCE_STAR",
    ): "CloudFormation's service role: the template's resources do not exist when "
    "the role is made and their ARNs are CloudFormation's to choose; it is scoped to the services of the template's "
    "resource types, to the template's own roles in IAM, and only CloudFormation may assume it",
}


@pytest.fixture(scope="module")
def bootstraps() -> dict[str, dict]:
    return {env: concrete(render_bootstrap_template(stack_for(env)), ACCOUNT, REGION) for env in ENVS}


def roles(template: dict) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def trust_of(template: dict, kind: str, env: str) -> dict:
    name = role_name(stack_for(env), kind)
    return next(
        r["Properties"]["AssumeRolePolicyDocument"]
        for r in roles(template).values()
        if r["Properties"]["RoleName"] == name
    )


def claims(sub: str, aud: str = "sts.amazonaws.com") -> dict[str, str]:
    return {f"{GITHUB}:sub": sub, f"{GITHUB}:aud": aud}


def test_parliament_finds_nothing_in_any_rendered_policy(bootstraps):
    seen = 0
    for env, template in bootstraps.items():
        for logical_id, role in roles(template).items():
            for policy in role["Properties"]["Policies"]:
                found = parliament.analyze_policy_string(json.dumps(policy["PolicyDocument"])).findings
                seen += 1
                unexpected = [f"{f.issue}: {f.detail}" for f in found if (logical_id, f.issue) not in ACCEPTED]
                assert not unexpected, f"{env} {logical_id}: {unexpected}"
    assert seen == 2 * (len(KINDS) + 1)


def test_parliament_would_flag_what_the_old_deploy_role_did():
    """RegisterTaskDefinition on "*" (it takes the task-definition resource) is what
    parliament reports: the lint above can fail."""
    old = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": "*"}],
    }
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(old)).findings}
    assert "RESOURCE_STAR" in issues


def test_cfn_lint_finds_no_error_in_any_bootstrap_template(tmp_path):
    paths = []
    for env in ENVS:
        path = tmp_path / f"{env}-bootstrap.json"
        path.write_text(json.dumps(render_bootstrap_template(stack_for(env)), indent=1))
        paths.append(str(path))
    proc = subprocess.run(
        [sys.executable, "-c", "import cfnlint.runner, sys; cfnlint.runner.main()", *paths],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("env", ENVS)
def test_each_role_trusts_exactly_the_claims_of_the_jobs_that_assume_it(bootstraps, env):
    jobs = workflows.aws_jobs(ROOT, env, {"AWS_ACCOUNT_ID": ACCOUNT})
    assert jobs and workflows.repository(ROOT) == REPOSITORY
    template = bootstraps[env]
    for job in jobs:
        name = job.role.rsplit("/", 1)[-1]
        trust = next(
            r["Properties"]["AssumeRolePolicyDocument"]
            for r in roles(template).values()
            if r["Properties"]["RoleName"] == name
        )
        decision = iam_policy.trusts(
            trust, "Federated", PROVIDER, "sts:AssumeRoleWithWebIdentity", claims(job.subject(REPOSITORY), job.audience)
        )
        assert decision.allowed, f"{name} refuses {job.name} ({job.subject(REPOSITORY)})"
    used = {(j.role.rsplit("/", 1)[-1], j.subject(REPOSITORY)) for j in jobs}
    trusted = {(role_name(stack_for(env), kind), sub) for kind in KINDS for sub in subjects(stack_for(env), kind)}
    assert trusted == used


@pytest.mark.parametrize(
    "sub, aud, why",
    [
        ("repo:HuskIT/website-agent:environment:prod", "sts.amazonaws.com", "a service repository deploys nothing"),
        ("repo:HuskIT/huskit-parity:environment:staging", "sts.amazonaws.com", "staging's jobs"),
        ("repo:HuskIT/huskit-parity:pull_request", "sts.amazonaws.com", "a pull request"),
        ("repo:HuskIT/huskit-parity:ref:refs/heads/main", "sts.amazonaws.com", "a job outside the environment"),
        ("repo:HuskIT/huskit-parity:environment:prod", "https://github.com/HuskIT", "another audience"),
        ("repo:HuskIT/huskit-parity-fork:environment:prod", "sts.amazonaws.com", "another repository"),
    ],
)
def test_the_prod_promote_role_refuses_every_other_token(bootstraps, sub, aud, why):
    trust = trust_of(bootstraps["prod"], "promote", "prod")
    assert trust_of(bootstraps["prod"], "promote", "prod")["Statement"][0]["Principal"] == {"Federated": PROVIDER}
    decision = iam_policy.trusts(trust, "Federated", PROVIDER, "sts:AssumeRoleWithWebIdentity", claims(sub, aud))
    assert not decision.allowed, why


def test_the_plan_role_trusts_main_only_and_the_others_the_environment_only(bootstraps):
    for env in ENVS:
        plan = trust_of(bootstraps[env], "plan", env)["Statement"][0]["Condition"]["StringEquals"]
        assert (
            plan[f"{GITHUB}:sub"] == [f"repo:{REPOSITORY}:ref:refs/heads/main"]
            and plan[f"{GITHUB}:aud"] == "sts.amazonaws.com"
        )
        for kind in ("apply", "promote"):
            cond = trust_of(bootstraps[env], kind, env)["Statement"][0]["Condition"]
            assert cond == {
                "StringEquals": {
                    f"{GITHUB}:aud": "sts.amazonaws.com",
                    f"{GITHUB}:sub": [f"repo:{REPOSITORY}:environment:{env}"],
                }
            }


def _allowed(policy: dict, action: str, resource: str, context: dict | None = None) -> bool:
    return iam_policy.evaluate([policy], action, resource, context or {}).allowed


def _policy(env: str, kind: str) -> dict:
    return concrete(job_policy(stack_for(env), kind), ACCOUNT, REGION)


def test_promote_retires_a_failed_revision_and_registers_only_its_own_families():
    prod, staging = _policy("prod", "promote"), _policy("staging", "promote")
    revision = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/huskit-crawler:7"
    assert _allowed(prod, "ecs:DeregisterTaskDefinition", "*")
    own, other = (
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/huskit-crawler:*",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/huskit-staging-crawler:*",
    )
    assert _allowed(prod, "ecs:RegisterTaskDefinition", own) and not _allowed(prod, "ecs:RegisterTaskDefinition", other)
    assert _allowed(staging, "ecs:RegisterTaskDefinition", other) and not _allowed(
        staging, "ecs:RegisterTaskDefinition", own
    )
    assert not _allowed(prod, "ecs:RegisterTaskDefinition", "*")
    assert _allowed(prod, "ecs:DescribeTaskDefinition", "*") and not _allowed(
        prod, "ecs:DeleteTaskDefinitions", revision
    )
    service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/huskit-prod/crawler"
    assert _allowed(prod, "ecs:UpdateService", service) and not _allowed(staging, "ecs:UpdateService", service)
    execution = f"arn:aws:iam::{ACCOUNT}:role/huskit-ecs-execution-role"
    assert _allowed(prod, "iam:PassRole", execution, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    assert not _allowed(prod, "iam:PassRole", execution, {"iam:PassedToService": "lambda.amazonaws.com"})


def test_the_plan_and_promote_roles_may_plan_but_only_the_apply_role_may_execute():
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/huskit-prod/0a1b2c3d"
    edge = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/huskit-prod-edge/0a1b2c3d"
    other = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/huskit-staging/0a1b2c3d"
    service_role = f"arn:aws:iam::{ACCOUNT}:role/huskit-prod-cloudformation"
    for kind in KINDS:
        policy = _policy("prod", kind)
        for arn in (stack, edge):
            assert _allowed(policy, "cloudformation:CreateChangeSet", arn), kind
            assert _allowed(policy, "cloudformation:ExecuteChangeSet", arn) == (kind == "apply"), kind
            # a plan in no environment (no reviewers) and a promote may not delete the stack
            assert _allowed(policy, "cloudformation:DeleteStack", arn) == (kind == "apply"), kind
        assert not _allowed(policy, "cloudformation:CreateChangeSet", other), kind
        assert _allowed(policy, "iam:PassRole", service_role, {"iam:PassedToService": "cloudformation.amazonaws.com"})
        assert not _allowed(policy, "iam:PassRole", service_role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})


def test_the_apply_role_changes_nothing_but_through_cloudformation():
    actions = {a for st in _policy("prod", "apply")["Statement"] for a in iam_policy._listed(st["Action"])}
    # beside CloudFormation: reads (what runs, what exists to adopt) and passing the service role
    assert {a for a in actions if not a.startswith("cloudformation:")} == {
        "iam:PassRole", "ec2:DescribeManagedPrefixLists", "ecs:DescribeClusters", "ecs:DescribeServices",
        "s3:ListBucket", "logs:DescribeLogGroups", "secretsmanager:DescribeSecret", "ecr:DescribeRepositories",
    }  # fmt: skip
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:huskit/prod/crawler"
    policy = _policy("prod", "apply")
    # a secret is looked up by its name: its ARN when it exists, the name alone when it does not
    assert _allowed(policy, "secretsmanager:DescribeSecret", secret + "-a1B2c3") and _allowed(
        policy, "secretsmanager:DescribeSecret", secret
    )
    assert not _allowed(policy, "secretsmanager:GetSecretValue", secret + "-a1B2c3")
    assert "ecr:DescribeRepositories" not in json.dumps(_policy("staging", "plan"))  # staging owns no repository


@pytest.mark.parametrize("env", ["local", *ENVS])
def test_the_service_role_knows_every_resource_type_the_templates_hold(env):
    for kind in environment_types(stack_for(env)):
        assert any(kind.startswith(ns) for ns in SERVICES_OF_TYPES), (
            f"{kind}: add its IAM service prefixes to SERVICES_OF_TYPES"
        )


def test_the_service_role_may_touch_in_iam_only_the_roles_of_its_template(bootstraps):
    policy = next(
        r["Properties"]["Policies"][0]["PolicyDocument"] for r in roles(bootstraps["prod"]).values()
        if r["Properties"]["RoleName"] == "huskit-prod-cloudformation"
    )  # fmt: skip
    ours = f"arn:aws:iam::{ACCOUNT}:role/huskit-ecs-task-role"
    assert _allowed(policy, "iam:CreateRole", ours) and _allowed(policy, "iam:PutRolePolicy", ours)
    for other in ("huskit-prod-github-promote", "huskit-prod-cloudformation", "Admin"):
        assert not _allowed(policy, "iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/{other}"), other
    assert not _allowed(policy, "iam:CreateUser", "*") and not _allowed(policy, "organizations:LeaveOrganization", "*")


def test_no_environment_template_holds_a_deploy_identity_and_only_prod_makes_the_provider(bootstraps):
    for env in ["local", *ENVS]:
        kinds = {r["Type"] for r in render_template(stack_for(env))["Resources"].values()}
        assert "AWS::IAM::OIDCProvider" not in kinds
    providers = {
        env: [r for r in t["Resources"].values() if r["Type"] == "AWS::IAM::OIDCProvider"]
        for env, t in bootstraps.items()
    }
    assert len(providers["prod"]) == 1 and not providers["staging"]
    with pytest.raises(ValueError, match="infra.github is not set"):
        render_bootstrap_template(stack_for("local"))
