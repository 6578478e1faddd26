"""Create, in the AWS emulator only, what the plan sets up by hand in a real
account (sections 6.2-6.10 and 7.3): each ``ensure_*`` finds the resource by
name first and creates it only when missing, and says whether it did.

Refuses to run against anything but an explicit endpoint: a real account is
never provisioned from here.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from parity.adapters.aws import AwsTarget, aws_call
from parity.errors import ParityError

TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class Emulator:
    """The emulator's APIs, for bootstrapping the local environment."""

    def __init__(self, target: AwsTarget) -> None:
        if not target.endpoint_url:
            raise ParityError("refusing to bootstrap a real AWS account", hint="only an emulator (aws.endpoint_url) is bootstrapped")
        self.target = target
        c = target.client
        self.ecr, self.ecs, self.ec2, self.elb = c("ecr"), c("ecs"), c("ec2"), c("elbv2")
        self.iam, self.logs, self.sd = c("iam"), c("logs"), c("servicediscovery")

    # -- ECR, IAM, logs, cluster ----------------------------------------------------

    def ensure_repository(self, name: str) -> bool:
        try:
            self.ecr.describe_repositories(repositoryNames=[name])
            return False
        except ClientError as exc:
            if _code(exc) != "RepositoryNotFoundException":
                raise
        aws_call(
            f"create ECR repository {name}", self.ecr.create_repository,
            repositoryName=name, imageScanningConfiguration={"scanOnPush": True},
        )  # fmt: skip
        return True

    def ensure_role(self, name: str, policy: dict[str, Any] | None = None) -> bool:
        try:
            self.iam.get_role(RoleName=name)
            return False
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
        aws_call(f"create role {name}", self.iam.create_role, RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))
        if policy:
            aws_call(
                f"put policy on {name}", self.iam.put_role_policy,
                RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy),
            )  # fmt: skip
        return True

    def ensure_log_group(self, name: str, retention_days: int) -> bool:
        found = aws_call(f"describe log group {name}", self.logs.describe_log_groups, logGroupNamePrefix=name)
        if any(g["logGroupName"] == name for g in found.get("logGroups", [])):
            return False
        aws_call(f"create log group {name}", self.logs.create_log_group, logGroupName=name)
        aws_call(
            f"set retention of {name}", self.logs.put_retention_policy, logGroupName=name, retentionInDays=retention_days
        )
        return True

    def ensure_cluster(self, name: str) -> bool:
        found = aws_call(f"describe cluster {name}", self.ecs.describe_clusters, clusters=[name])
        if any(c.get("status") == "ACTIVE" for c in found.get("clusters", [])):
            return False
        aws_call(f"create cluster {name}", self.ecs.create_cluster, clusterName=name)
        return True

    # -- network -----------------------------------------------------------------

    def ensure_vpc(self, name: str) -> tuple[str, list[str], bool]:
        """A VPC with two public subnets (plan 6.3); returns (vpc, subnets, created)."""
        found = aws_call("describe VPCs", self.ec2.describe_vpcs, Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
        created = not found
        if found:
            vpc = found[0]["VpcId"]
        else:
            vpc = aws_call(
                "create VPC", self.ec2.create_vpc, CidrBlock="10.0.0.0/16",
                TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}],
            )["Vpc"]["VpcId"]  # fmt: skip
        subnets = aws_call("describe subnets", self.ec2.describe_subnets, Filters=[{"Name": "vpc-id", "Values": [vpc]}])
        ids = sorted(s["SubnetId"] for s in subnets["Subnets"])
        if len(ids) < 2:
            for i, zone in enumerate("ab", start=1):
                ids.append(
                    aws_call(
                        "create subnet", self.ec2.create_subnet, VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                        AvailabilityZone=f"{self.target.region}{zone}",
                    )["Subnet"]["SubnetId"]
                )  # fmt: skip
            created = True
        return vpc, ids[:2], created

    def ensure_security_group(self, vpc: str, name: str, description: str) -> tuple[str, bool]:
        found = aws_call(
            f"describe security group {name}", self.ec2.describe_security_groups,
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": [name]}],
        )["SecurityGroups"]  # fmt: skip
        if found:
            return found[0]["GroupId"], False
        group = aws_call(
            f"create security group {name}", self.ec2.create_security_group, GroupName=name, Description=description, VpcId=vpc
        )["GroupId"]
        return group, True

    def allow(self, group: str, port: int, source_group: str | None = None, cidr: str | None = None) -> None:
        perm: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if source_group:
            perm["UserIdGroupPairs"] = [{"GroupId": source_group}]
        else:
            perm["IpRanges"] = [{"CidrIp": cidr or "0.0.0.0/0"}]
        try:
            self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm])
        except ClientError as exc:
            if _code(exc) != "InvalidPermission.Duplicate":
                raise

    # -- Cloud Map, ALB ----------------------------------------------------------

    def ensure_discovery(self, vpc: str, namespace: str, service: str) -> tuple[str, bool]:
        """A private DNS namespace and a service in it (plan 6.5); returns (service ARN, created)."""
        created = False
        spaces = [n for n in aws_call("list namespaces", self.sd.list_namespaces)["Namespaces"] if n["Name"] == namespace]
        if not spaces:
            aws_call(f"create namespace {namespace}", self.sd.create_private_dns_namespace, Name=namespace, Vpc=vpc)
            spaces = [n for n in self.sd.list_namespaces()["Namespaces"] if n["Name"] == namespace]
            created = True
        ns = spaces[0]["Id"]
        services = [
            s for s in aws_call("list discovery services", self.sd.list_services)["Services"]
            if s["Name"] == service and s.get("NamespaceId", ns) == ns
        ]  # fmt: skip
        if services:
            return services[0]["Arn"], created
        arn = aws_call(
            f"create discovery service {service}", self.sd.create_service, Name=service, NamespaceId=ns,
            DnsConfig={"NamespaceId": ns, "DnsRecords": [{"Type": "A", "TTL": 10}]},
            HealthCheckCustomConfig={"FailureThreshold": 1},
        )["Service"]["Arn"]  # fmt: skip
        return arn, True

    def ensure_load_balancer(self, name: str, subnets: list[str], group: str, idle_timeout: int) -> tuple[str, bool]:
        try:
            found = self.elb.describe_load_balancers(Names=[name])["LoadBalancers"]
            return found[0]["LoadBalancerArn"], False
        except ClientError as exc:
            if _code(exc) != "LoadBalancerNotFound":
                raise
        arn = aws_call(
            f"create load balancer {name}", self.elb.create_load_balancer, Name=name, Subnets=subnets,
            SecurityGroups=[group], Scheme="internet-facing", Type="application",
        )["LoadBalancers"][0]["LoadBalancerArn"]  # fmt: skip
        aws_call(
            f"set idle timeout of {name}", self.elb.modify_load_balancer_attributes, LoadBalancerArn=arn,
            Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": str(idle_timeout)}],
        )  # fmt: skip
        return arn, True

    def ensure_target_group(self, name: str, vpc: str, port: int, lb: str) -> tuple[str, bool]:
        try:
            found = self.elb.describe_target_groups(Names=[name])["TargetGroups"]
            return found[0]["TargetGroupArn"], False
        except ClientError as exc:
            if _code(exc) != "TargetGroupNotFound":
                raise
        arn = aws_call(
            f"create target group {name}", self.elb.create_target_group, Name=name, Protocol="HTTP", Port=port,
            VpcId=vpc, TargetType="ip", HealthCheckPath="/healthz", HealthCheckIntervalSeconds=30,
            HealthCheckTimeoutSeconds=10, HealthyThresholdCount=2, UnhealthyThresholdCount=3,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        # The emulator has no certificate: HTTP forwards (the real ALB redirects to HTTPS, plan 6.10).
        aws_call(
            f"create listener for {name}", self.elb.create_listener, LoadBalancerArn=lb, Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
        )  # fmt: skip
        return arn, True

    # -- task definitions and services -------------------------------------------

    def has_service(self, cluster: str, name: str) -> bool:
        found = aws_call(f"describe service {name}", self.ecs.describe_services, cluster=cluster, services=[name])
        return any(s.get("status") == "ACTIVE" for s in found.get("services", []))

    def create_service(self, cluster: str, name: str, taskdef: dict[str, Any], **settings: Any) -> None:
        arn = aws_call(f"register {taskdef['family']}", self.ecs.register_task_definition, **taskdef)["taskDefinition"][
            "taskDefinitionArn"
        ]
        aws_call(
            f"create service {name}", self.ecs.create_service, cluster=cluster, serviceName=name,
            taskDefinition=arn, launchType="FARGATE", **settings,
        )  # fmt: skip
