"""ECS Exec is a spec switch per environment (``aws.execute_command``: on for
local and staging, off for prod), rendered with what it needs: the task
role's Session Manager permissions (a policy of its own), the services'
EnableExecuteCommand, the cluster's session log in a log group of its own,
and an init process in the container. Off, nothing of it is rendered."""

from __future__ import annotations

from botocore.session import get_session
from botocore.validate import ParamValidator

from parity.render.infra import render_template
from parity.render.taskdef import render_taskdef

from .ops_world import spec
from .test_infra_render import REAL

SSM = {
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def template(env: str, extra: dict | None = None) -> dict:
    return render_template(spec(env, {**(REAL if env != "local" else {}), **(extra or {})}))


def test_the_switch_is_on_for_local_and_staging_and_off_for_prod():
    assert [spec(env).aws.execute_command for env in ("local", "staging", "prod")] == [True, True, False]


def test_on_it_renders_the_permissions_the_session_log_and_the_service_flag():
    res = template("staging")["Resources"]
    policy = res["TaskRoleExecPolicy"]
    assert policy["Type"] == "AWS::IAM::Policy" and policy["Properties"]["Roles"] == [{"Ref": "TaskRole"}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert set(statements[0]["Action"]) == SSM and statements[0]["Resource"] == "*"  # they take no resource
    assert statements[2]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/ecs/huskit-staging/exec:*"
    }
    assert "Policies" not in res["TaskRole"]["Properties"]  # the role itself is as before
    log = res["ExecLogGroup"]
    assert (
        log["Properties"] == {"LogGroupName": "/ecs/huskit-staging/exec", "RetentionInDays": 30}
        and log["DeletionPolicy"] == "Retain"
    )
    config = res["Cluster"]["Properties"]["Configuration"]["ExecuteCommandConfiguration"]
    assert config == {
        "Logging": "OVERRIDE",
        "LogConfiguration": {"CloudWatchLogGroupName": {"Ref": "ExecLogGroup"}, "CloudWatchEncryptionEnabled": False},
    }
    for service in ("WebsiteAgentService", "CrawlerService"):
        assert res[service]["Properties"]["EnableExecuteCommand"] is True
        assert "TaskRoleExecPolicy" in res[service]["DependsOn"]


def test_off_nothing_of_it_is_rendered():
    res = template("prod")["Resources"]
    assert "TaskRoleExecPolicy" not in res and "ExecLogGroup" not in res
    assert not any(r["Type"] == "AWS::IAM::Policy" for r in res.values())
    assert "Configuration" not in res["Cluster"]["Properties"]
    assert all("EnableExecuteCommand" not in r["Properties"] for r in res.values() if r["Type"] == "AWS::ECS::Service")
    assert (
        "linuxParameters"
        not in render_taskdef(spec("prod"), "crawler", "r@sha256:" + "a" * 64, "123456789012")["containerDefinitions"][
            0
        ]
    )


def test_on_the_task_definition_runs_an_init_and_is_what_ecs_accepts():
    td = render_taskdef(spec("staging"), "crawler", "r@sha256:" + "a" * 64, "123456789012")
    assert td["containerDefinitions"][0]["linuxParameters"] == {"initProcessEnabled": True}
    shape = get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(td, shape)
    assert not report.has_errors(), report.generate_report()
