"""infra-plan / infra-apply against a fake CloudFormation that says which AWS
behaviour each state stands for (moto executes change sets synchronously and
never fails or rolls back one, so the failure paths are tested here)."""

from __future__ import annotations

import pytest

from parity.app.infrastructure.infra import InfraContext, apply, plan, show
from parity.errors import DeployFailed, ParityError

from .test_infra_render import stack_for

LIVE = "arn:aws:ecs:eu-central-1:123456789012:task-definition/huskit-crawler:7"


class FakeCfn:
    """CloudFormation as AWS behaves: a change set is CREATE_PENDING, then
    CREATE_COMPLETE with its changes (or FAILED "didn't contain changes");
    executing it runs the stack through *_IN_PROGRESS to ``final``."""

    def __init__(self, status=None, changes=(), final="UPDATE_COMPLETE", events=(), resources=None, existing=None):
        self.status, self.changes, self.final, self._events = status, list(changes), final, list(events)
        # a stack that exists holds its ALB (deletion protection goes on); names that exist outside it
        self._resources = {"Alb": "UPDATE_COMPLETE"} if resources is None else dict(resources)
        self._existing = dict(existing or {})
        self.created: list[tuple[str, dict]] = []
        self.deleted: list[str] = []
        self.executed: list[str] = []
        self.polls = 0

    def stack(self, name):
        if self.status is None:
            return None
        if self.status.endswith("_IN_PROGRESS") and self.executed:
            self.polls += 1
            if self.polls > 2:
                self.status = self.final
        return {
            "StackName": name,
            "StackStatus": self.status,
            "Outputs": [{"OutputKey": "AlbDnsName", "OutputValue": "alb.example"}],
        }

    def create_change_set(self, name, change_set, template, parameters, kind, imports=None):
        self.created.append((kind, parameters))
        return "cs-1"

    def describe_change_set(self, change_set, name):
        self.polls += 1
        if self.polls == 1:
            return {"Status": "CREATE_PENDING"}
        if not self.changes:
            return {
                "Status": "FAILED",
                "StatusReason": "The submitted information didn't contain changes. Submit different information to create a change set.",
            }
        return {"Status": "CREATE_COMPLETE", "Changes": [{"ResourceChange": c} for c in self.changes]}

    def execute_change_set(self, change_set, name):
        self.executed.append(change_set)
        self.status = "UPDATE_IN_PROGRESS"
        self.polls = 0

    def delete_change_set(self, change_set, name):
        self.deleted.append(change_set)

    def delete_stack(self, name):
        self.deleted.append(f"stack {name}")

    def events(self, name):
        return list(self._events)

    def prefix_list(self, list_name):
        return "pl-a3a144ca" if list_name == "com.amazonaws.global.cloudfront.origin-facing" else None

    def resources(self, name):
        return dict(self._resources) if self.status else {}

    def deployed_template(self, name):
        return {"Resources": {}}

    def existing(self, kind, name):
        return self._existing.get((kind, name))


class FakeServices:
    def cluster_active(self, cluster):
        return True

    def describe_service(self, cluster, service):
        return {"taskDefinition": LIVE} if service == "crawler" else None


def ctx_with(cfn):
    lines: list[str] = []
    ctx = InfraContext(
        stack=stack_for("prod"), cfn=cfn, ecs=FakeServices(), report=lines.append, sleep=lambda s: None, poll_interval=0
    )
    ctx.lines = lines  # type: ignore[attr-defined]
    return ctx


def change(action, logical, kind, replacement="False"):
    return {"Action": action, "LogicalResourceId": logical, "ResourceType": kind, "Replacement": replacement}


def test_plan_passes_the_live_revisions_and_calls_out_stateful_replacements():
    cfn = FakeCfn(status="UPDATE_COMPLETE", changes=[
        change("Modify", "StaticBucket", "AWS::S3::Bucket", "True"),
        change("Modify", "Alb", "AWS::ElasticLoadBalancingV2::LoadBalancer"),
        change("Add", "AllowListIPv4", "AWS::WAFv2::IPSet"),
        change("Remove", "CrawlerLogGroup", "AWS::Logs::LogGroup"),
    ])  # fmt: skip
    ctx = ctx_with(cfn)
    result = plan(ctx)
    kind, params = cfn.created[0]
    assert kind == "UPDATE"
    assert params == {
        "CloudFrontPrefixList": "pl-a3a144ca",
        "AlbDeletionProtection": "true",  # the ALB exists: protected from now on
        "WebsiteAgentTaskDefinition": "",
        "CrawlerTaskDefinition": LIVE,
        # no secrets reader: the origin lock's references name no version (AWSCURRENT)
        "OriginVerifyVersion": "",
        "OriginVerifyPreviousVersion": "",
    }
    assert cfn.deleted == ["cs-1"] and not cfn.executed  # a plan changes nothing
    show(ctx, result)
    text = "\n".join(ctx.lines)
    assert "! replace StaticBucket" in text and "STATEFUL" in text.split("StaticBucket")[1].splitlines()[0]
    assert "~ modify  Alb" in text and "+ add     AllowListIPv4" in text and "- remove  CrawlerLogGroup" in text
    assert "1 to replace, 1 to modify, 1 to add, 1 to remove" in text
    assert "WARNING: 2 stateful resource(s) would be replaced or removed: StaticBucket, CrawlerLogGroup" in text
    assert "crawler huskit-crawler:7" in text and "website-agent (placeholder, 0 tasks)" in text


class FakeSecrets:
    def __init__(self, versions):
        self.asked, self.found = [], versions

    def versions(self, name):
        self.asked.append(name)
        return self.found


def test_after_a_rotation_the_plan_passes_the_secrets_current_and_previous_versions():
    cfn = FakeCfn(status="UPDATE_COMPLETE")
    ctx = ctx_with(cfn)
    ctx.secrets = FakeSecrets({"AWSCURRENT": "v2-uuid", "AWSPREVIOUS": "v1-uuid"})
    plan(ctx)
    _, params = cfn.created[0]
    assert (params["OriginVerifyVersion"], params["OriginVerifyPreviousVersion"]) == ("v2-uuid", "v1-uuid")
    assert ctx.secrets.asked == ["huskit/prod/edge-origin"]


def test_no_changes_is_an_empty_plan_and_an_apply_that_executes_nothing():
    cfn = FakeCfn(status="UPDATE_COMPLETE")
    ctx = ctx_with(cfn)
    assert plan(ctx).changes == []
    assert apply(ctx_with(cfn)) == {"AlbDnsName": "alb.example"}
    assert cfn.executed == []


def test_a_new_stack_is_created_through_a_change_set():
    cfn = FakeCfn(status=None, changes=[change("Add", "Vpc", "AWS::EC2::VPC")])
    assert plan(ctx_with(cfn)).kind == "CREATE"
    assert cfn.deleted == ["cs-1", "stack huskit-prod"]  # the plan leaves no empty REVIEW_IN_PROGRESS stack


def test_a_failed_update_reports_the_cause_and_says_the_stack_was_rolled_back():
    events = [  # newest first, as CloudFormation lists them
        {"LogicalResourceId": "huskit-prod", "ResourceType": "AWS::CloudFormation::Stack", "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE"},
        {"LogicalResourceId": "Cluster", "ResourceType": "AWS::ECS::Cluster", "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "Resource update cancelled"},
        {"LogicalResourceId": "Alb", "ResourceType": "AWS::ElasticLoadBalancingV2::LoadBalancer", "ResourceStatus": "UPDATE_FAILED",
         "ResourceStatusReason": "Invalid idle timeout"},
    ]  # fmt: skip
    cfn = FakeCfn(status="UPDATE_COMPLETE", changes=[change("Modify", "Alb", "AWS::ElasticLoadBalancingV2::LoadBalancer")],
                  final="UPDATE_ROLLBACK_COMPLETE", events=events)  # fmt: skip
    ctx = ctx_with(cfn)
    with pytest.raises(DeployFailed) as exc:
        apply(ctx)
    assert str(exc.value) == (
        "apply of huskit-prod failed (Alb: Invalid idle timeout); stack huskit-prod is UPDATE_ROLLBACK_COMPLETE: "
        "the last update failed and CloudFormation rolled it back: the stack is as it was before that update; "
        "next: fix the cause the failed events name (`aws cloudformation describe-stack-events --stack-name huskit-prod`), "
        "then `inv infra-apply --env prod`"
    )
    text = "\n".join(ctx.lines)
    assert "  Alb (AWS::ElasticLoadBalancingV2::LoadBalancer): UPDATE_FAILED: Invalid idle timeout" in text


def test_a_stack_another_operation_holds_is_not_planned():
    with pytest.raises(ParityError, match=r"^stack huskit-prod is UPDATE_IN_PROGRESS: it is being updated; next: wait"):
        plan(ctx_with(FakeCfn(status="UPDATE_IN_PROGRESS")))


def test_an_environment_outside_us_east_1_applies_its_web_acl_stack_there_first():
    edge_cfn = FakeCfn(status=None, changes=[change("Add", "WebAcl", "AWS::WAFv2::WebACL")], final="CREATE_COMPLETE")
    edge_cfn.execute_change_set = lambda cs, name: (
        edge_cfn.executed.append(cs),
        setattr(edge_cfn, "status", "CREATE_IN_PROGRESS"),
        setattr(edge_cfn, "polls", 0),
    )
    acl = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/huskit-edge/abc"
    real_stack = edge_cfn.stack

    def stack(name):
        found = real_stack(name)
        if found:
            found["Outputs"] = (
                [{"OutputKey": "WebAclArn", "OutputValue": acl}] if found["StackStatus"] == "CREATE_COMPLETE" else []
            )
        return found

    edge_cfn.stack = stack
    main_cfn = FakeCfn(
        status="UPDATE_COMPLETE", changes=[change("Modify", "Distribution", "AWS::CloudFront::Distribution")]
    )
    ctx = ctx_with(main_cfn)
    ctx.edge = InfraContext(
        stack=ctx.stack,
        cfn=edge_cfn,
        ecs=FakeServices(),
        report=ctx.report,
        sleep=lambda s: None,
        poll_interval=0,
        part="edge",
    )
    assert ctx.edge.name == "huskit-prod-edge"
    apply(ctx)
    assert edge_cfn.created[0] == ("CREATE", {}) and edge_cfn.executed
    assert main_cfn.created[0][1]["WebAclArn"] == acl  # the distribution gets the companion's web ACL
    assert "stack huskit-prod-edge in us-east-1 (new): the web ACL" in "\n".join(ctx.lines)


def test_an_apply_reads_each_thing_from_aws_once_and_renders_each_template_once(monkeypatch):
    """The review's finding: the companion's outputs were read again for the
    main stack's parameters, each stack described again after its wait, and
    the template rendered for each use."""
    import parity.app.infrastructure.infra as infra

    renders = []
    real_render = infra.render_template
    monkeypatch.setattr(infra, "render_template", lambda stack: renders.append(stack.env) or real_render(stack))
    edge_cfn = FakeCfn(status=None, changes=[change("Add", "WebAcl", "AWS::WAFv2::WebACL")], final="CREATE_COMPLETE")
    edge_cfn.execute_change_set = lambda cs, name: (
        edge_cfn.executed.append(cs),
        setattr(edge_cfn, "status", "CREATE_IN_PROGRESS"),
        setattr(edge_cfn, "polls", 0),
    )
    edge_reads = []
    real_edge_stack = edge_cfn.stack
    edge_cfn.stack = lambda name: edge_reads.append(edge_cfn.status) or real_edge_stack(name)
    main_cfn = FakeCfn(
        status="UPDATE_COMPLETE", changes=[change("Modify", "Distribution", "AWS::CloudFront::Distribution")]
    )
    main_reads = []
    real_main_stack = main_cfn.stack
    main_cfn.stack = lambda name: main_reads.append(main_cfn.status) or real_main_stack(name)
    ctx = ctx_with(main_cfn)
    ctx.edge = InfraContext(
        stack=ctx.stack,
        cfn=edge_cfn,
        ecs=FakeServices(),
        report=ctx.report,
        sleep=lambda s: None,
        poll_interval=0,
        part="edge",
    )
    assert apply(ctx) == {"AlbDnsName": "alb.example"}
    # the edge: described by its plan, then polled until CREATE_COMPLETE (3 polls); never read again after
    assert edge_reads == [None, "CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS"]
    # the main stack: described by its plan, then polled; its outputs come from the last poll
    assert main_reads == ["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"]
    assert renders == ["prod"]
