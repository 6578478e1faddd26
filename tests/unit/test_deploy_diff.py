"""A diff shows only real changes: what ECS adds or fills in by default, and
the order of environment variables and secrets, are not changes."""

import copy

from parity.render.diff import normalise_service, normalise_taskdef, service_diff, short_taskdef, taskdef_diff
from parity.render.taskdef import deployment_configuration, render_taskdef
from parity.spec.load import load_stack

from .conftest import ROOT

ACCOUNT = "123456789012"
IMAGE = "r/huskit/crawler@sha256:" + "cd" * 32


def rendered() -> dict:
    return render_taskdef(load_stack(ROOT, "prod"), "crawler", IMAGE, ACCOUNT)


def as_described(td: dict) -> dict:
    """What describe-task-definition returns for ``td`` (shape seen from moto and AWS)."""
    live = copy.deepcopy(td)
    live.update(
        taskDefinitionArn=f"arn:aws:ecs:eu-central-1:{ACCOUNT}:task-definition/huskit-crawler:7",
        revision=7,
        status="ACTIVE",
        compatibilities=["EC2", "FARGATE"],
        requiresAttributes=[{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"}],
        registeredAt="2026-01-01T00:00:00Z",
        registeredBy="arn:aws:iam::123456789012:user/ci",
        volumes=[],
        placementConstraints=[],
    )
    c = live["containerDefinitions"][0]
    c.update(cpu=0, mountPoints=[], volumesFrom=[], systemControls=[])
    c["portMappings"] = [{"containerPort": 4999, "hostPort": 4999, "protocol": "tcp"}]
    c["environment"] = list(reversed(c["environment"]))
    c["secrets"] = list(reversed(c["secrets"]))
    return live


def test_live_copy_of_the_rendered_definition_shows_no_change():
    td = rendered()
    assert normalise_taskdef(as_described(td)) == normalise_taskdef(td)
    assert taskdef_diff(as_described(td), td, "td") == ""


def test_a_new_digest_is_exactly_one_changed_line():
    td = rendered()
    live = as_described(td)
    live["containerDefinitions"][0]["image"] = "r/huskit/crawler@sha256:" + "00" * 32
    text = taskdef_diff(live, td, "task definition huskit-crawler")
    changed = [line for line in text.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        '-      "image": "r/huskit/crawler@sha256:' + "00" * 32 + '",',
        '+      "image": "' + IMAGE + '",',
    ]
    assert "--- task definition huskit-crawler (live)" in text


def test_a_changed_env_value_and_a_new_secret_show():
    td = rendered()
    live = as_described(td)
    env = live["containerDefinitions"][0]["environment"]
    next(e for e in env if e["name"] == "CRAWL4AI_TIMEOUT")["value"] = "60"
    live["containerDefinitions"][0]["secrets"] = live["containerDefinitions"][0]["secrets"][1:]
    text = taskdef_diff(live, td, "td")
    assert '-          "value": "60"' in text
    assert '+          "value": "30"' in text
    assert "DEEPSEEK_API_KEY" in text  # the dropped secret comes back (the list was reversed)


def test_secret_looking_env_values_are_never_shown():
    td = rendered()
    live = as_described(td)
    live["containerDefinitions"][0]["environment"].append({"name": "LEGACY_API_KEY", "value": "sk-live-very-secret"})
    text = taskdef_diff(live, td, "td")
    assert "LEGACY_API_KEY" in text
    assert "sk-live-very-secret" not in text
    assert "<redacted sha256:" in text


def test_service_defaults_are_filled_and_only_real_changes_show():
    live = {
        "taskDefinition": f"arn:aws:ecs:eu-central-1:{ACCOUNT}:task-definition/huskit-crawler:7",
        "desiredCount": 1,
        "deploymentConfiguration": {
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "alarms": {"alarmNames": [], "enable": False, "rollback": False},
        },
    }
    assert normalise_service(live)["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": False,
        "rollback": False,
    }
    same = {**live, "deploymentConfiguration": {**deployment_configuration()}}
    assert (
        service_diff(
            same, {"taskDefinition": live["taskDefinition"], "deploymentConfiguration": deployment_configuration()}, "s"
        )
        == ""
    )
    text = service_diff(
        live,
        {"taskDefinition": "huskit-crawler:(new revision)", "deploymentConfiguration": deployment_configuration()},
        "s",
    )
    assert '-  "taskDefinition": "huskit-crawler:7"' in text
    assert '+      "enable": true,' in text
    assert short_taskdef(live["taskDefinition"]) == "huskit-crawler:7"


def test_no_live_definition_is_all_additions():
    text = taskdef_diff(None, rendered(), "td")
    assert text.splitlines()[2].startswith("@@")
    assert all(not line.startswith("-") or line.startswith("---") for line in text.splitlines())
