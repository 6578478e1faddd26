"""Roles and secrets (plan 6.7, 6.9, 9): the execution role reads only this
environment's secrets and writes only to its log groups; the task role has no
permission at all (the services call no AWS API) but, where the environment
turns ECS Exec on, Session Manager's (``render_exec``); the secrets are empty
containers whose values are set out of band, never in the template. The
deploy identities (GitHub's roles, the CloudFormation service role) are the
bootstrap stack's (identities.py): a stack cannot be created by a role it creates."""

from __future__ import annotations

from typing import Any

from parity.render.infra.common import Template, arn, logical, ref
from parity.render.taskdef import exec_log_group, log_group, repository

ECS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
EXEC_POLICY = "TaskRoleExecPolicy"


def role_name(role: str) -> str:
    """The spec may name a role or give its ARN; the template creates it by name."""
    return role.rsplit("/", 1)[-1]


def secret_names(t: Template) -> list[str]:
    """Every secret the services reference (``huskit/prod/crawler``), once."""
    names: list[str] = []
    for svc in t.stack.services.values():
        for secret in svc.secrets.values():
            name = t.stack.secret_name(secret)
            if name not in names:
                names.append(name)
    return names


def secret_arn(name: str, t: Template) -> Any:
    # Secrets Manager appends "-" and six random characters to a secret's ARN.
    return arn(t.stack, "secretsmanager", f"secret:{name}-??????")


def repository_arn(t: Template, service: str) -> Any:
    return arn(t.stack, "ecr", f"repository/{repository(t.stack, service)}")


def render(t: Template) -> None:
    stack = t.stack
    secrets = secret_names(t)
    for name in secrets:
        t.add(f"{logical(name.rsplit('/', 1)[-1])}Secret", "AWS::SecretsManager::Secret", {
            "Name": name,
            "Description": f"{stack.project} {stack.env}: JSON of the keys the spec references; the values are set out of band",
        }, DeletionPolicy="Retain", UpdateReplacePolicy="Retain")  # fmt: skip

    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Resource": [repository_arn(t, s) for s in stack.services],
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [arn(stack, "logs", f"log-group:{log_group(stack, s)}:*") for s in stack.services],
        },
    ]
    if secrets:
        statements.append({
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": [secret_arn(n, t) for n in secrets],
        })  # fmt: skip
    t.add("ExecutionRole", "AWS::IAM::Role", {
        "RoleName": role_name(stack.aws.execution_role),
        "AssumeRolePolicyDocument": ECS_TRUST,
        "Policies": [{"PolicyName": "pull-log-read-secrets", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}],
    })  # fmt: skip
    t.add(
        "TaskRole",
        "AWS::IAM::Role",
        {"RoleName": role_name(stack.aws.task_role), "AssumeRolePolicyDocument": ECS_TRUST},
    )


def render_exec(t: Template) -> None:
    """ECS Exec (``aws.execute_command``), kept apart from the roles above: the
    task role may open Session Manager's channels (its ``ssmmessages`` actions
    take no resource) and write the sessions' log; nothing else. A policy of
    its own, so the role stays without permission where exec is off."""
    stack = t.stack
    if not stack.aws.execute_command:
        return
    t.add(EXEC_POLICY, "AWS::IAM::Policy", {
        "PolicyName": "ecs-exec",
        "Roles": [ref("TaskRole")],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
                ],
                "Resource": "*",
            },
            # the agent looks its log group up before it writes the session's stream
            {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                "Resource": arn(stack, "logs", f"log-group:{exec_log_group(stack)}:*"),
            },
        ]},
    })  # fmt: skip
