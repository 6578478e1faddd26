"""Shared pieces of the infrastructure renderer: logical ids, names, intrinsics."""

from __future__ import annotations

from typing import Any

from parity.spec import Stack


def uses_tls(stack: Stack) -> bool:
    """A real account serves HTTPS (certificate, origin name); an emulator has no certificate."""
    return not stack.aws.endpoint_url


def logical(name: str) -> str:
    """``website-agent`` -> ``WebsiteAgent`` (a CloudFormation logical id)."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").replace(".", "-").split("-"))


def stack_name(stack: Stack) -> str:
    """The environment's CloudFormation stack (``huskit-prod``)."""
    return stack.infra.stack_name or f"{stack.project}-{stack.env}"


def taskdef_parameter(service: str) -> str:
    """The seam with promote: the revision a service runs (README "Who owns what")."""
    return f"{logical(service)}TaskDefinition"


def prefix(stack: Stack) -> str:
    """Names of this environment's resources start with it (``huskit``, ``huskit-staging``)."""
    return stack.aws.name_prefix or stack.project


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def att(name: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [name, attribute]}


def sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def arn(stack: Stack, service: str, rest: str, region: bool = True, account: bool = True) -> dict[str, Any]:
    """``arn:PARTITION:SERVICE:REGION:ACCOUNT:REST`` with the pseudo parameters."""
    r = "${AWS::Region}" if region else ""
    a = "${AWS::AccountId}" if account else ""
    return sub(f"arn:${{AWS::Partition}}:{service}:{r}:{a}:{rest}")


class Template:
    """A template being built: resources, parameters, conditions, outputs."""

    def __init__(self, stack: Stack, part: str = "") -> None:
        self.stack = stack
        self.part = part  # "" for the environment's stack, "edge" for its us-east-1 companion
        self.parameters: dict[str, Any] = {}
        self.conditions: dict[str, Any] = {}
        self.resources: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}

    @property
    def emulated(self) -> bool:
        return bool(self.stack.aws.endpoint_url)

    def add(self, name: str, kind: str, properties: dict[str, Any], **extra: Any) -> str:
        if name in self.resources:
            raise ValueError(f"two resources named {name}")  # a renderer bug, not a user error
        self.resources[name] = {"Type": kind, **extra, "Properties": properties}
        return name

    def output(self, name: str, value: Any, description: str, condition: str | None = None) -> None:
        self.outputs[name] = {"Description": description, "Value": value}
        if condition:
            self.outputs[name]["Condition"] = condition

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"{self.stack.project} {self.stack.env}{' ' + self.part if self.part else ''}: rendered from stack.yaml + deploy/{self.stack.env}.yaml by `inv infra-render`; do not edit",
            "Parameters": self.parameters,
        }
        if self.conditions:
            doc["Conditions"] = self.conditions
        doc["Resources"] = self.resources
        doc["Outputs"] = self.outputs
        return doc
