"""Adopting what exists, against a real moto server (no Docker): the lookups
(S3 HeadBucket, ECR DescribeRepositories, Logs DescribeLogGroups, Secrets
Manager DescribeSecret) and the plan's IMPORT and CREATE change sets, which
moto accepts and the plan deletes again.

What moto 5.2.5 cannot show, said here once: it ignores an IMPORT change
set's ResourcesToImport and, executed, creates what the template names (so
an existing bucket fails with BucketAlreadyExists), and it never fails or
rolls back a creation. The import itself, the retry after a rolled-back
creation and the deletion protection's effect on a rollback are tested
against tests/unit/cfn_fake.py (CloudFormation as AWS documents it) in
tests/unit/test_infra_first_day.py, and the calls against botocore's shapes
in tests/unit/test_infra_adopt.py."""

from __future__ import annotations

import boto3
import pytest

from parity.app.infrastructure.infra import plan, show

from .moto_server import moto_server
from .test_infra_moto import REGION, ctx_for, make_root

pytestmark = pytest.mark.integration


def client(service: str, endpoint: str):
    return boto3.client(
        service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )


def test_a_plan_finds_what_was_made_by_hand_and_leaves_nothing_behind(tmp_path):
    with moto_server() as moto:
        root = make_root(tmp_path, moto)
        client("ecr", moto).create_repository(repositoryName="huskit/crawler")  # plan 6.2
        client("s3", moto).create_bucket(
            Bucket="huskit-static-assets-prod", CreateBucketConfiguration={"LocationConstraint": REGION}
        )  # plan 6.6
        client("secretsmanager", moto).create_secret(Name="huskit/prod/website-agent", SecretString="{}")  # plan 6.7
        client("logs", moto).create_log_group(logGroupName="/ecs/huskit-crawler")  # plan 6.8
        client("logs", moto).create_log_group(logGroupName="/ecs/huskit-crawler-old")  # a prefix match is not it

        ctx = ctx_for(root)
        result = plan(ctx)
        show(ctx, result)
        adopted = {(a.logical_id, a.name): a.identifier for a in result.adopt}
        arn = client("secretsmanager", moto).describe_secret(SecretId="huskit/prod/website-agent")["ARN"]
        assert adopted == {
            ("CrawlerRepository", "huskit/crawler"): {"RepositoryName": "huskit/crawler"},
            ("StaticBucket", "huskit-static-assets-prod"): {"BucketName": "huskit-static-assets-prod"},
            ("WebsiteAgentSecret", "huskit/prod/website-agent"): {"Id": arn},
            ("CrawlerLogGroup", "/ecs/huskit-crawler"): {"LogGroupName": "/ecs/huskit-crawler"},
        }
        marks = {c.logical_id: c.action for c in result.changes}
        assert {lid for lid, action in marks.items() if action == "Import"} == {lid for lid, _ in adopted}
        assert marks["WebsiteAgentRepository"] == "Add" and marks["Alb"] == "Add"
        text = "\n".join(ctx.lines)
        assert "= adopt   StaticBucket" in text and "adopt first (an IMPORT change set" in text
        stacks = client("cloudformation", moto).list_stacks()["StackSummaries"]
        assert [s["StackStatus"] for s in stacks] == ["DELETE_COMPLETE"] * len(stacks)  # the plan's own, deleted again
        assert client("cloudformation", moto).describe_stacks()["Stacks"] == []
