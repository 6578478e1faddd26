"""Writes tests/unit/fixtures/ops/*.json: what AWS answers each call of `inv
status|logs|exec --env prod` (two website-agent tasks mid-rollout, one
crawler task), completed from botocore's output shapes so that every member
the model lists is there (``python -m tests.unit.ops_fixtures``; run it again
after a botocore upgrade whose model grew: tests/unit/test_operate.py says so).

The values that matter are AWS's own (states, reasons, ARNs, stream names);
every other member carries a made-up value of its type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from parity.render.taskdef import render_taskdef  # noqa: E402
from parity.spec import load_stack  # noqa: E402
from tests.unit.aws_model import FIXTURES, complete, output_shape  # noqa: E402

ACCOUNT = "123456789012"
REGION = "eu-central-1"
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/huskit-prod"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
# manifest digest (what the task definition pins) -> config digest (the local image ID e2e records)
IMAGES = {
    "website-agent": ("sha256:" + "1" * 64, "sha256:" + "a" * 64),
    "crawler": ("sha256:" + "2" * 64, "sha256:" + "b" * 64),
}
TASKS = {
    "website-agent": [
        ("3f2c9a1b0d8e4f6a9b7c5d3e1f0a2b4c", "10.0.1.23", 9),
        ("7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d", "10.0.2.41", 8),
    ],
    "crawler": [("c0ffee00112233445566778899aabbcc", "10.0.1.77", 12)],
}
REVISION = {"website-agent": 9, "crawler": 12}
TARGET_GROUP = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/huskit-Websi-1RZ4H0W3PGKQ6/0f3e1c5a7b9d2e4f"
)
TOKEN = "AAEAAbSecretSessionToken0123456789NeverPrinted"


def image(service: str) -> str:
    return f"{ECR}/huskit/{service}@{IMAGES[service][0]}"


def taskdef_arn(service: str, revision: int | None = None) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/huskit-{service}:{revision or REVISION[service]}"


def describe_services() -> dict:
    web_new, web_old = "ecs-svc/1111111111111111111", "ecs-svc/0000000000000000000"
    return {
        "failures": [],
        "services": [
            {
                "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/huskit-prod/website-agent",
                "serviceName": "website-agent", "clusterArn": CLUSTER, "status": "ACTIVE",
                "desiredCount": 2, "runningCount": 2, "pendingCount": 1, "launchType": "FARGATE",
                "taskDefinition": taskdef_arn("website-agent"), "enableExecuteCommand": False,
                "loadBalancers": [{"targetGroupArn": TARGET_GROUP, "containerName": "website-agent", "containerPort": 5171}],
                "deployments": [
                    {"id": web_new, "status": "PRIMARY", "taskDefinition": taskdef_arn("website-agent"), "desiredCount": 2,
                     "pendingCount": 1, "runningCount": 1, "failedTasks": 0, "createdAt": "2026-05-01T09:58:00+00:00",
                     "updatedAt": "2026-05-01T09:59:30+00:00", "launchType": "FARGATE", "rolloutState": "IN_PROGRESS",
                     "rolloutStateReason": "ECS deployment ecs-svc/1111111111111111111 in progress."},
                    {"id": web_old, "status": "ACTIVE", "taskDefinition": taskdef_arn("website-agent", 8), "desiredCount": 1,
                     "pendingCount": 0, "runningCount": 1, "failedTasks": 0, "createdAt": "2026-04-28T14:00:00+00:00",
                     "updatedAt": "2026-05-01T09:59:30+00:00", "launchType": "FARGATE", "rolloutState": "COMPLETED",
                     "rolloutStateReason": "ECS deployment ecs-svc/0000000000000000000 completed."},
                ],
                "events": [
                    {"id": "e3", "createdAt": "2026-05-01T09:59:30+00:00", "message": "(service website-agent) registered 1 targets in (target-group huskit-Websi-1RZ4H0W3PGKQ6)"},
                    {"id": "e2", "createdAt": "2026-05-01T09:58:10+00:00", "message": "(service website-agent) has started 1 tasks: (task 3f2c9a1b0d8e4f6a9b7c5d3e1f0a2b4c)."},
                    {"id": "e1", "createdAt": "2026-04-28T14:05:00+00:00", "message": "(service website-agent) has reached a steady state."},
                ],
            },
            {
                "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/huskit-prod/crawler",
                "serviceName": "crawler", "clusterArn": CLUSTER, "status": "ACTIVE",
                "desiredCount": 1, "runningCount": 1, "pendingCount": 0, "launchType": "FARGATE",
                "taskDefinition": taskdef_arn("crawler"), "enableExecuteCommand": False, "loadBalancers": [],
                "deployments": [
                    {"id": "ecs-svc/2222222222222222222", "status": "PRIMARY", "taskDefinition": taskdef_arn("crawler"),
                     "desiredCount": 1, "pendingCount": 0, "runningCount": 1, "failedTasks": 0,
                     "createdAt": "2026-04-30T08:00:00+00:00", "updatedAt": "2026-04-30T08:04:00+00:00", "launchType": "FARGATE",
                     "rolloutState": "COMPLETED", "rolloutStateReason": "ECS deployment ecs-svc/2222222222222222222 completed."},
                ],
                "events": [
                    {"id": "c2", "createdAt": "2026-04-30T08:04:00+00:00", "message": "(service crawler) has reached a steady state."},
                    {"id": "c1", "createdAt": "2026-04-30T08:00:30+00:00", "message": "(service crawler) has started 1 tasks: (task c0ffee00112233445566778899aabbcc)."},
                ],
            },
        ],
    }  # fmt: skip


def describe_task_definition(service: str) -> dict:
    td = render_taskdef(load_stack(ROOT, "prod"), service, image(service), ACCOUNT)
    td.update({
        "taskDefinitionArn": taskdef_arn(service), "revision": REVISION[service], "status": "ACTIVE",
        "compatibilities": ["EC2", "FARGATE"], "registeredAt": "2026-04-28T13:59:00+00:00",
        "registeredBy": f"arn:aws:sts::{ACCOUNT}:assumed-role/huskit-github-deploy/GitHubActions",
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
    })  # fmt: skip
    return {"taskDefinition": td, "tags": []}


def _task(service: str, tid: str, address: str, revision: int, status: str = "RUNNING") -> dict:
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/huskit-prod/{tid}"
    return {
        "taskArn": arn, "clusterArn": CLUSTER, "taskDefinitionArn": taskdef_arn(service, revision), "group": f"service:{service}",
        "startedBy": "ecs-svc/1111111111111111111", "lastStatus": status, "desiredStatus": "RUNNING",
        "healthStatus": "HEALTHY" if status == "RUNNING" else "UNKNOWN", "launchType": "FARGATE",
        "createdAt": "2026-05-01T09:58:05+00:00", "startedAt": f"2026-05-01T09:5{9 if revision == REVISION[service] else 0}:00+00:00",
        "enableExecuteCommand": True, "cpu": "1024", "memory": "2048",
        "attachments": [{
            "id": f"eni-attach-{tid[:8]}", "type": "ElasticNetworkInterface", "status": "ATTACHED",
            "details": [
                {"name": "subnetId", "value": "subnet-0a1b2c3d4e5f60718" if address.startswith("10.0.1.") else "subnet-0f1e2d3c4b5a69788"},
                {"name": "networkInterfaceId", "value": f"eni-{tid[:17]}"},
                {"name": "macAddress", "value": "0a:1b:2c:3d:4e:5f"},
                {"name": "privateDnsName", "value": f"ip-{address.replace('.', '-')}.{REGION}.compute.internal"},
                {"name": "privateIPv4Address", "value": address},
            ],
        }],
        "containers": [{
            "containerArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/huskit-prod/{tid}/5e7c1a2b-0000-4000-8000-{tid[:12]}",
            "taskArn": arn, "name": service, "image": image(service), "imageDigest": IMAGES[service][0],
            "runtimeId": f"{tid}-1527056392", "lastStatus": status, "healthStatus": "HEALTHY" if status == "RUNNING" else "UNKNOWN",
            "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": status, "lastStartedAt": "2026-05-01T09:59:05+00:00"}],
            "networkInterfaces": [{"attachmentId": f"eni-attach-{tid[:8]}", "privateIpv4Address": address}],
        }],
    }  # fmt: skip


def describe_tasks() -> dict:
    return {"failures": [], "tasks": [_task(s, tid, ip, rev) for s, tasks in TASKS.items() for tid, ip, rev in tasks]}


def list_tasks() -> dict:
    return {
        "taskArns": [
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/huskit-prod/{tid}" for tid, _ip, _r in TASKS["website-agent"]
        ]
    }


def execute_command() -> dict:
    tid = TASKS["website-agent"][0][0]
    return {
        "clusterArn": CLUSTER, "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/huskit-prod/{tid}",
        "containerArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/huskit-prod/{tid}/5e7c1a2b-0000-4000-8000-{tid[:12]}",
        "containerName": "website-agent", "interactive": True,
        "session": {
            "sessionId": "ecs-execute-command-0a1b2c3d4e5f60718",
            "streamUrl": f"wss://ssmmessages.{REGION}.amazonaws.com/v1/data-channel/ecs-execute-command-0a1b2c3d4e5f60718?role=publish_subscribe&cell-number=AAEAAQ",
            "tokenValue": TOKEN,
        },
    }  # fmt: skip


def describe_stacks() -> dict:
    return {"Stacks": [{
        "StackName": "huskit-prod", "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/huskit-prod/6a8d1e20-0000-11f0-9a3b-0a1b2c3d4e5f",
        "StackStatus": "UPDATE_COMPLETE", "CreationTime": "2026-04-01T12:00:00+00:00",
        "Outputs": [
            {"OutputKey": "DistributionDomainName", "OutputValue": "d1a2b3c4d5e6f7.cloudfront.net", "Description": "The public URL's host (aws.url)"},
            {"OutputKey": "ClusterName", "OutputValue": "huskit-prod", "Description": "The ECS cluster"},
        ],
    }]}  # fmt: skip


def list_stack_resources() -> dict:
    def summary(logical: str, kind: str, physical: str) -> dict:
        return {"LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": kind,
                "ResourceStatus": "UPDATE_COMPLETE", "LastUpdatedTimestamp": "2026-04-01T12:04:00+00:00"}  # fmt: skip

    return {"StackResourceSummaries": [
        summary("Cluster", "AWS::ECS::Cluster", "huskit-prod"),
        summary("WebsiteAgentTargetGroup", "AWS::ElasticLoadBalancingV2::TargetGroup", TARGET_GROUP),
        summary("WebsiteAgentService", "AWS::ECS::Service", f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/huskit-prod/website-agent"),
        summary("CrawlerLogGroup", "AWS::Logs::LogGroup", "/ecs/huskit-crawler"),
    ]}  # fmt: skip


def describe_target_health() -> dict:
    (a, ip_a, _), (b, ip_b, _) = TASKS["website-agent"]
    return {"TargetHealthDescriptions": [
        {"Target": {"Id": ip_a, "Port": 5171, "AvailabilityZone": f"{REGION}a"}, "HealthCheckPort": "5171",
         "TargetHealth": {"State": "healthy"}},
        {"Target": {"Id": ip_b, "Port": 5171, "AvailabilityZone": f"{REGION}b"}, "HealthCheckPort": "5171",
         "TargetHealth": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
                          "Description": "Health checks failed with these codes: [502]"}},
    ]}  # fmt: skip


def describe_alarms() -> dict:
    return {"CompositeAlarms": [], "MetricAlarms": [{
        "AlarmName": "huskit-website-agent-5xx", "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:huskit-website-agent-5xx",
        "StateValue": "ALARM", "StateUpdatedTimestamp": "2026-05-01T09:59:00+00:00",
        "StateReason": "Threshold Crossed: 5 datapoints [14.0 (01/05/26 09:58:00), 12.0 (01/05/26 09:57:00)] were greater than the threshold (10.0).",
        "Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count", "Statistic": "Sum", "Period": 60,
        "EvaluationPeriods": 5, "Threshold": 10.0, "ComparisonOperator": "GreaterThanThreshold",
    }]}  # fmt: skip


def describe_log_groups() -> dict:
    return {"logGroups": [{
        "logGroupName": "/ecs/huskit-website-agent", "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/huskit-website-agent:*",
        "creationTime": 1775044800000, "retentionInDays": 30, "storedBytes": 1048576,
    }]}  # fmt: skip


def filter_log_events() -> dict:
    (a, _, _), (b, _, _) = TASKS["website-agent"]
    base = 1777629540000  # 2026-05-01T09:59:00Z
    events = [  # as a page comes: stream by stream, not in time order across them
        (a, 0, "listening on 0.0.0.0:5171"),
        (a, 2500, "GET /healthz 200 1ms"),
        (a, 4000, "POST /api/chat 200 812ms"),
        (b, 1000, "listening on 0.0.0.0:5171"),
        (b, 3000, "GET /healthz 502 0ms: upstream not ready"),
    ]
    return {"events": [
        {"logStreamName": f"ecs/website-agent/{tid}", "timestamp": base + dt, "message": text + "\n",
         "ingestionTime": base + dt + 400, "eventId": f"{37000000000000000000000000000000000000000000000000000000 + i}"}
        for i, (tid, dt, text) in enumerate(events)
    ], "searchedLogStreams": []}  # fmt: skip


def batch_get_image() -> dict:
    digest, config = IMAGES["website-agent"]
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": config},
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 32654,
                "digest": "sha256:" + "e" * 64,
            }
        ],
    }
    return {"failures": [], "images": [{
        "registryId": ACCOUNT, "repositoryName": "huskit/website-agent", "imageId": {"imageDigest": digest, "imageTag": "4f9e2c1"},
        "imageManifest": json.dumps(manifest, indent=3), "imageManifestMediaType": manifest["mediaType"],
    }]}  # fmt: skip


# file -> (service, operation, the response's partial form)
RESPONSES = {
    "ecs-describe-services.json": ("ecs", "DescribeServices", describe_services),
    "ecs-describe-task-definition-website-agent.json": (
        "ecs",
        "DescribeTaskDefinition",
        lambda: describe_task_definition("website-agent"),
    ),
    "ecs-describe-task-definition-crawler.json": (
        "ecs",
        "DescribeTaskDefinition",
        lambda: describe_task_definition("crawler"),
    ),
    "ecs-list-tasks.json": ("ecs", "ListTasks", list_tasks),
    "ecs-describe-tasks.json": ("ecs", "DescribeTasks", describe_tasks),
    "ecs-execute-command.json": ("ecs", "ExecuteCommand", execute_command),
    "cloudformation-describe-stacks.json": ("cloudformation", "DescribeStacks", describe_stacks),
    "cloudformation-list-stack-resources.json": ("cloudformation", "ListStackResources", list_stack_resources),
    "elbv2-describe-target-health.json": ("elbv2", "DescribeTargetHealth", describe_target_health),
    "cloudwatch-describe-alarms.json": ("cloudwatch", "DescribeAlarms", describe_alarms),
    "logs-describe-log-groups.json": ("logs", "DescribeLogGroups", describe_log_groups),
    "logs-filter-log-events.json": ("logs", "FilterLogEvents", filter_log_events),
    "ecr-batch-get-image.json": ("ecr", "BatchGetImage", batch_get_image),
}


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, (service, operation, make) in RESPONSES.items():
        response = complete(output_shape(service, operation), make())
        text = json.dumps({"service": service, "operation": operation, "response": response}, indent=1) + "\n"
        (FIXTURES / name).write_text(text)
        print(f"wrote {(FIXTURES / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
