"""Render the ECS task definitions (plan 7.1, 7.2) from the stack spec, purely.

The same spec that renders the compose file renders these: Fargate size, port,
environment, health check and secret references come from one place. Secrets
are ``valueFrom`` ARNs only (the partial ARN without Secrets Manager's random
suffix, which ECS resolves by name); no value is ever part of a task definition.
The account and the image references are inputs: the account comes from STS at
run time, the images are pinned by digest (``REPO@sha256:...``), never a tag.
"""

from __future__ import annotations

from typing import Any

from parity.spec.models import SecretRef, Stack


def partition(region: str) -> str:
    """The ARN partition of a region (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def family(stack: Stack, service: str) -> str:
    """The task definition family (``huskit-crawler``)."""
    return f"{stack.aws.name_prefix or stack.project}-{service}"


def log_group(stack: Stack, service: str) -> str:
    """The CloudWatch log group of a service (``/ecs/huskit-crawler``, plan 6.8)."""
    return f"/ecs/{family(stack, service)}"


def exec_log_group(stack: Stack) -> str:
    """Where ECS Exec logs its sessions (``/ecs/huskit/exec``): apart from the
    services' own lines, which `inv logs` shows."""
    return f"/ecs/{stack.aws.name_prefix or stack.project}/exec"


def repository(stack: Stack, service: str) -> str:
    """The ECR repository name (``huskit/crawler``, plan 6.2)."""
    return f"{stack.aws.ecr_prefix}/{service}"


def role_arn(stack: Stack, account: str, role: str) -> str:
    """A role name becomes an ARN in the account; a full ARN is kept."""
    if role.startswith("arn:"):
        return role
    return f"arn:{partition(stack.region)}:iam::{account}:role/{role}"


def secret_arn(stack: Stack, account: str, ref: SecretRef) -> str:
    """``arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME:JSON_KEY::`` (the
    partial ARN, which ECS resolves by name)."""
    base = f"arn:{partition(stack.region)}:secretsmanager:{stack.region}:{account}:secret:{stack.secret_name(ref)}"
    return f"{base}:{ref.key}::" if ref.key else base


# Fargate's runtimePlatform.cpuArchitecture -> the architecture Docker records in an image.
DOCKER_ARCHITECTURE = {"X86_64": "amd64", "ARM64": "arm64"}


def is_pinned(image: str) -> bool:
    """True for ``REPO@sha256:<64 hex>``."""
    _, at, digest = image.partition("@")
    return bool(at) and digest.startswith("sha256:") and len(digest) == 71


# The tag of the placeholder revision infra-apply creates a service on (at 0 tasks) before
# the first promote. Never pushed: a task of it cannot start.
PLACEHOLDER_TAG = "bootstrap"


def is_placeholder(taskdef: dict[str, Any]) -> bool:
    """True for the placeholder revision (its image is ``REPO:bootstrap``)."""
    images = [c.get("image", "") for c in taskdef.get("containerDefinitions", [])]
    return bool(images) and all(i.endswith(f":{PLACEHOLDER_TAG}") for i in images)


def render_taskdef(stack: Stack, service: str, image: str, account: str) -> dict[str, Any]:
    """The register-task-definition input for ``service``, running ``image``."""
    svc = stack.services[service]
    container: dict[str, Any] = {
        "name": service,
        "image": image,
        "portMappings": [{"containerPort": svc.port, "protocol": "tcp"}],
        "essential": True,
        "environment": [{"name": k, "value": v} for k, v in svc.environment.items()],
        "secrets": [{"name": k, "valueFrom": secret_arn(stack, account, ref)} for k, ref in svc.secrets.items()],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group(stack, service),
                "awslogs-region": stack.region,
                "awslogs-stream-prefix": "ecs",
            },
        },
        "healthCheck": {
            "command": ["CMD-SHELL", svc.health.command],
            "interval": svc.health.interval,
            "timeout": svc.health.timeout,
            "retries": svc.health.retries,
            "startPeriod": svc.health.start_period,
        },
    }
    if stack.aws.execute_command:
        # ECS Exec's agent runs beside the service's process: an init reaps what the sessions leave
        container["linuxParameters"] = {"initProcessEnabled": True}
    taskdef: dict[str, Any] = {
        "family": family(stack, service),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(svc.cpu),
        "memory": str(svc.memory),
        # Fargate runs X86_64 unless told otherwise; an arm64 image there fails to start.
        "runtimePlatform": {"cpuArchitecture": svc.cpu_architecture, "operatingSystemFamily": "LINUX"},
    }
    if svc.ephemeral_storage:
        taskdef["ephemeralStorage"] = {"sizeInGiB": svc.ephemeral_storage}
    taskdef["executionRoleArn"] = role_arn(stack, account, stack.aws.execution_role)
    taskdef["taskRoleArn"] = role_arn(stack, account, stack.aws.task_role)
    taskdef["containerDefinitions"] = [container]
    return taskdef


def deployment_configuration() -> dict[str, Any]:
    """What every rolling update sets (``parity.render.deployment`` renders a
    gated service's): no capacity dip, room to surge, and ECS rolls a failing
    deployment back by itself (the circuit breaker)."""
    from parity.render.deployment import rolling_configuration

    return rolling_configuration()


def deploy_order(stack: Stack) -> list[str]:
    """Services in the order to deploy them: the ones others call first."""
    return [*stack.internal_services(), *stack.public_services()]
