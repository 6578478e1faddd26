"""The rendered task definitions are the plan's 7.1 and 7.2 (fixtures copied
verbatim from the plan), field by field, with two deliberate differences:
the image is pinned by digest (the plan deploys ``:latest``), the
health-check command is the spec's (the plan's ``curl`` is not in the images),
and the CPU architecture is explicit (``runtimePlatform``, from the spec)."""

import json

import pytest

from parity.render.diff import normalise_taskdef
from parity.render.taskdef import (
    deploy_order,
    deployment_configuration,
    family,
    is_pinned,
    partition,
    render_taskdef,
    secret_arn,
)
from parity.spec.load import load_stack
from parity.spec.models import SecretRef

from .conftest import ROOT

ACCOUNT = "123456789012"
DIGEST = "sha256:" + "ab" * 32
BEYOND_THE_PLAN = {"SESSION_ABSOLUTE_TIMEOUT_SECONDS", "SESSION_IDLE_TIMEOUT_SECONDS"}


def plan(service: str) -> dict:
    text = (ROOT / "tests/unit/fixtures" / f"plan-taskdef-{service}.json").read_text()
    return json.loads(text.replace("ACCOUNT_ID", ACCOUNT))


def rendered(service: str, env: str = "prod") -> dict:
    stack = load_stack(ROOT, env)
    image = f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/{service}@{DIGEST}"
    return render_taskdef(stack, service, image, ACCOUNT)


@pytest.mark.parametrize("service", ["website-agent", "crawler"])
def test_task_level_fields_equal_the_plan(service):
    want, got = plan(service), rendered(service)
    for key in want:
        if key != "containerDefinitions":
            assert got[key] == want[key], key
    assert set(got) == set(want) | {"runtimePlatform"}


@pytest.mark.parametrize("arch", ["X86_64", "ARM64"])
def test_runtime_platform_is_the_spec_architecture(arch, spec):
    from parity.spec.load import validate

    spec["services"]["crawler"]["cpu_architecture"] = arch
    td = render_taskdef(validate(spec), "crawler", "r@" + DIGEST, ACCOUNT)
    assert td["runtimePlatform"] == {"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"}


@pytest.mark.parametrize("service", ["website-agent", "crawler"])
def test_container_fields_equal_the_plan(service):
    want, got = plan(service)["containerDefinitions"][0], rendered(service)["containerDefinitions"][0]
    assert set(got) == set(want)
    for key in ("name", "portMappings", "essential", "secrets", "logConfiguration"):
        assert got[key] == want[key], key
    # Deliberate: the session limits are the spec's, beyond the plan (issue 18).
    assert [e for e in got["environment"] if e["name"] not in BEYOND_THE_PLAN] == want["environment"]
    health = dict(want["healthCheck"])
    assert {k: v for k, v in got["healthCheck"].items() if k != "command"} == {
        k: v for k, v in health.items() if k != "command"
    }
    assert got["healthCheck"]["command"][0] == "CMD-SHELL"
    # Deliberate: the image is pinned by digest, never a tag (the plan uses :latest).
    assert want["image"].endswith(":latest")
    assert got["image"] == f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/{service}@{DIGEST}"
    assert is_pinned(got["image"])


def test_crawler_has_its_ephemeral_storage_and_the_web_does_not():
    assert rendered("crawler")["ephemeralStorage"] == {"sizeInGiB": 30}
    assert "ephemeralStorage" not in rendered("website-agent")


def test_secrets_are_value_from_arns_only():
    td = rendered("website-agent")
    container = td["containerDefinitions"][0]
    for s in container["secrets"]:
        assert set(s) == {"name", "valueFrom"}
        assert (
            s["valueFrom"]
            == f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:huskit/prod/website-agent:{s['name']}::"
        )
    names = {e["name"] for e in container["environment"]}
    assert not names & {s["name"] for s in container["secrets"]}


def test_staging_renders_its_own_names_and_no_account_is_hard_coded():
    stack = load_stack(ROOT, "staging")
    td = render_taskdef(stack, "crawler", "r@" + DIGEST, "999988887777")
    assert td["family"] == "huskit-staging-crawler"
    assert td["executionRoleArn"] == "arn:aws:iam::999988887777:role/huskit-staging-ecs-execution-role"
    assert (
        td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"] == "/ecs/huskit-staging-crawler"
    )
    assert td["containerDefinitions"][0]["secrets"][0]["valueFrom"].startswith(
        "arn:aws:secretsmanager:eu-central-1:999988887777:secret:huskit/staging/crawler:"
    )
    assert "123456789012" not in json.dumps(td)


def test_region_and_partition_come_from_the_spec():
    stack = load_stack(ROOT, "prod").model_copy(update={"region": "cn-north-1"})
    assert partition("cn-north-1") == "aws-cn"
    td = render_taskdef(stack, "crawler", "r@" + DIGEST, ACCOUNT)
    assert td["executionRoleArn"].startswith("arn:aws-cn:iam::")
    assert td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-region"] == "cn-north-1"
    assert (
        secret_arn(stack, ACCOUNT, SecretRef(secret="crawler"))
        == f"arn:aws-cn:secretsmanager:cn-north-1:{ACCOUNT}:secret:huskit/prod/crawler"
    )


def test_deploy_settings_and_order():
    stack = load_stack(ROOT, "prod")
    assert deployment_configuration() == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    assert deploy_order(stack) == ["crawler", "website-agent"]
    assert family(stack, "website-agent") == "huskit-website-agent"


def test_rendering_is_pure_and_stable():
    assert normalise_taskdef(rendered("crawler")) == normalise_taskdef(rendered("crawler"))


def test_local_emulator_reports_rollouts_complete_for_every_desired_count():
    """moto marks a rollout COMPLETED only if MOTO_ECS_SERVICE_RUNNING >= desired count."""
    stack = load_stack(ROOT, "local")
    moto = next(d for d in stack.local.dependencies.values() if d.kind == "moto")
    running = int(moto.environment["MOTO_ECS_SERVICE_RUNNING"])
    assert all(svc.desired_count <= running for svc in stack.services.values())


def test_only_an_emulator_may_be_bootstrapped(spec):
    from parity.errors import ConfigError
    from parity.spec.load import validate

    spec["aws"] = {"bootstrap": True}
    with pytest.raises(ConfigError) as exc:
        validate(spec)
    assert str(exc.value) == (
        "stack.yaml: aws.bootstrap: only an emulator (aws.endpoint_url) may be bootstrapped by promote; a real account is set up by `inv infra-apply`"
    )


@pytest.mark.parametrize("service", ["website-agent", "crawler"])
def test_rendered_input_is_valid_for_register_task_definition(service):
    """botocore's own model accepts what promote sends (the runtimePlatform included)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(rendered(service), shape)
    assert not report.has_errors(), report.generate_report()


def test_session_limits_are_plain_env_values_in_the_task_definition_and_compose():
    """Issue 18: both session limits come from the spec, the same in ECS and locally."""
    from parity.render.compose import render_compose

    wanted = {"SESSION_ABSOLUTE_TIMEOUT_SECONDS": "28800", "SESSION_IDLE_TIMEOUT_SECONDS": "1800"}
    for env in ("local", "staging", "prod"):
        stack = load_stack(ROOT, env)
        container = render_taskdef(stack, "website-agent", "IMAGE", "123456789012")["containerDefinitions"][0]
        assert {e["name"]: e["value"] for e in container["environment"] if e["name"] in wanted} == wanted, env
    compose = render_compose(load_stack(ROOT, "local"))
    env = compose["services"]["website-agent"]["environment"]
    assert all(f"{k}={v}" in env for k, v in wanted.items()), env
