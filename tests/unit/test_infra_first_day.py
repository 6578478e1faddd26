"""The first `inv infra-apply` of an environment, against CloudFormation as AWS
documents it (tests/unit/cfn_fake.py: moto neither fails a creation nor
rolls one back, and ignores an IMPORT's ResourcesToImport).

Issue 16: a failed first creation can be retried (finding 2), resources made
by hand are adopted (finding 2), the ALB's deletion protection does not turn a
failed creation into ROLLBACK_FAILED (finding 3), and every stack status
leads to one line saying what happened and what to run next (finding 3)."""

from __future__ import annotations

import pytest
from botocore.session import get_session

from parity.app.infrastructure import stack_states
from parity.app.infrastructure.infra import InfraContext, apply, plan, show
from parity.errors import DeployFailed, ParityError

from .cfn_fake import FakeAwsCfn, FakeEcsServices, arn_of
from .test_infra_render import stack_for

RETAINED = {
    ("AWS::S3::Bucket", "huskit-static-assets-prod"),
    ("AWS::ECR::Repository", "huskit/website-agent"),
    ("AWS::ECR::Repository", "huskit/crawler"),
    ("AWS::Logs::LogGroup", "/ecs/huskit-website-agent"),
    ("AWS::Logs::LogGroup", "/ecs/huskit-crawler"),
    ("AWS::SecretsManager::Secret", "huskit/prod/website-agent"),
    ("AWS::SecretsManager::Secret", "huskit/prod/crawler"),
    ("AWS::SecretsManager::Secret", "huskit/prod/edge-origin"),
}


def ctx_with(cfn, env="prod"):
    lines: list[str] = []
    ctx = InfraContext(stack=stack_for(env), cfn=cfn, ecs=FakeEcsServices(), report=lines.append,
                       sleep=lambda s: None, poll_interval=0)  # fmt: skip
    ctx.lines = lines  # type: ignore[attr-defined]
    return ctx


def text(ctx) -> str:
    return "\n".join(ctx.lines)


# -- finding 3: the ALB's deletion protection ----------------------------------------


def test_a_failed_first_creation_rolls_back_completely():
    """With deletion protection on during the creation, the rollback could not
    delete the ALB: ROLLBACK_FAILED, a stack that can only be deleted by hand."""
    cfn = FakeAwsCfn(fail_on={"Distribution"})  # e.g. a certificate not yet validated
    ctx = ctx_with(cfn)
    with pytest.raises(DeployFailed) as exc:
        apply(ctx)
    assert cfn.stacks["huskit-prod"]["status"] == "ROLLBACK_COMPLETE"
    assert cfn.stacks["huskit-prod"]["parameters"]["AlbDeletionProtection"] == "false"
    message = str(exc.value)
    assert message.startswith('apply of huskit-prod failed (Distribution: Resource handler returned message: "injected failure"); '
                              "stack huskit-prod is ROLLBACK_COMPLETE: its first creation failed and was rolled back")  # fmt: skip
    assert "next: fix the cause the failed events name, then `inv infra-apply --env prod`" in message
    # it names what was really retained, nothing else
    assert message.endswith(
        "(retained, to be adopted: CrawlerLogGroup, CrawlerRepository, CrawlerSecret, EdgeOriginSecret, StaticBucket, "
        "WebsiteAgentLogGroup, WebsiteAgentRepository, WebsiteAgentSecret)"
    )
    assert "the ALB is created without deletion protection; the next apply turns it on" in text(ctx)


def test_deletion_protection_goes_on_once_the_alb_exists():
    cfn = FakeAwsCfn()
    apply(ctx_with(cfn))
    assert cfn.stacks["huskit-prod"]["status"] == "CREATE_COMPLETE"
    assert cfn.stacks["huskit-prod"]["parameters"]["AlbDeletionProtection"] == "false"
    again = plan(ctx_with(cfn))
    assert again.parameters["AlbDeletionProtection"] == "true"
    assert ("Modify", "Alb") in [(c.action, c.logical_id) for c in again.changes]
    apply(ctx_with(cfn))
    assert cfn.stacks["huskit-prod"]["parameters"]["AlbDeletionProtection"] == "true"


# -- finding 2: retry a failed first creation, adopt what exists ---------------------


def test_a_failed_first_creation_is_retried_by_the_next_apply():
    cfn = FakeAwsCfn(fail_on={"Distribution"})
    with pytest.raises(DeployFailed):
        apply(ctx_with(cfn))
    assert {k for k, owner in cfn.world.items() if owner is None} == RETAINED  # outside any stack now

    preview = ctx_with(cfn)
    result = plan(preview)
    show(preview, result)
    assert result.recreate and {(a.kind, a.name) for a in result.adopt} == RETAINED
    assert "infra-apply deletes the rolled-back stack huskit-prod (it holds nothing), then creates it:" in text(preview)
    assert "= adopt   StaticBucket" in text(preview) and "+ add     Alb" in text(preview)
    assert cfn.stacks["huskit-prod"]["status"] == "ROLLBACK_COMPLETE"  # a plan changes nothing

    cfn.fail_on.clear()  # the cause fixed
    cfn.calls.clear()
    ctx = ctx_with(cfn)
    apply(ctx)
    found = cfn.stacks["huskit-prod"]
    assert found["status"] == "UPDATE_COMPLETE"
    assert {lid for lid, st in found["resources"].items() if st == "IMPORT_COMPLETE"} == {
        "StaticBucket", "WebsiteAgentRepository", "CrawlerRepository", "WebsiteAgentLogGroup", "CrawlerLogGroup",
        "WebsiteAgentSecret", "CrawlerSecret", "EdgeOriginSecret",
    }  # fmt: skip
    assert found["resources"]["Distribution"] == "CREATE_COMPLETE"
    assert all(owner == "huskit-prod" for owner in cfn.world.values())
    assert [c[:2] for c in cfn.calls if c[0] in ("delete_stack", "execute")] == [
        ("delete_stack", "huskit-prod"),
        ("execute", "IMPORT"),
        ("execute", "UPDATE"),
    ]
    # the imported resources get the template's settings from the update, not only their names
    assert found["template"]["Resources"]["CrawlerRepository"]["Properties"].get("LifecyclePolicy")


def hand_made() -> FakeAwsCfn:
    """An account set up by the plan's sections 6.2-6.8: repositories, bucket, secrets, log groups."""
    cfn = FakeAwsCfn()
    for kind, name in RETAINED:
        cfn.make(kind, name)
    return cfn


def test_resources_made_by_hand_are_adopted_not_collided_with():
    cfn = hand_made()
    apply(ctx_with(cfn))
    assert cfn.stacks["huskit-prod"]["status"] == "UPDATE_COMPLETE"
    assert {lid for lid, st in cfn.stacks["huskit-prod"]["resources"].items() if st == "IMPORT_COMPLETE"} == {
        "StaticBucket", "WebsiteAgentRepository", "CrawlerRepository", "WebsiteAgentLogGroup", "CrawlerLogGroup",
        "WebsiteAgentSecret", "CrawlerSecret", "EdgeOriginSecret",
    }  # fmt: skip


def test_the_plan_says_what_it_adopts():
    cfn = hand_made()
    ctx = ctx_with(cfn)
    result = plan(ctx)
    show(ctx, result)
    assert result.kind == "CREATE" and not result.recreate
    assert sorted(c.logical_id for c in result.changes if c.action == "Import") == sorted(
        a.logical_id for a in result.adopt
    )
    assert "adopt first (an IMPORT change set; then the update brings them to the template): " in text(ctx)
    assert "CrawlerSecret (huskit/prod/crawler)" in text(ctx)
    assert "huskit-prod" not in cfn.stacks  # the plan left no stack behind
    secret = next(a for a in result.adopt if a.logical_id == "CrawlerSecret")
    assert secret.identifier == {"Id": arn_of("huskit/prod/crawler")}
    apply(ctx_with(cfn))
    assert plan(ctx_with(cfn)).adopt == []


def test_a_new_secret_made_by_hand_is_adopted_into_an_existing_stack():
    """The IMPORT of an existing stack keeps its template and parameters as they are."""
    cfn = FakeAwsCfn()
    apply(ctx_with(cfn))
    apply(ctx_with(cfn))  # protection on
    extra = {"services": {"crawler": {"secrets": {"EXTRA_TOKEN": "huskit/prod/extra:EXTRA_TOKEN"}}}}
    cfn.make("AWS::SecretsManager::Secret", "huskit/prod/extra")
    ctx = InfraContext(stack=stack_for("prod", extra), cfn=cfn, ecs=FakeEcsServices(), report=lambda _l: None,
                       sleep=lambda s: None, poll_interval=0)  # fmt: skip
    result = plan(ctx)
    assert [(a.logical_id, a.name) for a in result.adopt] == [("ExtraSecret", "huskit/prod/extra")]
    apply(ctx)
    assert cfn.stacks["huskit-prod"]["resources"]["ExtraSecret"] == "IMPORT_COMPLETE"
    assert cfn.stacks["huskit-prod"]["status"] == "UPDATE_COMPLETE"


def test_an_adoption_cloudformation_refuses_is_one_line_before_anything_changes():
    cfn = FakeAwsCfn()
    cfn.make("AWS::S3::Bucket", "huskit-static-assets-prod")
    cfn.world[("AWS::S3::Bucket", "huskit-static-assets-prod")] = "someone-elses-stack"
    with pytest.raises(ParityError) as exc:
        apply(ctx_with(cfn))
    assert exc.value.message == (
        "adopting huskit-static-assets-prod into huskit-prod was refused: create change set: ValidationError: "
        "Resource huskit-static-assets-prod already belongs to stack someone-elses-stack"
    )
    assert "huskit-prod" not in cfn.stacks


# -- finding 3: every status, one line -------------------------------------------


ALL = get_session().get_service_model("cloudformation").shape_for("StackStatus").enum


def test_every_stack_status_aws_knows_has_a_row():
    assert set(stack_states.STATES) == set(ALL)
    for status in ALL:
        line = stack_states.line(status, "huskit-prod", "prod")
        assert line.startswith(f"stack huskit-prod is {status}: ") and "; next: " in line
        assert "`" in line.split("; next: ")[1]  # a command to run
        assert "\n" not in line


@pytest.mark.parametrize("status", ALL)
def test_each_status_leads_to_a_plan_or_one_line(status):
    cfn = FakeAwsCfn()
    if status != "DELETE_COMPLETE":  # describe_stacks by name never returns a deleted stack
        cfn.stacks["huskit-prod"] = {"status": status, "resources": {}, "template": {"Resources": {}},
                                     "parameters": {}, "events": []}  # fmt: skip
    kind = stack_states.STATES[status].kind
    ctx = ctx_with(cfn)
    if kind in ("busy", "stuck"):
        with pytest.raises(ParityError) as exc:
            plan(ctx)
        assert str(exc.value) == stack_states.line(status, "huskit-prod", "prod")
        assert (
            "retain" not in stack_states.STATES[status].happened
        )  # the cause is never guessed to be retained resources
        assert not [c for c in cfn.calls if c[0] == "create_change_set"]  # nothing asked that CloudFormation refuses
        return
    result = plan(ctx)
    if kind == "recreate":
        assert result.recreate and result.change_set is None
    else:
        assert result.kind == {"new": "CREATE", "ready": "UPDATE"}[kind]
    show(ctx, result)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE"):
        assert stack_states.line(status, "huskit-prod", "prod") in text(ctx)


def test_rollback_failed_is_not_blamed_on_retained_resources():
    cfn = FakeAwsCfn()
    cfn.stacks["huskit-prod"] = {"status": "ROLLBACK_FAILED", "resources": {}, "template": {"Resources": {}},
                                 "parameters": {}, "events": []}  # fmt: skip
    with pytest.raises(ParityError) as exc:
        plan(ctx_with(cfn))
    assert str(exc.value) == (
        "stack huskit-prod is ROLLBACK_FAILED: its first creation failed and so did the rollback: some resources could "
        "not be deleted; next: read why in `aws cloudformation describe-stack-events --stack-name huskit-prod`, then "
        "delete it: `aws cloudformation delete-stack --stack-name huskit-prod` (add --retain-resources LOGICAL_IDS for "
        "those that still cannot be deleted), then `inv infra-apply --env prod`"
    )


# -- finding 7: what a replacement loses -----------------------------------------------


def test_replacing_the_alb_or_the_namespace_is_called_out():
    """A new ALB has a new DNS name (infra.origin_domain's record points at the old one);
    a new Cloud Map namespace loses crawler.internal until the services register again."""
    from .test_infra_plan import FakeCfn, change

    cfn = FakeCfn(status="UPDATE_COMPLETE", changes=[
        change("Modify", "Alb", "AWS::ElasticLoadBalancingV2::LoadBalancer", "True"),
        change("Modify", "InternalNamespace", "AWS::ServiceDiscovery::PrivateDnsNamespace", "Conditional"),
        change("Modify", "Cluster", "AWS::ECS::Cluster", "True"),
    ])  # fmt: skip
    ctx = ctx_with(cfn)
    show(ctx, plan(ctx))
    lines = text(ctx).splitlines()
    alb = next(line for line in lines if "replace Alb " in line)
    assert alb.endswith("<- STATEFUL (if replaced): a new DNS name: infra.origin_domain's record must follow")
    namespace = next(line for line in lines if "InternalNamespace" in line)
    assert (
        "(may be replaced)" in namespace
        and "STATEFUL (if replaced): its discovery names (crawler.internal) go" in namespace
    )
    assert "STATEFUL" not in next(line for line in lines if "replace Cluster" in line)
    assert "WARNING: 2 stateful resource(s) would be replaced or removed: Alb, InternalNamespace" in lines
