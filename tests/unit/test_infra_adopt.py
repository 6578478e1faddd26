"""Adoption's pure part and its AWS calls. moto 5.2.5 accepts an IMPORT change
set but ignores its ResourcesToImport and, executed, tries to create what it
names ("BucketAlreadyExists"): it cannot show an import. So the calls are
checked here against botocore's own input shapes (botocore's Stubber
validates every parameter against the service model) with responses shaped
as AWS documents them, the identifiers against CloudFormation's resource
schemas (shipped in cfn-lint), and the flow against tests/unit/cfn_fake.py
(test_infra_first_day.py). tests/integration/test_infra_adopt_moto.py runs the
lookups and the plan against a real moto server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from parity.adapters.aws import AwsTarget
from parity.adapters.cloudformation import CloudFormation
from parity.errors import ParityError
from parity.render.infra import render_template
from parity.render.infra.adopt import ADOPTABLE, Adoption, candidates, import_template

from .test_infra_render import stack_for

ARN = "arn:aws:secretsmanager:eu-central-1:111122223333:secret:huskit/prod/crawler-AbCdEf"


def adapter() -> CloudFormation:
    return CloudFormation(AwsTarget("eu-central-1", "http://127.0.0.1:9"))  # never reached: every call is stubbed


def test_identifiers_are_cloudformations_primary_identifiers():
    for kind, (name_property, identifier) in ADOPTABLE.items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("eu-central-1", kind).schema
        assert schema["primaryIdentifier"] == [f"/properties/{identifier}"], kind
        assert f"/properties/{name_property}" in schema.get("createOnlyProperties", []) + schema["primaryIdentifier"]


def test_every_fixed_name_retained_resource_of_the_template_is_a_candidate():
    template = render_template(stack_for("prod"))
    found = {(c.kind, c.name) for c in candidates(template)}
    retained = {
        (r["Type"], r["Properties"][ADOPTABLE[r["Type"]][0]])
        for r in template["Resources"].values()
        if r.get("DeletionPolicy") == "Retain"
    }
    assert found == retained and len(found) == 8
    assert candidates(template, in_stack={"StaticBucket"}) == [
        c for c in candidates(template) if c.logical_id != "StaticBucket"
    ]


def test_the_import_template_holds_names_alone_and_keeps_an_existing_stack_as_it_is():
    template = render_template(stack_for("prod"))
    adopt = [Adoption("CrawlerSecret", "AWS::SecretsManager::Secret", "huskit/prod/crawler", {"Id": ARN}),
             Adoption("StaticBucket", "AWS::S3::Bucket", "huskit-static-assets-prod", {"BucketName": "huskit-static-assets-prod"})]  # fmt: skip
    fresh = import_template(template, adopt)
    assert fresh["Resources"] == {
        "CrawlerSecret": {"Type": "AWS::SecretsManager::Secret", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                          "Properties": {"Name": "huskit/prod/crawler"}},
        "StaticBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                         "Properties": {"BucketName": "huskit-static-assets-prod"}},
    }  # fmt: skip
    deployed = {"Parameters": {"P": {"Type": "String"}}, "Resources": {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}}},
                "Outputs": {"O": {"Value": "x"}}}  # fmt: skip
    onto = import_template(template, adopt[:1], deployed)
    assert onto["Parameters"] == deployed["Parameters"] and onto["Outputs"] == deployed["Outputs"]
    assert (
        set(onto["Resources"]) == {"Vpc", "CrawlerSecret"} and onto["Resources"]["Vpc"] == deployed["Resources"]["Vpc"]
    )


def test_lookups_answer_with_the_import_identifier_or_none():
    cfn = adapter()
    with Stubber(cfn._client("s3")) as s3, Stubber(cfn._client("ecr")) as ecr, Stubber(cfn._client("logs")) as logs, \
            Stubber(cfn._client("secretsmanager")) as sm:  # fmt: skip
        s3.add_response("head_bucket", {}, {"Bucket": "huskit-static-assets-prod"})
        s3.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        ecr.add_response("describe_repositories", {"repositories": [{"repositoryName": "huskit/crawler"}]},
                         {"repositoryNames": ["huskit/crawler"]})  # fmt: skip
        ecr.add_client_error("describe_repositories", "RepositoryNotFoundException", http_status_code=400)
        logs.add_response("describe_log_groups", {"logGroups": [{"logGroupName": "/ecs/huskit-crawler-old"}, {"logGroupName": "/ecs/huskit-crawler"}]},
                          {"logGroupNamePrefix": "/ecs/huskit-crawler"})  # fmt: skip
        logs.add_response("describe_log_groups", {"logGroups": [{"logGroupName": "/ecs/huskit-crawler-old"}]},
                          {"logGroupNamePrefix": "/ecs/huskit-crawler"})  # fmt: skip
        sm.add_response(
            "describe_secret", {"ARN": ARN, "Name": "huskit/prod/crawler"}, {"SecretId": "huskit/prod/crawler"}
        )
        sm.add_client_error("describe_secret", "ResourceNotFoundException", http_status_code=400)
        sm.add_response(
            "describe_secret",
            {"ARN": ARN, "Name": "huskit/prod/crawler", "DeletedDate": datetime(2026, 1, 1, tzinfo=UTC)},
        )
        s3.add_client_error("head_bucket", service_error_code="403", http_status_code=403)

        assert cfn.existing("AWS::S3::Bucket", "huskit-static-assets-prod") == {
            "BucketName": "huskit-static-assets-prod"
        }
        assert cfn.existing("AWS::S3::Bucket", "huskit-static-assets-prod") is None
        assert cfn.existing("AWS::ECR::Repository", "huskit/crawler") == {"RepositoryName": "huskit/crawler"}
        assert cfn.existing("AWS::ECR::Repository", "huskit/crawler") is None
        assert cfn.existing("AWS::Logs::LogGroup", "/ecs/huskit-crawler") == {"LogGroupName": "/ecs/huskit-crawler"}
        assert cfn.existing("AWS::Logs::LogGroup", "/ecs/huskit-crawler") is None  # a prefix match is not the group
        assert cfn.existing("AWS::SecretsManager::Secret", "huskit/prod/crawler") == {"Id": ARN}
        assert cfn.existing("AWS::SecretsManager::Secret", "huskit/prod/crawler") is None
        with pytest.raises(ParityError, match=r"^secret huskit/prod/crawler exists but is scheduled for deletion"):
            cfn.existing("AWS::SecretsManager::Secret", "huskit/prod/crawler")
        with pytest.raises(
            ParityError, match=r"^bucket huskit-static-assets-prod exists but this account may not read it"
        ):
            cfn.existing("AWS::S3::Bucket", "huskit-static-assets-prod")


def test_the_import_change_set_and_the_stack_reads_are_what_cloudformation_takes():
    cfn = adapter()
    adopt = [Adoption("CrawlerSecret", "AWS::SecretsManager::Secret", "huskit/prod/crawler", {"Id": ARN})]
    body = json.dumps(import_template(render_template(stack_for("prod")), adopt))
    with Stubber(cfn.cf) as stub:
        stub.add_response(
            "create_change_set", {"Id": "arn:aws:cloudformation:eu-central-1:111122223333:changeSet/parity-adopt-1/x"},
            {"StackName": "huskit-prod", "ChangeSetName": "parity-adopt-1", "ChangeSetType": "IMPORT", "TemplateBody": body,
             "Parameters": [{"ParameterKey": "CloudFrontPrefixList", "UsePreviousValue": True}],
             "Capabilities": ["CAPABILITY_NAMED_IAM"], "Tags": [{"Key": "parity:stack", "Value": "huskit-prod"}],
             "ResourcesToImport": [{"ResourceType": "AWS::SecretsManager::Secret", "LogicalResourceId": "CrawlerSecret",
                                    "ResourceIdentifier": {"Id": ARN}}]},
        )  # fmt: skip
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": "Vpc", "ResourceType": "AWS::EC2::VPC", "ResourceStatus": "CREATE_COMPLETE",
             "LastUpdatedTimestamp": datetime(2026, 1, 1, tzinfo=UTC)}], "NextToken": "t"}, {"StackName": "huskit-prod"})  # fmt: skip
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": "StaticBucket", "ResourceType": "AWS::S3::Bucket", "ResourceStatus": "DELETE_SKIPPED",
             "LastUpdatedTimestamp": datetime(2026, 1, 1, tzinfo=UTC)}]}, {"StackName": "huskit-prod", "NextToken": "t"})  # fmt: skip
        stub.add_client_error("list_stack_resources", "ValidationError", "Stack with id huskit-qa does not exist")
        stub.add_response(
            "get_template",
            {"TemplateBody": '{"Resources": {}}'},
            {"StackName": "huskit-prod", "TemplateStage": "Original"},
        )

        assert cfn.create_change_set("huskit-prod", "parity-adopt-1", body, {"CloudFrontPrefixList": None}, "IMPORT",
                                     [a.resource_to_import() for a in adopt]).endswith("parity-adopt-1/x")  # fmt: skip
        assert cfn.resources("huskit-prod") == {"Vpc": "CREATE_COMPLETE", "StaticBucket": "DELETE_SKIPPED"}
        assert cfn.resources("huskit-qa") == {}
        assert cfn.deployed_template("huskit-prod") == {"Resources": {}}


def test_every_call_the_adapter_makes_has_its_iam_action_listed():
    """A role that runs infra-plan/apply needs each (the rehearsal renders and enforces them)."""
    import re
    from pathlib import Path

    import botocore.session

    from parity.adapters import cloudformation

    source = Path(cloudformation.__file__).read_text()
    clients = {"cf": "cloudformation", "ec2": "ec2"}
    calls = {(clients[c], op) for c, op in re.findall(r"self\.(cf|ec2)\.(\w+)\b", source)}
    calls |= set(re.findall(r'_client\("(\w+)"\)\.(\w+)\(', source))
    assert len(calls) >= 14
    session = botocore.session.get_session()
    actions = set()
    for service, method in calls:
        model = session.get_service_model(service)
        operation = next(op for op in model.operation_names if botocore.xform_name(op) == method)
        prefix = model.metadata.get("signingName", model.metadata["endpointPrefix"])
        actions.add({"s3:HeadBucket": "s3:ListBucket"}.get(f"{prefix}:{operation}", f"{prefix}:{operation}"))
    assert actions == set(cloudformation.IAM_ACTIONS)
