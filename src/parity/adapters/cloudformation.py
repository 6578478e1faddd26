"""CloudFormation, thinly (boto3): change sets, the stack's status, events,
resources and outputs, the one EC2 lookup a template needs (the region's
managed prefix list), and whether a fixed-name resource exists outside the
stack (to adopt it). Every failure is one ParityError line (``aws_call``);
"no such stack" and "no such resource" are answers (None)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from parity.adapters.aws import AwsTarget, aws_call, reraise
from parity.errors import ParityError

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]  # the roles have names the task definitions use

# The IAM actions this adapter's calls need (infra-plan, infra-apply): what a role
# running them must be allowed (tests/unit/test_infra_adopt.py reads the calls
# from this file and checks each is here). HeadBucket is authorised as s3:ListBucket.
IAM_ACTIONS = [
    "cloudformation:DescribeStacks", "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet", "cloudformation:DeleteChangeSet", "cloudformation:DeleteStack",
    "cloudformation:DescribeStackEvents", "cloudformation:ListStackResources", "cloudformation:GetTemplate",
    "ec2:DescribeManagedPrefixLists",
    # adopting what exists: each fixed-name resource looked up by its name
    "s3:ListBucket", "ecr:DescribeRepositories", "logs:DescribeLogGroups", "secretsmanager:DescribeSecret",
]  # fmt: skip


class CloudFormation:
    def __init__(self, target: AwsTarget, service_role: str | None = None) -> None:
        self.target = target
        self.cf = target.client("cloudformation")
        self.ec2 = target.client("ec2")
        self.sts = target.client("sts")
        self.service_role = service_role  # the stack's CloudFormation service role, by name
        self._role_arn: str | None = None
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.target.client(service)
        return self._clients[service]

    def role_arn(self) -> str | None:
        """The service role's ARN (in the caller's account), passed with every change
        set: CloudFormation then acts with its rights, not the caller's."""
        if self.service_role and self._role_arn is None:
            found = aws_call("who am I (sts get-caller-identity)", self.sts.get_caller_identity)
            partition = found["Arn"].split(":")[1]
            self._role_arn = f"arn:{partition}:iam::{found['Account']}:role/{self.service_role}"
        return self._role_arn

    def stack(self, name: str) -> dict[str, Any] | None:
        """The stack as CloudFormation describes it, or None if there is none."""
        try:
            found = self.cf.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
                return None
            return aws_call(f"describe stack {name}", reraise, exc)
        except Exception as exc:  # noqa: BLE001 - no credentials, endpoint down: one line
            return aws_call(f"describe stack {name}", reraise, exc)
        return found[0] if found else None

    def physical_ids(self, name: str) -> dict[str, str]:
        """The stack's resources: logical id -> physical id (a target group's ARN),
        every page. (ListStackResources: moto 5.2.5 fails DescribeStackResource(s)
        on a stack holding resources it does not model.)"""
        out: dict[str, str] = {}
        kwargs: dict[str, Any] = {"StackName": name}
        while True:
            page = aws_call(f"list the resources of stack {name}", self.cf.list_stack_resources, **kwargs)
            for r in page.get("StackResourceSummaries", []):
                if r.get("PhysicalResourceId"):
                    out[r["LogicalResourceId"]] = r["PhysicalResourceId"]
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def create_change_set(
        self,
        name: str,
        change_set: str,
        template: str,
        parameters: dict[str, str | None],
        kind: str,
        imports: list[dict[str, Any]] | None = None,
    ) -> str | None:
        """The change set's id; None when there is nothing to change (moto says so
        at once; AWS creates a FAILED change set saying so, which the caller reads).
        A parameter whose value is None keeps the stack's (an IMPORT change set of
        an existing stack); ``imports``: the IMPORT's ResourcesToImport."""
        extra: dict[str, Any] = {"ResourcesToImport": imports} if imports else {}
        if arn := self.role_arn():
            extra["RoleARN"] = arn
        try:
            found = self.cf.create_change_set(
                StackName=name, ChangeSetName=change_set, ChangeSetType=kind, TemplateBody=template,
                Parameters=[
                    {"ParameterKey": k, "UsePreviousValue": True} if v is None else {"ParameterKey": k, "ParameterValue": v}
                    for k, v in parameters.items()
                ],
                Capabilities=CAPABILITIES, Tags=[{"Key": "parity:stack", "Value": name}], **extra,
            )  # fmt: skip
        except ClientError as exc:
            if "No updates are to be performed" in exc.response.get("Error", {}).get("Message", ""):
                return None
            return aws_call(f"create change set for {name}", reraise, exc)
        except Exception as exc:  # noqa: BLE001
            return aws_call(f"create change set for {name}", reraise, exc)
        return found["Id"]

    def describe_change_set(self, change_set: str, name: str) -> dict[str, Any]:
        """Status, reason and every change (all pages)."""
        kwargs: dict[str, Any] = {"ChangeSetName": change_set, "StackName": name}
        out: dict[str, Any] = {}
        changes: list[dict[str, Any]] = []
        while True:
            page = aws_call(f"describe change set of {name}", self.cf.describe_change_set, **kwargs)
            out = page
            changes += page.get("Changes", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        out["Changes"] = changes
        return out

    def outputs(self, name: str) -> dict[str, str]:
        """The stack's outputs (none when there is no stack)."""
        found = self.stack(name) or {}
        return {o["OutputKey"]: o.get("OutputValue", "") for o in found.get("Outputs", [])}

    def execute_change_set(self, change_set: str, name: str) -> None:
        aws_call(f"execute change set of {name}", self.cf.execute_change_set, ChangeSetName=change_set, StackName=name)

    def delete_change_set(self, change_set: str, name: str) -> None:
        aws_call(f"delete change set of {name}", self.cf.delete_change_set, ChangeSetName=change_set, StackName=name)

    def delete_stack(self, name: str) -> None:
        aws_call(f"delete stack {name}", self.cf.delete_stack, StackName=name)

    def events(self, name: str) -> list[dict[str, Any]]:
        """The stack's events, newest first (the first page is enough for one operation)."""
        return aws_call(f"describe events of {name}", self.cf.describe_stack_events, StackName=name).get(
            "StackEvents", []
        )

    def resources(self, name: str) -> dict[str, str]:
        """The stack's resources: logical id -> status (none when there is no stack)."""
        out: dict[str, str] = {}
        kwargs: dict[str, Any] = {"StackName": name}
        while True:
            try:
                page = self.cf.list_stack_resources(**kwargs)
            except ClientError as exc:
                if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
                    return {}
                return aws_call(f"list resources of {name}", reraise, exc)
            except Exception as exc:  # noqa: BLE001
                return aws_call(f"list resources of {name}", reraise, exc)
            for item in page.get("StackResourceSummaries", []):
                out[item["LogicalResourceId"]] = item.get("ResourceStatus", "")
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def deployed_template(self, name: str) -> dict[str, Any]:
        """The template the stack holds now, as it was sent."""
        body = aws_call(f"get template of {name}", self.cf.get_template, StackName=name, TemplateStage="Original")[
            "TemplateBody"
        ]
        return json.loads(body) if isinstance(body, str) else dict(body)

    def existing(self, kind: str, name: str) -> dict[str, str] | None:
        """The import identifier of the ``kind`` resource named ``name`` when it
        exists in the account (outside any stack, or in one), else None."""
        what = f"look up {kind.split('::')[-1]} {name}"
        try:
            if kind == "AWS::S3::Bucket":
                self._client("s3").head_bucket(Bucket=name)
                return {"BucketName": name}
            if kind == "AWS::ECR::Repository":
                self._client("ecr").describe_repositories(repositoryNames=[name])
                return {"RepositoryName": name}
            if kind == "AWS::Logs::LogGroup":
                groups = self._client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
                return {"LogGroupName": name} if any(g["logGroupName"] == name for g in groups) else None
            if kind == "AWS::SecretsManager::Secret":
                found = self._client("secretsmanager").describe_secret(SecretId=name)
                if found.get("DeletedDate"):
                    raise ParityError(
                        f"secret {name} exists but is scheduled for deletion: it can be neither adopted nor created",
                        hint=f"restore it (aws secretsmanager restore-secret --secret-id {name}) and plan again",
                    )
                return {"Id": found["ARN"]}
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound", "RepositoryNotFoundException", "ResourceNotFoundException"):
                return None
            if kind == "AWS::S3::Bucket" and code == "403":
                raise ParityError(
                    f"bucket {name} exists but this account may not read it (another account owns the name?)",
                    hint="choose another edge.bucket",
                ) from None
            return aws_call(what, reraise, exc)
        except ParityError:
            raise
        except Exception as exc:  # noqa: BLE001
            return aws_call(what, reraise, exc)
        raise ValueError(f"cannot look up a {kind}")  # a caller bug: only ADOPTABLE types are asked

    def prefix_list(self, list_name: str) -> str | None:
        found = aws_call(
            f"look up prefix list {list_name}", self.ec2.describe_managed_prefix_lists,
            Filters=[{"Name": "prefix-list-name", "Values": [list_name]}],
        )  # fmt: skip
        lists = found.get("PrefixLists", [])
        return lists[0]["PrefixListId"] if lists else None


class Emulator(CloudFormation):
    """The local AWS emulator (moto): CloudFormation as above, and a reset. The
    emulator is the toolkit's own; everything in it is derived from the template."""

    def __init__(self, target: AwsTarget) -> None:
        super().__init__(target)
        self.endpoint_url = target.endpoint_url
        self.ecr, self.ecs = target.client("ecr"), target.client("ecs")

    def leftovers(self) -> list[str]:
        """What only a deploy bootstrap makes (repositories, clusters), found here."""
        repos = aws_call("list ECR repositories", self.ecr.describe_repositories)["repositories"]
        clusters = aws_call("list ECS clusters", self.ecs.list_clusters)["clusterArns"]
        return [r["repositoryName"] for r in repos] + [c.rsplit("/", 1)[-1] for c in clusters]

    def reset(self) -> None:
        """Forget everything (moto's /moto-api/reset)."""
        import httpx

        from parity.errors import AwsUnavailable

        try:
            httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=30).raise_for_status()
        except httpx.HTTPError as exc:
            raise AwsUnavailable(f"reset the emulator at {self.endpoint_url}: {exc}") from None
