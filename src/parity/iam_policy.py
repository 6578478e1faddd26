"""IAM's policy evaluation, as AWS documents it, for the rehearsal's emulator
(``adapters/emulator.py``) and its trust checks. Pure: policies in, a decision out.

What it follows (IAM User Guide, "Policy evaluation logic"): a request is
allowed when some statement allows it and none denies it; a statement applies
when its ``Action`` (or ``NotAction``), its ``Resource`` (or ``NotResource``;
a trust policy has none) and every one of its ``Condition`` operators match.
An Allow statement that does not apply is neutral, never a deny (moto 5.2.5
treats a failed condition as an explicit deny and checks conditions before
resources; that is why this module exists). Wildcards: ``*`` and ``?`` in
actions (case-insensitive), resources and ``*Like`` values.

Condition operators: String{Equals,NotEquals,Like,NotLike} (and their
``IgnoreCase`` forms for the Equals pair), Arn{Equals,Like,NotEquals,NotLike},
Bool, Null, each with ``IfExists``; an operator outside that set raises
``UnsupportedCondition`` rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALLOW, DENY, IMPLICIT_DENY = "allow", "deny", "implicit deny"


class UnsupportedCondition(ValueError):
    """A condition operator this evaluator does not implement."""


@dataclass(frozen=True)
class Decision:
    result: str  # ALLOW, DENY (an explicit Deny statement) or IMPLICIT_DENY (no statement allows)
    statement: Mapping[str, Any] | None = None  # the deciding statement, if any

    @property
    def allowed(self) -> bool:
        return self.result == ALLOW


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    # IAM's wildcards: * any run of characters (also across ':' and '/'), ? one character
    rx = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    flags = (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL
    return re.fullmatch(rx, value, flags) is not None


def action_matches(patterns: Any, action: str) -> bool:
    return any(_glob(str(p), action, ignore_case=True) for p in _listed(patterns))


def resource_matches(patterns: Any, resource: str) -> bool:
    return any(p == "*" or _glob(str(p), resource) for p in _listed(patterns))


def _compare(operator: str, expected: list[Any], actual: list[str]) -> bool:
    """One condition key: does any actual value satisfy the operator against any expected one?"""
    negated = "Not" in operator
    base = operator.replace("Not", "")
    if base in ("StringEquals", "ArnEquals"):
        hit = any(a == str(e) for a in actual for e in expected)
    elif base == "StringEqualsIgnoreCase":
        hit = any(a.lower() == str(e).lower() for a in actual for e in expected)
    elif base in ("StringLike", "ArnLike"):
        hit = any(_glob(str(e), a) for a in actual for e in expected)
    elif base == "Bool":
        hit = any(a.lower() == str(e).lower() for a in actual for e in expected)
    else:
        raise UnsupportedCondition(operator)
    return not hit if negated else hit


def conditions_match(conditions: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    """Every operator, every key: AND. A key absent from the request fails its
    operator, except with ``IfExists`` (or a negated operator, as AWS does)."""
    keys = {k.lower(): _listed(v) for k, v in context.items()}
    for operator, by_key in (conditions or {}).items():
        if_exists = operator.endswith("IfExists")
        op = operator.removesuffix("IfExists")
        if ":" in op:
            raise UnsupportedCondition(operator)  # ForAnyValue:/ForAllValues: set operators
        for key, expected in by_key.items():
            actual = [str(v) for v in keys.get(key.lower(), [])]
            if op == "Null":
                wants_null = str(_listed(expected)[0]).lower() == "true"
                if wants_null != (not actual):
                    return False
                continue
            if not actual:
                if if_exists or "Not" in op:
                    continue
                return False
            if not _compare(op, _listed(expected), actual):
                return False
    return True


def statement_applies(
    statement: Mapping[str, Any], action: str, resource: str | None, context: Mapping[str, Any]
) -> bool:
    """``resource`` None: a trust policy (no Resource element)."""
    if "NotAction" in statement:
        if action_matches(statement["NotAction"], action):
            return False
    elif not action_matches(statement.get("Action"), action):
        return False
    if resource is not None:
        if "NotResource" in statement:
            if resource_matches(statement["NotResource"], resource):
                return False
        elif not resource_matches(statement.get("Resource"), resource):
            return False
    return conditions_match(statement.get("Condition"), context)


def statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _listed(policy.get("Statement"))


def evaluate(
    policies: Iterable[Mapping[str, Any]], action: str, resource: str, context: Mapping[str, Any] | None = None
) -> Decision:
    """The identity-based decision for ``action`` on ``resource``: an explicit
    Deny wins, then an Allow, else the implicit deny."""
    context = context or {}
    allowed: Mapping[str, Any] | None = None
    for policy in policies:
        for st in statements(policy):
            if not statement_applies(st, action, resource, context):
                continue
            if st.get("Effect") == "Deny":
                return Decision(DENY, st)
            if st.get("Effect") == "Allow" and allowed is None:
                allowed = st
    return Decision(ALLOW, allowed) if allowed is not None else Decision(IMPLICIT_DENY)


def principal_matches(statement: Mapping[str, Any], kind: str, principal: str) -> bool:
    """``kind``: AWS, Federated or Service."""
    found = statement.get("Principal")
    if found == "*":
        return True
    if not isinstance(found, Mapping):
        return False
    return any(p == "*" or p == principal for p in _listed(found.get(kind)))


def trusts(
    trust_policy: Mapping[str, Any], kind: str, principal: str, action: str, context: Mapping[str, Any]
) -> Decision:
    """Would this role's trust policy let ``principal`` (of ``kind``) call
    ``action`` (sts:AssumeRole, sts:AssumeRoleWithWebIdentity) with these
    request keys (for a web identity: ``<issuer host>:sub``, ``:aud``)?"""
    allowed: Mapping[str, Any] | None = None
    for st in statements(trust_policy):
        if not principal_matches(st, kind, principal) or not statement_applies(st, action, None, context):
            continue
        if st.get("Effect") == "Deny":
            return Decision(DENY, st)
        if st.get("Effect") == "Allow" and allowed is None:
            allowed = st
    return Decision(ALLOW, allowed) if allowed is not None else Decision(IMPLICIT_DENY)


# -- what a request is authorized against ----------------------------------------------
#
# AWS authorizes an action against the resource types the Service Authorization
# Reference lists for it (https://docs.aws.amazon.com/service-authorization/latest/reference/),
# with ARNs in the formats listed there; an action that lists none is authorized
# against "*" only, so a policy must grant it on "*". parliament ships that
# reference (``parliament.iam_definition``); tests/unit/test_iam_policy.py checks
# every format below against it.

ARN_FORMATS = {
    "ecs:cluster": "arn:{partition}:ecs:{region}:{account}:cluster/{cluster}",
    "ecs:service": "arn:{partition}:ecs:{region}:{account}:service/{cluster}/{service}",
    "ecs:task-definition": "arn:{partition}:ecs:{region}:{account}:task-definition/{family}:{revision}",
    "ecr:repository": "arn:{partition}:ecr:{region}:{account}:repository/{repository}",
    "cloudformation:stack": "arn:{partition}:cloudformation:{region}:{account}:stack/{stack}/{id}",
    "cloudfront:distribution": "arn:{partition}:cloudfront::{account}:distribution/{distribution}",
    "secretsmanager:Secret": "arn:{partition}:secretsmanager:{region}:{account}:secret:{secret}",
}

# action -> (resource type, how to read its names from the request). Actions the
# deploy jobs call; an action missing here is checked against "*" (the emulator
# says so when that denies it).
_SERVICES = (
    "ecs:service",
    lambda p: [
        {"cluster": _last(p.get("cluster") or "default"), "service": _last(s)}
        for s in _listed(p.get("services") or p.get("service"))
    ],
)
_STACK = ("cloudformation:stack", lambda p: [{"stack": p.get("StackName", "")}])  # the adapters always name the stack
_REPOSITORY = ("ecr:repository", lambda p: [{"repository": p["repositoryName"]}] if p.get("repositoryName") else [])
RESOURCES: dict[str, tuple[str, Any]] = {
    "ecs:DescribeClusters": ("ecs:cluster", lambda p: [{"cluster": _last(c)} for c in _listed(p.get("clusters") or "default")]),
    "ecs:DescribeServices": _SERVICES,
    "ecs:UpdateService": _SERVICES,
    "ecs:CreateService": _SERVICES,
    "ecs:DeleteService": _SERVICES,
    "ecs:RegisterTaskDefinition": ("ecs:task-definition", lambda p: [{"family": p.get("family", ""), "revision": "*"}]),
    "ecr:DescribeRepositories": (
        "ecr:repository", lambda p: [{"repository": r} for r in _listed(p.get("repositoryNames"))] or None,
    ),
    **{
        f"ecr:{a}": _REPOSITORY
        for a in (
            "BatchCheckLayerAvailability", "BatchGetImage", "CompleteLayerUpload", "DescribeImages",
            "GetDownloadUrlForLayer", "InitiateLayerUpload", "PutImage", "UploadLayerPart", "ListImages",
            "BatchDeleteImage", "GetLifecyclePolicy", "PutLifecyclePolicy",
        )
    },
    **{
        f"cloudformation:{a}": _STACK
        for a in (
            "DescribeStacks", "DescribeStackEvents", "DescribeStackResources", "DescribeStackResource",
            "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet", "ListChangeSets",
            "DeleteStack", "CreateStack", "UpdateStack", "GetTemplate", "ListStackResources", "ContinueUpdateRollback",
            "CancelUpdateStack", "UpdateTerminationProtection",
        )
    },
    "secretsmanager:DescribeSecret": ("secretsmanager:Secret", lambda p: [{"secret": p.get("SecretId", "")}]),
    "secretsmanager:GetSecretValue": ("secretsmanager:Secret", lambda p: [{"secret": p.get("SecretId", "")}]),
    "cloudfront:CreateInvalidation": ("cloudfront:distribution", None),  # from the path: /2020-05-31/distribution/ID/invalidation
    "cloudfront:GetInvalidation": ("cloudfront:distribution", None),
    "cloudfront:GetDistribution": ("cloudfront:distribution", None),
}  # fmt: skip


def _last(value: Any) -> str:
    """An ECS cluster or service given by name or ARN: its name."""
    return str(value).rsplit("/", 1)[-1]


# API operations whose IAM action has another name (S3's API reference: HeadBucket
# "requires s3:ListBucket"); moto authorizes them under the operation's name.
IAM_ACTIONS = {"s3:HeadBucket": "s3:ListBucket", "s3:HeadObject": "s3:GetObject"}


def iam_action(action: str) -> str:
    return IAM_ACTIONS.get(action, action)


def request_resources(
    action: str, params: dict[str, Any], path: str, region: str, account: str, lookup: Any = dict
) -> list[str] | None:
    """The ARNs ``action`` with these request parameters is authorized against;
    None when this table does not know the action (then "*"). ``lookup()``:
    what a name stands for in an ARN (a stack's id; ``secret:NAME``: its ARN)."""
    entry = RESOURCES.get(action)
    if entry is None:
        return None
    kind, names = entry
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    if names is None:  # CloudFront: the distribution's ID is in the path
        parts = path.strip("/").split("/")
        found = [{"distribution": parts[parts.index("distribution") + 1]}] if "distribution" in parts[:-1] else []
    else:
        found = names(params)
    if found is None:
        return ["*"]
    out = []
    for values in found:
        if kind == "secretsmanager:Secret":
            # named by its name: authorized against its ARN (the name and six random characters),
            # or, when no such secret exists, against the name alone
            secret = str(values["secret"])
            out.append(
                secret
                if secret.startswith("arn:")
                else lookup().get(f"secret:{secret}")
                or ARN_FORMATS[kind].format(partition=partition, region=region, account=account, secret=secret)
            )
            continue
        if kind == "cloudformation:stack":
            stack = str(values["stack"])
            if stack.startswith("arn:"):
                out.append(stack)
                continue
            values = {"stack": stack, "id": lookup().get(stack, "*")}
            if values["id"].startswith("arn:"):
                out.append(values["id"])
                continue
        out.append(ARN_FORMATS[kind].format(partition=partition, region=region, account=account, **values))
    return out or ["*"]


def passed_roles(action: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The roles a call hands to a service, each needing ``iam:PassRole`` with
    ``iam:PassedToService`` (a task definition's roles; a stack's service role)."""
    if action == "ecs:RegisterTaskDefinition":
        return [(params[k], "ecs-tasks.amazonaws.com") for k in ("executionRoleArn", "taskRoleArn") if params.get(k)]
    if action in ("cloudformation:CreateChangeSet", "cloudformation:CreateStack", "cloudformation:UpdateStack"):
        return [(params["RoleARN"], "cloudformation.amazonaws.com")] if params.get("RoleARN") else []
    return []
