"""The rehearsal's emulator (adapters/emulator.py): moto with AWS's authorization
put in, checked call by call against a real server on a free loopback port.
Each check is one moto 5.2.5 gets wrong on its own (see the module's docstring)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from parity.adapters.emulator import emulator
from parity.adapters.rehearsal import Account, mint_token
from parity.errors import ParityError

pytestmark = pytest.mark.integration

REGION, ACCOUNT = "eu-central-1", "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
SUB = "repo:o/r:environment:prod"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "ecs:DescribeClusters", "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/ours"},
        {"Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/fam:*"},
        {
            "Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/exec",
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bucket"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def account():
    with emulator() as url:
        acct = Account(url, REGION)
        acct.make_administrator()
        iam = acct.client("iam")
        iam.create_open_id_connect_provider(
            Url="https://token.actions.githubusercontent.com",
            ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["0" * 40],
        )
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com", "token.actions.githubusercontent.com:sub": SUB}},
        }]}  # fmt: skip
        iam.create_role(RoleName="job", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName="job", PolicyName="p", PolicyDocument=json.dumps(POLICY))
        iam.create_role(
            RoleName="exec", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )
        acct.client("s3").create_bucket(Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
        acct.client("ecs").create_cluster(clusterName="ours")
        acct.client("ecs").create_cluster(clusterName="theirs")
        yield acct


def token(sub=SUB, aud="sts.amazonaws.com", iss="https://token.actions.githubusercontent.com"):
    return mint_token({"iss": iss, "aud": aud, "sub": sub})


@pytest.fixture(scope="module")
def job(account):
    return account.assume(f"arn:aws:iam::{ACCOUNT}:role/job", token(), "job")


def error(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    return exc.value.response["Error"]["Code"], exc.value.response["Error"].get("Message", "")


def test_a_statement_scoped_to_an_arn_allows_that_resource_only(account, job):
    ecs = account.client("ecs", credentials=job)
    assert ecs.describe_clusters(clusters=["ours"])["clusters"][0]["clusterName"] == "ours"  # moto alone: AccessDenied
    code, message = error(lambda: ecs.describe_clusters(clusters=["theirs"]))
    assert code == "AccessDeniedException"
    assert (
        f"is not authorized to perform: ecs:DescribeClusters on resource: arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/theirs"
        in message
    )
    assert "assumed-role/job/job" in message


def test_a_role_handed_to_ecs_needs_pass_role_with_its_condition(account, job):
    ecs = account.client("ecs", credentials=job)
    container = [{"name": "a", "image": "i", "memory": 128}]
    ecs.register_task_definition(
        family="fam", containerDefinitions=container, executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/exec"
    )
    code, message = error(
        lambda: ecs.register_task_definition(
            family="fam", containerDefinitions=container, taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/admin"
        )
    )
    assert code == "AccessDeniedException" and f"iam:PassRole on resource: arn:aws:iam::{ACCOUNT}:role/admin" in message
    code, message = error(lambda: ecs.register_task_definition(family="other", containerDefinitions=container))
    assert f"ecs:RegisterTaskDefinition on resource: arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/other:*" in message


def test_s3_head_bucket_is_list_bucket(account, job):
    s3 = account.client("s3", credentials=job)
    s3.head_bucket(Bucket="bucket")  # moto alone authorizes "s3:HeadBucket", an action IAM does not have
    assert error(lambda: s3.put_object(Bucket="bucket", Key="k", Body=b"x"))[0] == "AccessDenied"


def test_sts_checks_the_provider_the_audience_and_the_trust(account):
    role = f"arn:aws:iam::{ACCOUNT}:role/job"
    with pytest.raises(
        ParityError,
        match=r"AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity .*repo:o/r:pull_request",
    ):
        account.assume(role, token(sub="repo:o/r:pull_request"), "pr")
    with pytest.raises(ParityError, match="InvalidIdentityToken: Incorrect token audience"):
        account.assume(role, token(aud="someone-else"), "aud")
    with pytest.raises(
        ParityError,
        match="InvalidIdentityToken: No OpenIDConnect provider found in your account for https://issuer.example",
    ):
        account.assume(role, token(iss="https://issuer.example"), "iss")
    sts = boto3.client("sts", endpoint_url=account.url, region_name=REGION, config=Config(signature_version=UNSIGNED))
    # moto alone answers this unsigned call with a 500
    found = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="ok", WebIdentityToken=token())
    assert found["AssumedRoleUser"]["Arn"].endswith(":assumed-role/job/ok")
