"""ECR repositories, log groups and the cluster (plan 6.2, 6.8), and the ECS
services (7.3) with their deployment settings. The services' revision is the
seam with promote: see ``parity.render.infra``."""

from __future__ import annotations

from typing import Any

from parity.render.infra.common import Template, att, logical, ref, sub, taskdef_parameter, uses_tls
from parity.render.infra.edge import target_group
from parity.render.infra.iam import EXEC_POLICY
from parity.render.infra.network import discovery_service, group, subnets
from parity.render.taskdef import (
    PLACEHOLDER_TAG,
    deploy_order,
    deployment_configuration,
    exec_log_group,
    log_group,
    render_taskdef,
    repository,
)

# Tags are immutable and promote gives every image its own (``<commit>-<image id>``), so
# every image a revision may run (any ACTIVE one is a rollback target) keeps its tag for
# good. Only untagged images expire: what an interrupted push left. No count rule: ECR's
# lifecycle cannot see which revisions are ACTIVE, so a count would expire a rollback target.
LIFECYCLE = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "untagged images (an interrupted push) after 14 days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14,
            },
            "action": {"type": "expire"},
        },
    ]
}

RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def repository_resource(service: str) -> str:
    return f"{logical(service)}Repository"


def log_group_resource(service: str) -> str:
    return f"{logical(service)}LogGroup"


def service_resource(service: str) -> str:
    return f"{logical(service)}Service"


def has_revision(service: str) -> str:
    """The condition: a revision was passed (promote has run)."""
    return f"{logical(service)}HasRevision"


def repository_uri(t: Template, service: str) -> Any:
    name = repository(t.stack, service)
    if t.stack.infra.owns_repositories:
        return att(repository_resource(service), "RepositoryUri")
    return sub(f"${{AWS::AccountId}}.dkr.ecr.${{AWS::Region}}.${{AWS::URLSuffix}}/{name}")


def render_registries(t: Template) -> None:
    """Repositories (or not: see infra.owns_repositories), log groups, the cluster."""
    stack = t.stack
    for service in stack.services:
        if stack.infra.owns_repositories:
            t.add(repository_resource(service), "AWS::ECR::Repository", {
                "RepositoryName": repository(stack, service),
                "ImageScanningConfiguration": {"ScanOnPush": True},
                "ImageTagMutability": "IMMUTABLE",  # a tag never moves off the digest a revision runs
                "LifecyclePolicy": {"LifecyclePolicyText": _json(LIFECYCLE)},
            }, **RETAIN)  # fmt: skip
        t.add(log_group_resource(service), "AWS::Logs::LogGroup", {
            "LogGroupName": log_group(stack, service),
            "RetentionInDays": stack.aws.log_retention_days,
        }, **RETAIN)  # fmt: skip
    cluster: dict[str, Any] = {
        "ClusterName": stack.cluster,
        # RunningTaskCount (plan 10's crawler alarm) is a Container Insights metric.
        "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
    }
    if stack.aws.execute_command:
        cluster["Configuration"] = exec_configuration(t)
    t.add("Cluster", "AWS::ECS::Cluster", cluster)
    t.output("ClusterName", ref("Cluster"), "The ECS cluster")
    for service in stack.services:
        t.output(f"{logical(service)}RepositoryUri", repository_uri(t, service), f"Where {service}'s images go")


EXEC_LOG_GROUP = "ExecLogGroup"


def exec_configuration(t: Template) -> dict[str, Any]:
    """ECS Exec's sessions (what was typed and printed) logged to a log group
    of their own, kept as long as the services' logs."""
    t.add(EXEC_LOG_GROUP, "AWS::Logs::LogGroup", {
        "LogGroupName": exec_log_group(t.stack),
        "RetentionInDays": t.stack.aws.log_retention_days,
    }, **RETAIN)  # fmt: skip
    return {
        "ExecuteCommandConfiguration": {
            "Logging": "OVERRIDE",
            "LogConfiguration": {"CloudWatchLogGroupName": ref(EXEC_LOG_GROUP), "CloudWatchEncryptionEnabled": False},
        }
    }


def placeholder_image(t: Template, service: str) -> Any:
    stack = t.stack
    if stack.aws.registry:
        return f"{stack.aws.registry}/{repository(stack, service)}:{PLACEHOLDER_TAG}"
    return {"Fn::Join": ["", [repository_uri(t, service), f":{PLACEHOLDER_TAG}"]]}


def placeholder_taskdef(t: Template, service: str) -> dict[str, Any]:
    """The spec's task definition in CloudFormation's casing, with a bootstrap
    image; runs no task (the service is created at zero) until promote replaces it."""
    rendered = render_taskdef(t.stack, service, "IMAGE", "${AWS::AccountId}")
    props = _cfn_case(rendered)
    props["ExecutionRoleArn"] = att("ExecutionRole", "Arn")
    props["TaskRoleArn"] = att("TaskRole", "Arn")
    container = props["ContainerDefinitions"][0]
    container["Image"] = placeholder_image(t, service)
    for secret in container.get("Secrets", []):
        secret["ValueFrom"] = sub(secret["ValueFrom"])
    container["LogConfiguration"]["Options"]["awslogs-group"] = ref(log_group_resource(service))
    return props


def render_services(t: Template) -> None:
    stack = t.stack
    for service in deploy_order(stack):
        svc = stack.services[service]
        param, cond, placeholder = (
            taskdef_parameter(service),
            has_revision(service),
            f"{logical(service)}PlaceholderTaskDefinition",
        )
        t.parameters[param] = {
            "Type": "String",
            "Default": "",
            "Description": f"The task definition {service} runs (infra-plan/apply pass what ECS runs; empty: a placeholder at zero tasks)",
        }
        t.conditions[cond] = {"Fn::Not": [{"Fn::Equals": [ref(param), ""]}]}
        t.conditions[f"{logical(service)}NeedsPlaceholder"] = {"Fn::Equals": [ref(param), ""]}
        t.add(
            placeholder,
            "AWS::ECS::TaskDefinition",
            placeholder_taskdef(t, service),
            Condition=f"{logical(service)}NeedsPlaceholder",
        )
        dc = deployment_configuration()
        props: dict[str, Any] = {
            "ServiceName": service,
            "Cluster": ref("Cluster"),
            "LaunchType": "FARGATE",
            "TaskDefinition": {"Fn::If": [cond, ref(param), ref(placeholder)]},
            # promote starts the service at the spec's count; autoscaling owns it after that
            "DesiredCount": {"Fn::If": [cond, {"Ref": "AWS::NoValue"}, 0]},
            "DeploymentConfiguration": {
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                "MaximumPercent": dc["maximumPercent"],
                "MinimumHealthyPercent": dc["minimumHealthyPercent"],
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "ENABLED",  # no NAT (plan 6.3): the public IP is the way out
                    "Subnets": subnets(),
                    "SecurityGroups": [att(group(service), "GroupId")],
                }
            },
            "PropagateTags": "SERVICE",
            "EnableECSManagedTags": True,
        }
        depends: list[str] = []
        if stack.aws.execute_command:
            props["EnableExecuteCommand"] = True
            depends.append(EXEC_POLICY)  # a task must find its role's exec permissions when it starts
        if svc.exposure == "public":
            props["LoadBalancers"] = [
                {
                    "ContainerName": service,
                    "ContainerPort": svc.port,
                    "TargetGroupArn": ref(target_group(service)),
                }
            ]
            props["HealthCheckGracePeriodSeconds"] = max(svc.health.start_period, 30)
            depends.append("HttpsListener" if uses_tls(stack) else "HttpListener")
        if svc.discovery:
            # the ARN spelled out from the service's id (Ref): the same thing as GetAtt Arn, and an
            # emulator that models no Cloud Map (moto) can still resolve it
            props["ServiceRegistries"] = [
                {
                    "RegistryArn": sub(
                        f"arn:${{AWS::Partition}}:servicediscovery:${{AWS::Region}}:${{AWS::AccountId}}:service/${{{discovery_service(service)}}}"
                    )
                }
            ]
        extra: dict[str, Any] = {"DependsOn": depends} if depends else {}
        t.add(service_resource(service), "AWS::ECS::Service", props, **extra)
        t.output(f"{logical(service)}ServiceName", att(service_resource(service), "Name"), f"The ECS service {service}")


def _cfn_case(value: Any, keep_keys: bool = False) -> Any:
    """ECS API casing (``containerDefinitions``) -> CloudFormation's (``ContainerDefinitions``);
    the keys of a log driver's ``options`` are the driver's own and stay as they are."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            new = key if keep_keys else key[:1].upper() + key[1:]
            out[new] = _cfn_case(item, keep_keys=(key == "options"))
        return out
    if isinstance(value, list):
        return [_cfn_case(v) for v in value]
    return value


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))
