"""The deploy layer's AWS calls (ECS, ECR, STS, CloudFront, S3), via boto3 and
``AwsTarget``: real AWS through the normal credential chain, or the emulator
when the environment names an endpoint. Every failure is one ParityError line
(``aws_call``); "not found" is an answer (None), not an error, so the use
cases can say what is missing and what to do about it.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from botocore.exceptions import ClientError

from parity.adapters.aws import AwsTarget, aws_call, reraise
from parity.errors import ParityError


class Ecs:
    """ECS services and task definitions, the ECR registry, the caller's account."""

    def __init__(self, target: AwsTarget) -> None:
        self.target = target
        self.ecs = target.client("ecs")
        self.ecr = target.client("ecr")
        self.sts = target.client("sts")

    def account_id(self) -> str:
        """The account of the credentials in use (the first call: it proves they work)."""
        return aws_call("who am I (sts get-caller-identity)", self.sts.get_caller_identity)["Account"]

    def cluster_active(self, cluster: str) -> bool:
        found = aws_call(f"describe cluster {cluster}", self.ecs.describe_clusters, clusters=[cluster])
        return any(c.get("status") == "ACTIVE" for c in found.get("clusters", []))

    def repository_uri(self, name: str) -> str | None:
        """``ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME``, or None if the repository does not exist."""
        try:
            found = self.ecr.describe_repositories(repositoryNames=[name])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
                return None
            return aws_call(f"describe ECR repository {name}", reraise, exc)
        except Exception as exc:  # noqa: BLE001 - no credentials, endpoint down: one line
            return aws_call(f"describe ECR repository {name}", reraise, exc)
        return found["repositories"][0]["repositoryUri"]

    def image_digest(self, repository: str, tag: str) -> str | None:
        """The digest ECR holds under ``repository:tag``, or None."""
        try:
            found = self.ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return None
            return aws_call(f"describe ECR image {repository}:{tag}", reraise, exc)
        except Exception as exc:  # noqa: BLE001
            return aws_call(f"describe ECR image {repository}:{tag}", reraise, exc)
        details = found.get("imageDetails", [])
        return details[0]["imageDigest"] if details else None

    def registry_login(self) -> tuple[str, str, str]:
        """(server, username, password) for ``docker login`` to ECR. The
        password is a 12-hour token; it is handed to docker on stdin only."""
        data = aws_call("get ECR login token", self.ecr.get_authorization_token)["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        return data["proxyEndpoint"].removeprefix("https://"), user, password

    def describe_service(self, cluster: str, service: str) -> dict[str, Any] | None:
        found = aws_call(f"describe service {service}", self.ecs.describe_services, cluster=cluster, services=[service])
        for svc in found.get("services", []):
            if svc.get("status") == "ACTIVE":
                return svc
        return None

    def describe_task_definition(self, arn: str) -> dict[str, Any]:
        return aws_call(f"describe task definition {arn}", self.ecs.describe_task_definition, taskDefinition=arn)[
            "taskDefinition"
        ]

    def register_task_definition(self, taskdef: dict[str, Any]) -> str:
        found = aws_call(
            f"register task definition {taskdef.get('family')}", self.ecs.register_task_definition, **taskdef
        )
        return found["taskDefinition"]["taskDefinitionArn"]

    def update_service(
        self,
        cluster: str,
        service: str,
        task_definition: str,
        deployment_configuration: dict[str, Any],
        force_new_deployment: bool,
        desired_count: int | None = None,
    ) -> dict[str, Any]:
        """``desired_count`` only to start a service created at zero (infra-apply's placeholder)."""
        extra: dict[str, Any] = {} if desired_count is None else {"desiredCount": desired_count}
        return aws_call(
            f"update service {service}",
            self.ecs.update_service,
            cluster=cluster,
            service=service,
            taskDefinition=task_definition,
            deploymentConfiguration=deployment_configuration,
            forceNewDeployment=force_new_deployment,
            **extra,
        )["service"]

    def deregister_task_definition(self, arn: str) -> None:
        """Mark a revision INACTIVE: no longer listed, so never rolled back to
        (tasks running it keep running)."""
        aws_call(
            f"deregister task definition {arn.rsplit('/', 1)[-1]}",
            self.ecs.deregister_task_definition,
            taskDefinition=arn,
        )

    def task_definition_revisions(self, family: str) -> list[str]:
        """The ACTIVE revisions of a family, oldest first."""
        arns: list[str] = []
        kwargs: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "ASC"}
        while True:
            page = aws_call(f"list task definitions {family}", self.ecs.list_task_definitions, **kwargs)
            arns += [a for a in page.get("taskDefinitionArns", []) if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        return sorted(arns, key=lambda a: int(a.rsplit(":", 1)[-1]))


class CloudFront:
    """CloudFront: invalidate the cached client after a deploy."""

    def __init__(self, target: AwsTarget) -> None:
        self.cf = target.client("cloudfront")

    def invalidate(self, distribution_id: str, paths: list[str]) -> str:
        found = aws_call(
            f"invalidate CloudFront distribution {distribution_id}",
            self.cf.create_invalidation,
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": paths},
                "CallerReference": f"parity-{time.time_ns()}",
            },
        )
        return found["Invalidation"]["Id"]


def bucket_exists(target: AwsTarget, name: str) -> bool:
    s3 = target.client("s3")
    try:
        s3.head_bucket(Bucket=name)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        return aws_call(f"look up bucket {name}", reraise, exc)
    except Exception as exc:  # noqa: BLE001
        return aws_call(f"look up bucket {name}", reraise, exc)


class EcsTasks(Ecs):
    """What `inv status|logs|exec --env` ask ECS beyond promote's calls: a
    service's tasks, and an ECS Exec session."""

    @property
    def endpoint(self) -> str:
        """The ECS endpoint the Session Manager plugin is told about (as the AWS CLI does)."""
        return self.ecs.meta.endpoint_url

    def running_tasks(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """The tasks ECS keeps running for ``service`` (started, or still
        starting), described. Only the service's own: ECS groups them as
        ``service:NAME`` (an emulator that cannot filter by service lists every task)."""
        arns: list[str] = []
        kwargs: dict[str, Any] = {"cluster": cluster, "serviceName": service, "desiredStatus": "RUNNING"}
        while True:
            page = aws_call(f"list tasks of {service}", self.ecs.list_tasks, **kwargs)
            arns += page.get("taskArns", [])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        tasks: list[dict[str, Any]] = []
        for i in range(0, len(arns), 100):  # DescribeTasks takes at most 100
            found = aws_call(
                f"describe tasks of {service}", self.ecs.describe_tasks, cluster=cluster, tasks=arns[i : i + 100]
            )
            tasks += found.get("tasks", [])
        return [t for t in tasks if t.get("group") == f"service:{service}"]

    def execute_command(self, cluster: str, task: str, container: str, command: str) -> dict[str, Any]:
        """Open an ECS Exec session (interactive: the only mode ECS offers). The
        answer carries the session's token: it goes to the plugin, never to a screen."""
        what = f"execute command in task {task.rsplit('/', 1)[-1]}"
        try:
            return self.ecs.execute_command(
                cluster=cluster, task=task, container=container, command=command, interactive=True
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if self.target.endpoint_url and status == 500:
                # moto (5.2.5) has no ExecuteCommand: its server fails with an HTML 500 page
                raise ParityError(
                    f"{what}: the emulator at {self.target.endpoint_url} does not implement ExecuteCommand"
                ) from None
            return aws_call(what, reraise, exc)
        except Exception as exc:  # noqa: BLE001 - no credentials, endpoint down: one line
            return aws_call(what, reraise, exc)
