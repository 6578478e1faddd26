"""Adopting resources that already exist, purely: which of a template's
fixed-name resources may be imported into its stack, and the template of that
import.

Two ways lead to a name that exists outside the stack: a first creation that
failed (its retained bucket, log groups, repositories and secrets survive
the rollback, and the retry would fail with "already exists"), and an
account set up by hand (the plan's sections 6.2-6.8). CloudFormation adopts
such a resource with an IMPORT change set, which may hold nothing but the
stack's current resources, unchanged, and the imported ones, each with a
DeletionPolicy. So ``infra-apply`` imports first, each resource with only its
name (its identifying and create-only properties), then updates the whole
stack to the template: the update brings every adopted resource to the
template's settings (a hand-made repository gets the lifecycle policy, the
bucket its public access block), which an import of the full properties
would not (CloudFormation would record them as if they held).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

# type -> (the property that names it, the key of its import identifier). The
# identifiers are the types' primaryIdentifier in CloudFormation's resource
# schemas (tests/unit/test_infra_adopt.py compares them).
ADOPTABLE: dict[str, tuple[str, str]] = {
    "AWS::S3::Bucket": ("BucketName", "BucketName"),
    "AWS::ECR::Repository": ("RepositoryName", "RepositoryName"),
    "AWS::Logs::LogGroup": ("LogGroupName", "LogGroupName"),
    "AWS::SecretsManager::Secret": ("Name", "Id"),  # the Id is the secret's ARN
}

RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


@dataclass(frozen=True)
class Candidate:
    """A fixed-name resource of the template that could already exist."""

    logical_id: str
    kind: str
    name: str


@dataclass(frozen=True)
class Adoption:
    """A candidate found to exist: imported with ``identifier``."""

    logical_id: str
    kind: str
    name: str
    identifier: dict[str, str]

    def resource_to_import(self) -> dict[str, Any]:
        return {
            "ResourceType": self.kind,
            "LogicalResourceId": self.logical_id,
            "ResourceIdentifier": dict(self.identifier),
        }


def candidates(template: dict[str, Any], in_stack: set[str] = frozenset()) -> list[Candidate]:
    """The template's resources an import could adopt: an adoptable type, a
    literal name, retained on deletion (an import requires it) and not yet
    in the stack (``in_stack``: logical ids)."""
    out = []
    for logical_id, res in template.get("Resources", {}).items():
        kind = res.get("Type")
        if kind not in ADOPTABLE or logical_id in in_stack or "Condition" in res:
            continue
        name = res.get("Properties", {}).get(ADOPTABLE[kind][0])
        if isinstance(name, str) and res.get("DeletionPolicy") == "Retain":
            out.append(Candidate(logical_id, kind, name))
    return out


def import_template(
    template: dict[str, Any], adoptions: list[Adoption], deployed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The IMPORT change set's template: the stack's ``deployed`` template as it
    is (none for a new stack) plus each adopted resource by its name alone."""
    out: dict[str, Any] = (
        copy.deepcopy(deployed)
        if deployed
        else {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"{template.get('Description', '')} (adopting existing resources first)".strip(),
        }
    )
    resources = out.setdefault("Resources", {})
    for adoption in adoptions:
        name_property, _ = ADOPTABLE[adoption.kind]
        resources[adoption.logical_id] = {"Type": adoption.kind, **RETAIN, "Properties": {name_property: adoption.name}}
    return out
