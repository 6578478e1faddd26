"""infra.yml's two jobs: `inv infra-plan --keep` keeps the change sets it shows
(.parity/infra-plan-ENV.json), `inv infra-apply --planned` executes exactly
those, against a fake CloudFormation that says which AWS behaviour it stands for."""

from __future__ import annotations

import json

import pytest

from parity.app.infrastructure.infra import InfraContext, apply_planned, plan_all, plan_file
from parity.errors import ParityError

from .test_infra_render import stack_for

LIVE = "arn:aws:ecs:eu-central-1:123456789012:task-definition/huskit-crawler:7"
NEWER = LIVE.replace(":7", ":8")


class Cfn:
    """A stack that exists; each change set gets its own id and the changes given;
    executing one completes the update (UPDATE_COMPLETE)."""

    def __init__(self, changes):
        self.changes = changes
        self.sets: dict[str, dict] = {}
        self.executed: list[str] = []
        self.deleted: list[str] = []
        self.status = "UPDATE_COMPLETE"

    def stack(self, name):
        return {"StackName": name, "StackStatus": self.status, "Outputs": []}

    def create_change_set(self, name, change_set, template, parameters, kind):
        cs = f"cs-{len(self.sets) + 1}"
        self.sets[cs] = {"parameters": parameters, "changes": list(self.changes)}
        return cs

    def describe_change_set(self, change_set, name):
        changes = self.sets[change_set]["changes"]
        if not changes:
            return {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."}
        return {"Status": "CREATE_COMPLETE", "Changes": [{"ResourceChange": c} for c in changes]}

    def execute_change_set(self, change_set, name):
        self.executed.append(change_set)

    def delete_change_set(self, change_set, name):
        self.deleted.append(change_set)

    def delete_stack(self, name):
        self.deleted.append(f"stack {name}")

    def events(self, name):
        return []

    def prefix_list(self, list_name):
        return "pl-a3a144ca"

    # what adopting existing resources asks (issue 16's other half): nothing exists here
    def resources(self, name):
        return {}

    def deployed_template(self, name):
        return {}

    def existing(self, kind, name):
        return None


class Services:
    def __init__(self, running):
        self.running = running

    def cluster_active(self, cluster):
        return True

    def describe_service(self, cluster, service):
        return {"taskDefinition": self.running} if service == "crawler" else None


MODIFY_SERVICE = {
    "Action": "Modify",
    "LogicalResourceId": "CrawlerService",
    "ResourceType": "AWS::ECS::Service",
    "Replacement": "False",
}
ADD_ALARM = {
    "Action": "Add",
    "LogicalResourceId": "CrawlerCpuAlarm",
    "ResourceType": "AWS::CloudWatch::Alarm",
    "Replacement": "False",
}


def ctx_with(cfn, services):
    lines: list[str] = []
    stack = stack_for("local")  # one stack, no companion: the emulator's shape
    ctx = InfraContext(stack=stack, cfn=cfn, ecs=services, report=lines.append, sleep=lambda s: None, poll_interval=0)
    ctx.lines = lines  # type: ignore[attr-defined]
    return ctx


def test_the_plan_keeps_its_change_sets_and_the_apply_executes_exactly_those(tmp_path):
    cfn, services = Cfn([MODIFY_SERVICE]), Services(LIVE)
    plan_all(ctx_with(cfn, services), keep=True, root=tmp_path)
    saved = json.loads(plan_file(tmp_path, "local").read_text())
    assert saved["env"] == "local" and saved["stacks"][0]["change_set"] == "cs-1"
    assert saved["stacks"][0]["parameters"]["CrawlerTaskDefinition"] == LIVE
    assert cfn.deleted == []  # kept
    apply_planned(ctx_with(cfn, services), tmp_path)
    # planned again to compare, and that new change set dropped: the kept one runs
    assert cfn.executed == ["cs-1"] and cfn.deleted == ["cs-2"]


def test_what_moved_since_the_plan_is_planned_again_only_if_the_changes_are_the_reviewed_ones(tmp_path):
    cfn = Cfn([MODIFY_SERVICE])
    plan_all(ctx_with(cfn, Services(LIVE)), keep=True, root=tmp_path)
    ctx = ctx_with(cfn, Services(NEWER))  # a promote ran in between: the kept change set would roll it back
    apply_planned(ctx, tmp_path)
    assert cfn.executed == ["cs-2"] and cfn.sets["cs-2"]["parameters"]["CrawlerTaskDefinition"] == NEWER
    assert any(
        "CrawlerTaskDefinition changed since the plan; the same changes, planned again" in line for line in ctx.lines
    )


def test_an_apply_whose_changes_would_differ_from_the_reviewed_ones_applies_nothing(tmp_path):
    cfn = Cfn([MODIFY_SERVICE])
    plan_all(ctx_with(cfn, Services(LIVE)), keep=True, root=tmp_path)
    cfn.changes = [MODIFY_SERVICE, ADD_ALARM]
    with pytest.raises(ParityError) as exc:
        apply_planned(ctx_with(cfn, Services(NEWER)), tmp_path)
    assert str(exc.value).startswith(
        "huskit-local: the changes would now differ from the reviewed plan (2 instead of 1)"
    )
    assert cfn.executed == [] and "cs-2" in cfn.deleted


def test_an_apply_without_a_kept_plan_says_what_to_run(tmp_path):
    with pytest.raises(
        ParityError, match=r"no kept plan of local \(infra-plan-local.json\).*inv infra-plan --env local --keep"
    ):
        apply_planned(ctx_with(Cfn([]), Services(LIVE)), tmp_path)
    plan_file(tmp_path, "local").parent.mkdir(parents=True)
    plan_file(tmp_path, "local").write_text(json.dumps({"env": "local", "stacks": []}))
    with pytest.raises(ParityError, match="the kept plan has no change set for huskit-local"):
        apply_planned(ctx_with(Cfn([]), Services(LIVE)), tmp_path)


def test_a_plan_without_changes_applies_nothing(tmp_path):
    cfn = Cfn([])
    plan_all(ctx_with(cfn, Services(LIVE)), keep=True, root=tmp_path)
    ctx = ctx_with(cfn, Services(LIVE))
    apply_planned(ctx, tmp_path)
    assert cfn.executed == [] and "stack huskit-local: no changes (as planned)" in ctx.lines


def test_a_kept_change_set_that_no_longer_exists_is_not_trusted_blindly(tmp_path):
    """The stack moved on (another apply ran): the plan again finds other changes."""
    cfn = Cfn([MODIFY_SERVICE])
    plan_all(ctx_with(cfn, Services(LIVE)), keep=True, root=tmp_path)
    cfn.changes = []
    with pytest.raises(ParityError, match=r"the changes would now differ from the reviewed plan \(0 instead of 1\)"):
        apply_planned(ctx_with(cfn, Services(LIVE)), tmp_path)
    assert cfn.executed == []
