"""infra-apply / infra-plan against a real moto server (a subprocess on a free
port; no Docker), through change sets, with the repo's spec and its local
overlay pointed at that server.

What moto models is asserted: the VPC, subnets, security groups and their
chain, the ALB and its target group, the cluster, the services (created at
zero tasks on the placeholder revision), the repositories, log groups, roles
and the bucket. What it cannot, said once here: moto reports CREATE_COMPLETE
for CloudFront, WAFv2, Cloud Map, Secrets Manager, CloudWatch alarms,
Application Auto Scaling, SNS subscriptions, bucket policies, budgets and the
OIDC provider with no resource behind them; it drops an ECS service's load
balancers, registries and network configuration, an ingress rule's prefix
list, the ALB's attributes (idle timeout) a task definition's role ARNs and a repository's
ScanOnPush; it computes a change set from
the template alone (a changed parameter is "no change"), and a stack created
by a change set has no outputs. Those parts are asserted on the rendered
template in tests/unit/test_infra_render.py, the failure paths (rollback) in
tests/unit/test_infra_plan.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from parity.adapters.aws import AwsTarget
from parity.adapters.ecs import Ecs
from parity.app.infrastructure.infra import apply, connect, plan
from parity.errors import ConfigError
from parity.render.taskdef import deployment_configuration, render_taskdef

from .moto_server import moto_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-central-1"
CLUSTER = "huskit-prod"  # the local overlay keeps prod's names


@pytest.fixture
def moto():
    # as in the local stack's ecs-emulator: moto reports this many tasks running per service
    with moto_server(MOTO_ECS_SERVICE_RUNNING="2") as url:
        yield url


def client(service: str, endpoint: str):
    return boto3.client(
        service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )


def make_root(tmp_path: Path, endpoint: str, spec_change: dict | None = None) -> Path:
    (tmp_path / "deploy").mkdir(exist_ok=True)
    spec = yaml.safe_load((ROOT / "stack.yaml").read_text())
    if spec_change:
        spec["services"]["crawler"]["environment"].update(spec_change)
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    overlay = yaml.safe_load((ROOT / "deploy/local.yaml").read_text())
    overlay["aws"]["endpoint_url"] = endpoint
    (tmp_path / "deploy/local.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
    return tmp_path


def ctx_for(root: Path):
    lines: list[str] = []
    ctx = connect(root, "local", report=lines.append)
    ctx.poll_interval = 0.1
    ctx.lines = lines  # type: ignore[attr-defined]
    return ctx


def services(endpoint: str) -> dict[str, dict]:
    found = client("ecs", endpoint).describe_services(cluster=CLUSTER, services=["website-agent", "crawler"])[
        "services"
    ]
    return {s["serviceName"]: s for s in found}


def test_apply_builds_the_environment_and_a_second_plan_shows_no_change(tmp_path, moto):
    root = make_root(tmp_path, moto)
    ctx = ctx_for(root)
    first = plan(ctx)
    assert first.kind == "CREATE" and len(first.changes) > 40 and all(c.action == "Add" for c in first.changes)
    apply(ctx_for(root))
    assert (
        client("cloudformation", moto).describe_stacks(StackName="huskit-local")["Stacks"][0]["StackStatus"]
        == "CREATE_COMPLETE"
    )

    ec2 = client("ec2", moto)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["huskit"]}])["Vpcs"]
    assert len(vpc) == 1 and vpc[0]["CidrBlock"] == "10.0.0.0/16"
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc[0]["VpcId"]]}])["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.0.1.0/24", "10.0.2.0/24"]
    groups = {
        g["Description"]: g
        for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc[0]["VpcId"]]}])[
            "SecurityGroups"
        ]
    }
    web, crawler, alb = (
        groups["huskit website-agent tasks (public)"],
        groups["huskit crawler tasks (internal)"],
        groups["huskit ALB: only the CloudFront origin-facing servers"],
    )

    def rules(g):
        return [
            (p["FromPort"], [x["GroupId"] for x in p["UserIdGroupPairs"]], p["IpRanges"]) for p in g["IpPermissions"]
        ]

    assert rules(crawler) == [(4999, [web["GroupId"]], [])]  # only the web group, on its port
    assert rules(web) == [(5171, [alb["GroupId"]], [])]
    assert all(not p["IpRanges"] for p in alb["IpPermissions"])  # (moto drops the prefix-list rule itself)

    elb = client("elbv2", moto)
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    assert len(lbs) == 1 and lbs[0]["Scheme"] == "internet-facing" and lbs[0]["SecurityGroups"] == [alb["GroupId"]]
    (tg,) = elb.describe_target_groups()["TargetGroups"]
    assert (tg["HealthCheckPath"], tg["Port"], tg["TargetType"]) == ("/healthz", 5171, "ip")
    (listener,) = elb.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
    # the origin lock: without the secret header a fixed 403; every route forwards only with it
    assert listener["Port"] == 80 and listener["DefaultActions"][0]["Type"] == "fixed-response"
    assert listener["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "403"
    rules = [r for r in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    paths = [
        c.get("Values") or c["PathPatternConfig"]["Values"]
        for r in rules
        for c in r["Conditions"]
        if c["Field"] == "path-pattern"
    ]
    assert sorted(v for p in paths for v in p) == ["/*", "/api/*"]
    for r in rules:
        (header,) = [c["HttpHeaderConfig"] for c in r["Conditions"] if c["Field"] == "http-header"]
        assert header["HttpHeaderName"] == "X-Origin-Verify" and header["Values"]  # moto keeps the reference unresolved
        assert r["Actions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]

    live = services(moto)
    ecs = client("ecs", moto)
    for name, family in (("website-agent", "huskit-website-agent"), ("crawler", "huskit-crawler")):
        assert live[name]["desiredCount"] == 0 and live[name]["taskDefinition"].endswith(f"/{family}:1")
        td = ecs.describe_task_definition(taskDefinition=live[name]["taskDefinition"])["taskDefinition"]
        assert td["containerDefinitions"][0]["image"] == f"127.0.0.1:5055/huskit/{name}:bootstrap"
        assert (
            td["containerDefinitions"][0]["portMappings"][0]["containerPort"]
            == {"website-agent": 5171, "crawler": 4999}[name]
        )
    repos = client("ecr", moto).describe_repositories()["repositories"]
    assert {r["repositoryName"] for r in repos} == {"huskit/website-agent", "huskit/crawler"}  # (moto drops ScanOnPush)
    logs = client("logs", moto).describe_log_groups(logGroupNamePrefix="/ecs/")["logGroups"]
    assert {(g["logGroupName"], g.get("retentionInDays")) for g in logs} == {
        ("/ecs/huskit-website-agent", 30),
        ("/ecs/huskit-crawler", 30),
        ("/ecs/huskit/exec", 30),  # ECS Exec's sessions (aws.execute_command is on locally)
    }
    # ECS Exec: the task role may open Session Manager's channels and write the sessions' log (moto
    # drops the cluster's exec logging and the services' EnableExecuteCommand: both are asserted on
    # the rendered template in tests/unit/test_operate_render.py)
    exec_policy = json.dumps(
        client("iam", moto).get_role_policy(RoleName="huskit-ecs-task-role", PolicyName="ecs-exec")["PolicyDocument"]
    )
    assert "ssmmessages:OpenDataChannel" in exec_policy and "log-group:/ecs/huskit/exec:*" in exec_policy
    iam = client("iam", moto)
    policy = iam.get_role_policy(RoleName="huskit-ecs-execution-role", PolicyName="pull-log-read-secrets")[
        "PolicyDocument"
    ]
    text = json.dumps(policy)
    assert "secret:huskit/prod/website-agent-??????" in text and "huskit/staging" not in text
    assert client("s3", moto).head_bucket(Bucket="huskit-static-assets-prod")

    again = plan(ctx_for(root))
    assert again.changes == [] and again.change_set is None
    assert (
        client("cloudformation", moto).describe_stacks(StackName="huskit-local")["Stacks"][0]["StackStatus"]
        == "CREATE_COMPLETE"
    )


def test_an_apply_after_a_promote_leaves_the_promoted_revision_running(tmp_path, moto):
    root = make_root(tmp_path, moto)
    apply(ctx_for(root))
    # what promote does, through the same adapter: a new revision, the service on it, started
    ctx = ctx_for(root)
    ecs = Ecs(AwsTarget(REGION, moto))
    image = "127.0.0.1:5055/huskit/crawler@sha256:" + "a" * 64
    promoted = ecs.register_task_definition(render_taskdef(ctx.stack, "crawler", image, "123456789012"))
    ecs.update_service(CLUSTER, "crawler", promoted, deployment_configuration(), True, desired_count=1)
    assert promoted.endswith("/huskit-crawler:2")

    # a spec change that rewrites the crawler's placeholder task definition, then an apply
    root = make_root(tmp_path, moto, spec_change={"CRAWL4AI_TIMEOUT": "45"})
    ctx = ctx_for(root)
    result = plan(ctx)
    assert result.parameters["CrawlerTaskDefinition"] == promoted  # the live revision is passed back
    assert result.changes  # the template did change
    apply(ctx_for(root))
    crawler = services(moto)["crawler"]
    assert crawler["taskDefinition"] == promoted and crawler["desiredCount"] == 1

    after = plan(ctx_for(root))
    assert after.changes == [] and after.parameters["CrawlerTaskDefinition"] == promoted
    assert services(moto)["crawler"]["taskDefinition"] == promoted


def test_the_prod_shaped_template_applies_too(tmp_path, moto):
    """stack.yaml's own infra (budget, alarm mail, GitHub deployers), without the local
    overlay's trimming: moto takes it (the budget unmodelled); the deploy identities are
    the bootstrap stack's, which moto takes too (the OIDC provider unmodelled)."""
    from parity.app.infrastructure.infra import bootstrap_context, execute

    root = make_root(tmp_path, moto)
    overlay = yaml.safe_load((root / "deploy/local.yaml").read_text())
    del overlay["infra"]
    (root / "deploy/local.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
    ctx = ctx_for(root)
    planned = {c.logical_id for c in plan(ctx).changes}
    assert {"MonthlyBudget", "AlarmMail"} <= planned and not {"GithubOidcProvider", "DeployRole"} & planned
    apply(ctx_for(root))
    assert plan(ctx_for(root)).changes == []
    boot = bootstrap_context(ctx.stack, endpoint_url=moto)
    boot.poll_interval = 0.1
    changes = plan(boot, keep=True)
    assert {c.logical_id for c in changes.changes} == {
        "GithubOidcProvider", "CloudFormationRole", "GithubPlanRole", "GithubApplyRole", "GithubPromoteRole",
    }  # fmt: skip
    execute(boot, changes)
    role = client("iam", moto).get_role_policy(RoleName="huskit-local-github-promote", PolicyName="promote")[
        "PolicyDocument"
    ]
    text = json.dumps(role)
    assert (
        "repository/huskit/crawler" in text
        and f"service/{CLUSTER}/crawler" in text
        and "ecs:DeregisterTaskDefinition" in text
    )


def test_bad_input_is_one_line_and_creates_nothing(tmp_path, moto):
    root = make_root(tmp_path, moto)
    (root / "deploy/local.yaml").write_text("infra: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        connect(root, "local")
    assert exc.value.exit_code == 2 and str(exc.value).startswith(f"{root}/deploy/local.yaml: line 2 is not valid YAML")
    root = make_root(tmp_path, moto)
    overlay = yaml.safe_load((root / "deploy/local.yaml").read_text())
    overlay["infra"]["scaling"] = {"crawler": {"max_count": 0}}
    (root / "deploy/local.yaml").write_text(yaml.safe_dump(overlay))
    with pytest.raises(
        ConfigError,
        match=r"^stack.yaml \+ deploy/local.yaml: infra.scaling.crawler.max_count: Input should be greater than or equal to 1$",
    ):
        connect(root, "local")
    with pytest.raises(ConfigError, match=r"^unknown environment 'qa' \(known: local\)$"):
        connect(root, "qa")
    assert client("cloudformation", moto).list_stacks()["StackSummaries"] == []


def test_promote_local_bootstraps_the_emulator_with_the_template(tmp_path, moto):
    """`inv promote --env local`'s AWS side against moto: the bootstrap step is the
    template's apply; promote then finds cluster, repositories and services and
    starts them. Docker (images, registry, the bucket's upload) is faked here;
    tests/integration/test_deploy_moto.py runs the same path with real Docker."""
    from parity.adapters.cloudformation import Emulator
    from parity.app.checks import records
    from parity.app.deploy.context import DeployContext
    from parity.app.deploy.promote import promote
    from parity.spec import load_stack
    from tests.unit.deploy_fakes import FakeCdn, FakeRegistry, FakeStatic, image_id

    root = make_root(tmp_path, moto)
    stack = load_stack(root, "local")
    target = AwsTarget(REGION, moto)
    lines: list[str] = []

    def ctx():
        return DeployContext(
            root=root, stack=stack, ecs=Ecs(target), registry=registry, static=FakeStatic(), cdn=FakeCdn(),
            smoke=lambda url: True, report=lines.append, poll_interval=0.1, emulator=Emulator(target),
        )  # fmt: skip

    # a leftover of an older bootstrap (hand-made names the template also uses) is reset away
    client("ecr", moto).create_repository(repositoryName="huskit/website-agent")
    registry = FakeRegistry(stack)
    records.record_e2e_pass(root, {s: image_id(s) for s in stack.services}, "e2e")
    result = promote(ctx(), version="itsha")
    text = "\n".join(lines)
    assert "[ 4/12] bootstrap emulator: created" in text and "[12/12] smoke     passed" in text
    assert "the emulator holds huskit/website-agent but no stack huskit-local: resetting it first" in text
    live = services(moto)
    for name in ("website-agent", "crawler"):
        assert live[name]["taskDefinition"] == result.deployed[name] and result.deployed[name].endswith(
            f"/huskit-{name}:2"
        )
        assert live[name]["desiredCount"] == stack.services[name].desired_count  # started by the first promote
        # the next promote finds everything in place; an infra-plan shows nothing to undo
        assert live[name]["deploymentConfiguration"] == {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        }
    lines.clear()
    again = promote(ctx(), version="itsha")
    assert "[ 4/12] bootstrap emulator: everything exists" in "\n".join(lines)
    assert all(not c.changed for c in again.changes)
    after = plan(ctx_for(root))
    assert after.changes == [] and after.parameters["WebsiteAgentTaskDefinition"] == result.deployed["website-agent"]


def inv(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true"
    )
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_render_needs_no_credentials_and_bad_input_exits_2():
    proc = inv("infra-render", "--env", "local")
    assert proc.returncode == 0, proc.stderr
    assert "AWS::ECS::Service" in json.loads(proc.stdout)["Resources"]["CrawlerService"]["Type"]
    proc = inv("infra-plan", "--env", "prod")
    assert proc.returncode == 2 and proc.stdout == ""
    expected = (
        "error: deploy/prod.yaml: infra.certificate_arn: required key is missing "
        "(the ALB's HTTPS listener needs an ACM certificate in the stack's region)"
    )
    assert proc.stderr.strip().splitlines() == [expected]
    proc = inv("infra-apply", "--env", "qa")
    assert (
        proc.returncode == 2 and proc.stderr.strip() == "error: unknown environment 'qa' (known: local, prod, staging)"
    )
