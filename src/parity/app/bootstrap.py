"""`inv bootstrap --env local`: create in the AWS emulator what the plan sets
up by hand in a real account, so that promote has services to update:
ECR repositories (6.2), a VPC with two subnets (6.3), security groups that
mirror the plan's (6.4), Cloud Map for the internal services (6.5), the
cluster and log groups (6.8), the two roles (6.9), the ALB and a target group
per public service (6.10), and each service with a first task definition (7.3).
Idempotent: what exists is left alone. Only environments whose overlay sets
``aws.bootstrap`` (an emulator endpoint) are bootstrapped; staging and prod
must already exist, and a missing piece there is an error, never created.
"""

from __future__ import annotations

from parity.app.context import DeployContext
from parity.errors import ConfigError
from parity.render.taskdef import (
    deploy_order,
    deployment_configuration,
    log_group,
    render_taskdef,
    repository,
)
from parity.spec import Stack


def execution_policy(stack: Stack) -> dict:
    """The execution role's policy (plan 6.9), for the environment's names."""
    arn = f"arn:aws:{{svc}}:{stack.region}:*"
    prefix = stack.aws.name_prefix or stack.project
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [arn.format(svc="logs") + f":log-group:/ecs/{prefix}-*:*"],
            },
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": arn.format(svc="secretsmanager") + f":secret:{stack.secret_prefix}/*",
            },
        ],
    }


def bootstrap(ctx: DeployContext) -> list[str]:
    """Create what is missing; returns what was created."""
    stack = ctx.stack
    if not stack.aws.bootstrap or ctx.emulator is None:
        raise ConfigError(
            f"{ctx.env} is not bootstrapped by this tool: only an emulator environment (aws.bootstrap) is",
            hint="set up a real account as in the plan's section 6",
        )
    emu = ctx.emulator
    created: list[str] = []

    def note(flag: bool, what: str) -> None:
        if flag:
            created.append(what)

    for service in stack.services:
        note(emu.ensure_repository(repository(stack, service)), f"repository {repository(stack, service)}")
        note(emu.ensure_log_group(log_group(stack, service), stack.aws.log_retention_days), f"log group {log_group(stack, service)}")
    note(emu.ensure_role(stack.aws.execution_role, execution_policy(stack)), f"role {stack.aws.execution_role}")
    note(emu.ensure_role(stack.aws.task_role), f"role {stack.aws.task_role}")
    note(emu.ensure_cluster(stack.cluster), f"cluster {stack.cluster}")

    vpc, subnets, made = emu.ensure_vpc(stack.cluster)
    note(made, f"vpc {vpc}")
    alb_sg, made = emu.ensure_security_group(vpc, f"{stack.project}-alb-sg", "Public ALB")
    note(made, "security group alb")
    emu.allow(alb_sg, 80)
    emu.allow(alb_sg, 443)
    groups = {}
    for service in stack.services:
        groups[service], made = emu.ensure_security_group(vpc, f"{stack.project}-{service}-sg", f"{service} tasks")
        note(made, f"security group {service}")
    for service, svc in stack.services.items():
        sources = [alb_sg] if svc.exposure == "public" else [groups[p] for p in svc.ingress_from]
        for source in sources:
            emu.allow(groups[service], svc.port, source_group=source)

    alb = None
    if stack.public_services():
        alb, made = emu.ensure_load_balancer(f"{stack.project}-alb", subnets, alb_sg, stack.edge.idle_timeout)
        note(made, "load balancer")

    account = ctx.ecs.account_id()
    for service in deploy_order(stack):
        svc = stack.services[service]
        settings: dict = {
            "desiredCount": svc.desired_count,
            "networkConfiguration": {
                "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [groups[service]], "assignPublicIp": "ENABLED"}
            },
            "deploymentConfiguration": deployment_configuration(),
        }
        if svc.exposure == "public" and alb:
            tg, made = emu.ensure_target_group(f"{stack.project}-{service}-tg"[:32], vpc, svc.port, alb)
            note(made, f"target group {service}")
            settings["loadBalancers"] = [{"targetGroupArn": tg, "containerName": service, "containerPort": svc.port}]
        if svc.discovery:
            name, _, namespace = svc.discovery.partition(".")
            registry, made = emu.ensure_discovery(vpc, namespace or "internal", name)
            note(made, f"cloud map {svc.discovery}")
            settings["serviceRegistries"] = [{"registryArn": registry}]
        if emu.has_service(stack.cluster, service):
            continue
        # A first revision to create the service with; promote replaces it with a pinned digest.
        first = render_taskdef(stack, service, f"{repository(stack, service)}:bootstrap", account)
        emu.create_service(stack.cluster, service, first, **settings)
        created.append(f"service {service}")
    return created
