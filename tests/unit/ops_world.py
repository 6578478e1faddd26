"""An environment for `inv status|logs|exec --env` made of the real adapters
over RecordingClients that answer with the saved responses (fixtures/ops):
every request is validated against botocore's input shape on the way, every
answer carries every member of the output shape."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from parity.adapters.cloudformation import CloudFormation
from parity.adapters.ecs import EcsTasks
from parity.adapters.operations import Alarms, LogGroups, Manifests, TargetGroups
from parity.app.operations.operate import OpsContext
from parity.render.taskdef import log_group, render_taskdef
from parity.spec.load import deep_merge, validate

from .aws_model import FakeTarget, RecordingClient, saved
from .conftest import ROOT
from .ops_fixtures import ACCOUNT, IMAGES

NOW = 1777629600.0  # 2026-05-01T10:00:00Z, a minute after the saved log lines


def spec(env: str = "prod", extra: dict | None = None):
    data = yaml.safe_load((ROOT / "stack.yaml").read_text())
    data = deep_merge(data, yaml.safe_load((ROOT / "deploy" / f"{env}.yaml").read_text()))
    data = deep_merge(data, extra or {})
    data["env"] = env
    return validate(data)


def response(name: str) -> dict[str, Any]:
    return copy.deepcopy(saved(name)["response"])


def registered(stack, service: str) -> dict[str, Any]:
    """DescribeTaskDefinition's answer for the definition rendered from the spec
    as it is now (the saved response's every field, the spec's values)."""
    answer = response(f"ecs-describe-task-definition-{service}.json")
    td = answer["taskDefinition"]
    rendered = render_taskdef(stack, service, td["containerDefinitions"][0]["image"], ACCOUNT)
    container = {**td["containerDefinitions"][0], **rendered.pop("containerDefinitions")[0]}
    td.update(rendered)
    td["containerDefinitions"] = [container]
    return answer


def not_found(operation: str, message: str, code: str = "ValidationError") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation
    )


@dataclass
class FakePlugin:
    installed: bool = True
    started: list[tuple[dict[str, Any], str, str, str]] = field(default_factory=list)

    def available(self) -> bool:
        return self.installed

    def start(self, session: dict[str, Any], region: str, target: str, endpoint: str) -> int:
        self.started.append((session, region, target, endpoint))
        return 0


class World:
    """The saved answers, editable per test; ``ctx`` wires them to the adapters."""

    def __init__(self, stack, root: Path) -> None:
        self.stack, self.root = stack, root
        self.services = response("ecs-describe-services.json")
        self.taskdefs = {s: registered(stack, s) for s in stack.services}
        self.tasks = response("ecs-describe-tasks.json")
        self.stacks: dict[str, Any] | None = response("cloudformation-describe-stacks.json")
        self.alarms = response("cloudwatch-describe-alarms.json")
        self.health = response("elbv2-describe-target-health.json")
        self.groups = {log_group(stack, s) for s in stack.services}
        web = response("logs-filter-log-events.json")["events"]
        crawler = [
            {**e, "logStreamName": "ecs/crawler/c0ffee00112233445566778899aabbcc", "eventId": e["eventId"] + "9",
             "timestamp": e["timestamp"] + 700, "message": e["message"].replace("5171", "4999")}
            for e in web[:1]
        ]  # fmt: skip
        self.events = {"website-agent": web, "crawler": crawler}
        self.page_size = 3  # FilterLogEvents answers in pages of this many
        self.manifest_readable = True
        self.plugin = FakePlugin()
        self.clients: dict[str, RecordingClient] = {}

    # -- answers ----------------------------------------------------------------

    def _describe_services(self, params):
        found = copy.deepcopy(self.services)
        found["services"] = [s for s in found["services"] if s["serviceName"] in params["services"]]
        return found

    def _describe_taskdef(self, params):
        family = params["taskDefinition"].rsplit("/", 1)[-1].split(":")[0]
        return self.taskdefs[family.split("-", 1)[1]]

    def _tasks_of(self, service: str) -> list[dict]:
        return [t for t in self.tasks["tasks"] if t["group"] == f"service:{service}"]

    def _list_tasks(self, params):
        return {"taskArns": [t["taskArn"] for t in self._tasks_of(params["serviceName"])]}

    def _describe_tasks(self, params):
        return {
            "failures": self.tasks["failures"],
            "tasks": [t for t in self.tasks["tasks"] if t["taskArn"] in params["tasks"]],
        }

    def _describe_stacks(self, params):
        if self.stacks is None:
            return not_found("DescribeStacks", f"Stack with id {params['StackName']} does not exist")
        return self.stacks

    def _stack_resources(self, params):
        """In two pages, as a long stack's come."""
        summaries = response("cloudformation-list-stack-resources.json")["StackResourceSummaries"]
        if "NextToken" not in params:
            return {"StackResourceSummaries": summaries[:2], "NextToken": "2"}
        return {"StackResourceSummaries": summaries[2:]}

    def _log_groups(self, params):
        answer = response("logs-describe-log-groups.json")
        template = answer["logGroups"][0]
        answer["logGroups"] = [
            {**template, "logGroupName": g, "arn": template["arn"].replace("/ecs/huskit-website-agent", g)}
            for g in sorted(self.groups) if g.startswith(params["logGroupNamePrefix"])
        ]  # fmt: skip
        return answer

    def _filter(self, params):
        service = "crawler" if params["logGroupName"].endswith("-crawler") else "website-agent"
        events = [e for e in self.events[service] if e["timestamp"] >= params["startTime"]]
        term = params.get("filterPattern")
        if term:  # a quoted term: the exact phrase
            events = [e for e in events if json.loads(term) in e["message"]]
        start = int(params.get("nextToken", "0"))
        page = events[start : start + self.page_size]
        answer = {"events": copy.deepcopy(page), "searchedLogStreams": []}
        if start + self.page_size < len(events):
            answer["nextToken"] = str(start + self.page_size)
        return answer

    def _batch_get_image(self, params):
        answer = response("ecr-batch-get-image.json")
        if not self.manifest_readable:
            answer["images"] = []
            return answer
        digest = params["imageIds"][0]["imageDigest"]
        service = next(s for s, (d, _c) in IMAGES.items() if d == digest)
        image = answer["images"][0]
        image["repositoryName"] = f"huskit/{service}"
        image["imageId"]["imageDigest"] = digest
        image["imageManifest"] = image["imageManifest"].replace(IMAGES["website-agent"][1], IMAGES[service][1])
        return answer

    # -- wiring -------------------------------------------------------------------

    def ctx(self, clock=lambda: NOW, sleep=lambda s: None) -> OpsContext:
        self.clients = {
            "ecs": RecordingClient("ecs", {
                "DescribeServices": self._describe_services,
                "DescribeTaskDefinition": self._describe_taskdef,
                "ListTasks": self._list_tasks,
                "DescribeTasks": self._describe_tasks,
                "ExecuteCommand": response("ecs-execute-command.json"),
            }),
            "cloudformation": RecordingClient("cloudformation", {
                "DescribeStacks": self._describe_stacks, "ListStackResources": self._stack_resources,
            }),
            "elbv2": RecordingClient("elbv2", {"DescribeTargetHealth": lambda p: self.health}),
            "cloudwatch": RecordingClient("cloudwatch", {"DescribeAlarms": lambda p: self.alarms}),
            "logs": RecordingClient("logs", {"DescribeLogGroups": self._log_groups, "FilterLogEvents": self._filter}),
            "ecr": RecordingClient("ecr", {"BatchGetImage": self._batch_get_image}),
        }  # fmt: skip
        target = FakeTarget(self.clients, endpoint_url=self.stack.aws.endpoint_url)
        return OpsContext(
            root=self.root, stack=self.stack, ecs=EcsTasks(target), cfn=CloudFormation(target), logs=LogGroups(target),
            alarms=Alarms(target), targets=TargetGroups(target), manifests=Manifests(target, self.stack.aws.registry),
            plugin=self.plugin, clock=clock, sleep=sleep, poll_interval=5.0,
        )  # fmt: skip

    def calls(self, service: str | None = None) -> list[tuple[str, dict]]:
        return [c for name, client in self.clients.items() if service in (None, name) for c in client.calls]
