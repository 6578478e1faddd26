"""CloudFormation, thinly (boto3): change sets, the stack's status, events and
outputs, and the one EC2 lookup a template needs (the region's managed prefix
list). Every failure is one ParityError line (``aws_call``); "no such stack"
is an answer (None)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from parity.adapters.aws import AwsTarget, aws_call, reraise

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]  # the roles have names the task definitions use


class CloudFormation:
    def __init__(self, target: AwsTarget) -> None:
        self.cf = target.client("cloudformation")
        self.ec2 = target.client("ec2")

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

    def resources(self, name: str) -> dict[str, str]:
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
        self, name: str, change_set: str, template: str, parameters: dict[str, str], kind: str
    ) -> str | None:
        """The change set's id; None when there is nothing to change (moto says so
        at once; AWS creates a FAILED change set saying so, which the caller reads)."""
        try:
            found = self.cf.create_change_set(
                StackName=name, ChangeSetName=change_set, ChangeSetType=kind, TemplateBody=template,
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=CAPABILITIES, Tags=[{"Key": "parity:stack", "Value": name}],
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
