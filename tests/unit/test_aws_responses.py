"""The normaliser against what AWS really returns. The saved responses under
fixtures/aws-*.json carry EVERY member that botocore's ECS model lists for
TaskDefinition, ContainerDefinition, Service, Deployment and
DeploymentConfiguration (and the nested shapes the diff compares), with the
value AWS gives a field that was not set (``null`` where AWS simply leaves the
field out). A newer botocore whose model has a new member fails the coverage
test: add the member to the fixture with AWS's default, and the clean-diff
test then says whether the normaliser knows that default."""

import json

import botocore.session
import pytest

from parity.app.deploy.changes import desired_service
from parity.render.diff import TASKDEF_READ_ONLY, normalise_service, normalise_taskdef, service_diff, taskdef_diff
from parity.render.taskdef import render_taskdef
from parity.spec.load import load_stack

from .conftest import ROOT

FIXTURES = ROOT / "tests/unit/fixtures"
ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/huskit/crawler@sha256:" + "cd" * 32
MODEL = botocore.session.get_session().get_service_model("ecs")
# Structures whose every member a saved response must carry (where the value is set at all).
COVERED = {
    "TaskDefinition", "ContainerDefinition", "Service", "Deployment", "DeploymentConfiguration",
    "PortMapping", "HealthCheck", "RuntimePlatform", "LogConfiguration", "DeploymentCircuitBreaker",
    "DeploymentAlarms", "EphemeralStorage", "ServiceRegistry", "NetworkConfiguration", "AwsVpcConfiguration",
    "DeploymentController", "ServiceEvent", "ServiceCurrentRevisionSummary",
}  # fmt: skip


def saved(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def live_taskdef() -> dict:
    return saved("aws-describe-task-definition-crawler.json")["taskDefinition"]


def live_service() -> dict:
    return saved("aws-describe-services-crawler.json")["services"][0]


def missing_members(shape, value, path: str) -> list[str]:
    """Members of ``shape`` (recursively, for COVERED structures) absent from ``value``."""
    out: list[str] = []
    if value is None:
        return out
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if shape.name in COVERED and name not in value:
                out.append(f"{path}.{name} ({shape.name})")
            if name in value:
                out += missing_members(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            out += missing_members(shape.member, item, f"{path}[{i}]")
    return out


@pytest.mark.parametrize(
    ("fixture", "operation"),
    [
        ("aws-describe-task-definition-crawler.json", "DescribeTaskDefinition"),
        ("aws-describe-services-crawler.json", "DescribeServices"),
    ],
)
def test_saved_responses_carry_every_member_of_the_model(fixture, operation):
    shape = MODEL.operation_model(operation).output_shape
    assert missing_members(shape, saved(fixture), operation) == []


def test_every_output_only_task_definition_member_is_known_read_only():
    """A field AWS reports but a registration cannot set is never a change."""
    accepted = set(MODEL.operation_model("RegisterTaskDefinition").input_shape.members)
    output_only = set(MODEL.shape_for("TaskDefinition").members) - accepted
    assert output_only <= TASKDEF_READ_ONLY, output_only - TASKDEF_READ_ONLY


def rendered() -> dict:
    return render_taskdef(load_stack(ROOT, "prod"), "crawler", IMAGE, ACCOUNT)


def test_the_rendered_definition_of_an_unchanged_service_diffs_clean_against_aws():
    assert taskdef_diff(live_taskdef(), rendered(), "td") == ""
    assert normalise_taskdef(live_taskdef()) == normalise_taskdef(rendered())


def test_the_service_promote_left_diffs_clean_against_aws():
    live = live_service()
    assert service_diff(live, desired_service(live, changed=False, family="huskit-crawler"), "s") == ""


def test_a_real_change_still_shows_against_a_full_response():
    live = live_taskdef()
    live["enableFaultInjection"] = True
    live["runtimePlatform"]["cpuArchitecture"] = "ARM64"
    live["containerDefinitions"][0]["readonlyRootFilesystem"] = True
    text = taskdef_diff(live, rendered(), "td")
    for line in (
        '-  "enableFaultInjection": true,',
        '-    "cpuArchitecture": "ARM64",',
        '-      "readonlyRootFilesystem": true,',
    ):
        assert line in text
    service = live_service()
    service["deploymentConfiguration"]["deploymentCircuitBreaker"]["rollback"] = False
    service["deploymentConfiguration"]["alarms"] = {"alarmNames": ["huskit-5xx"], "enable": True, "rollback": True}
    text = service_diff(service, desired_service(service, changed=False, family="huskit-crawler"), "s")
    assert '-      "rollback": false' in text and "huskit-5xx" in text


def test_a_definition_registered_without_runtime_platform_is_x86_64():
    """Older revisions (before runtimePlatform was rendered) run on Fargate's default."""
    live = live_taskdef()
    del live["runtimePlatform"]
    assert taskdef_diff(live, rendered(), "td") == ""


def test_settings_of_other_strategies_are_ignored_on_rolling():
    live = live_service()
    live["deploymentConfiguration"]["bakeTimeInMinutes"] = 15
    assert normalise_service(live) == normalise_service(live_service())
