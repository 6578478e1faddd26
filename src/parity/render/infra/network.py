"""The network of plan 6.3-6.5: a VPC with two public subnets and an internet
gateway (no NAT, as planned: tasks get public IPs), one security group per
exposure chained CloudFront -> ALB -> public services -> internal services
from ``ingress_from``, and Cloud Map for the services with a ``discovery`` name."""

from __future__ import annotations

from parity.render.infra.common import Template, att, logical, prefix, ref, uses_tls

PREFIX_LIST_PARAMETER = "CloudFrontPrefixList"
PREFIX_LIST_NAME = "com.amazonaws.global.cloudfront.origin-facing"
# `egress: tcp`: the group's only outbound rule, replacing the default allow-all. No UDP
# (no WebRTC, no QUIC past the crawler's proxy); DNS still works: security groups do not
# filter traffic to the VPC's Amazon DNS server (Route 53 Resolver).
TCP_EGRESS = {
    "IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "CidrIp": "0.0.0.0/0",
    "Description": "TCP only: no UDP out (DNS to the VPC resolver is not filtered by security groups)",
}  # fmt: skip


def group(service: str) -> str:
    """The logical id of a service's security group."""
    return f"{logical(service)}SecurityGroup"


def render(t: Template) -> None:
    stack = t.stack
    name = prefix(stack)
    t.parameters[PREFIX_LIST_PARAMETER] = {
        "Type": "String",
        "AllowedPattern": "^pl-[0-9a-f]+$",
        "Description": f"The region's managed prefix list {PREFIX_LIST_NAME} (infra-plan/apply look it up)",
    }
    t.add("Vpc", "AWS::EC2::VPC", {
        "CidrBlock": "10.0.0.0/16",
        "EnableDnsSupport": True,  # Cloud Map's private DNS needs both
        "EnableDnsHostnames": True,
        "Tags": [{"Key": "Name", "Value": name}],
    })  # fmt: skip
    t.add("InternetGateway", "AWS::EC2::InternetGateway", {"Tags": [{"Key": "Name", "Value": name}]})
    t.add(
        "GatewayAttachment",
        "AWS::EC2::VPCGatewayAttachment",
        {"VpcId": ref("Vpc"), "InternetGatewayId": ref("InternetGateway")},
    )
    t.add(
        "PublicRouteTable",
        "AWS::EC2::RouteTable",
        {"VpcId": ref("Vpc"), "Tags": [{"Key": "Name", "Value": f"{name}-public"}]},
    )
    t.add("DefaultRoute", "AWS::EC2::Route", {
        "RouteTableId": ref("PublicRouteTable"), "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": ref("InternetGateway"),
    }, DependsOn="GatewayAttachment")  # fmt: skip
    for i, zone in enumerate("AB"):
        subnet = f"PublicSubnet{zone}"
        t.add(subnet, "AWS::EC2::Subnet", {
            "VpcId": ref("Vpc"),
            "CidrBlock": f"10.0.{i + 1}.0/24",
            "AvailabilityZone": {"Fn::Select": [i, {"Fn::GetAZs": ""}]},
            "MapPublicIpOnLaunch": False,  # ECS assigns task IPs itself (assignPublicIp)
            "Tags": [{"Key": "Name", "Value": f"{name}-public-{zone.lower()}"}],
        })  # fmt: skip
        t.add(
            f"{subnet}Routes",
            "AWS::EC2::SubnetRouteTableAssociation",
            {"SubnetId": ref(subnet), "RouteTableId": ref("PublicRouteTable")},
        )

    _security_groups(t)
    _discovery(t)


def subnets() -> list[dict]:
    return [ref("PublicSubnetA"), ref("PublicSubnetB")]


def _security_groups(t: Template) -> None:
    stack = t.stack
    has_cert = uses_tls(stack)
    if stack.public_services():
        ingress = [
            {
                "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                "SourcePrefixListId": ref(PREFIX_LIST_PARAMETER),
                "Description": f"CloudFront origin-facing servers, port {port}",
            }
            # CloudFront reaches the origin over HTTPS only (https-only): no port 80 rule. A prefix list
            # counts as its max entries (55) against the group's 60 rules: two would not fit (parity.limits).
            for port in ([443] if has_cert else [80])
        ]  # fmt: skip
        t.add("AlbSecurityGroup", "AWS::EC2::SecurityGroup", {
            "GroupDescription": f"{prefix(stack)} ALB: only the CloudFront origin-facing servers",
            "VpcId": ref("Vpc"),
            "SecurityGroupIngress": ingress,
        })  # fmt: skip
    for service, svc in stack.services.items():
        t.add(group(service), "AWS::EC2::SecurityGroup", {
            "GroupDescription": f"{prefix(stack)} {service} tasks ({svc.exposure})",
            "VpcId": ref("Vpc"),
            **({"SecurityGroupEgress": [TCP_EGRESS]} if svc.egress == "tcp" else {}),
        })  # fmt: skip
    for service, svc in stack.services.items():
        sources = [("Alb", "AlbSecurityGroup", "the ALB")] if svc.exposure == "public" else []
        sources += [(logical(peer), group(peer), peer) for peer in svc.ingress_from]
        for source_id, source_group, who in sources:
            t.add(f"{logical(service)}From{source_id}", "AWS::EC2::SecurityGroupIngress", {
                "GroupId": att(group(service), "GroupId"),
                "SourceSecurityGroupId": att(source_group, "GroupId"),
                "IpProtocol": "tcp", "FromPort": svc.port, "ToPort": svc.port,
                "Description": f"{who} -> {service} on {svc.port}",
            })  # fmt: skip


def namespace(discovery: str) -> tuple[str, str]:
    """``crawler.internal`` -> (``crawler``, ``internal``)."""
    name, _, space = discovery.partition(".")
    return name, space or "internal"


def discovery_service(service: str) -> str:
    return f"{logical(service)}Discovery"


def _discovery(t: Template) -> None:
    spaces: dict[str, str] = {}
    for service, svc in t.stack.services.items():
        if not svc.discovery:
            continue
        name, space = namespace(svc.discovery)
        if space not in spaces:
            spaces[space] = t.add(f"{logical(space)}Namespace", "AWS::ServiceDiscovery::PrivateDnsNamespace", {
                "Name": space, "Vpc": ref("Vpc"), "Description": f"{prefix(t.stack)} service discovery",
            })  # fmt: skip
        t.add(discovery_service(service), "AWS::ServiceDiscovery::Service", {
            "Name": name,
            "NamespaceId": att(spaces[space], "Id"),
            "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 10}], "RoutingPolicy": "MULTIVALUE"},
            "HealthCheckCustomConfig": {"FailureThreshold": 1},
        })  # fmt: skip
