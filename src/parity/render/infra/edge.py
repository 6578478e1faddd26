"""The edge of plan 6.6, 6.10, 7.4 and 9: the static bucket (private, read by
this distribution only, through origin access control), the ALB (the spec's
idle timeout, a target group per public service health-checked on its path,
HTTPS with the certificate and no plain HTTP listener: CloudFront's origin is
https-only), CloudFront (one behaviour per spec route, the spec's origin
response timeout, the response headers policy) and WAF (the spec's managed
rule groups with their overrides, the allow list, one rate-based rule per
``rate_limits`` entry answering 429, as the local edge does).

The origin lock (``edge.origin_lock``): CloudFront sends a secret header as an
origin custom header; the ALB's listener forwards only requests carrying the
current or the previous value (rules per route) and answers everything else
with a fixed 403 (its default action). The value lives in Secrets Manager
(created here with a generated value) and reaches the template only as a
dynamic reference; the ``OriginVerifyVersion`` and
``OriginVerifyPreviousVersion`` parameters (the secret's AWSCURRENT and
AWSPREVIOUS version ids, read by infra-plan/apply) change the reference
after a rotation, which is what makes CloudFormation resolve it again."""

from __future__ import annotations

import ipaddress
from typing import Any

from parity.limits import low
from parity.render.edge import public_host
from parity.render.infra.common import Template, att, logical, prefix, ref, sub, uses_tls
from parity.render.infra.network import subnets
from parity.render.waf import visibility as _visibility
from parity.render.waf import web_acl_rules

# AWS managed CloudFront policies (the same id in every account).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-4b0d-8e4f-39f31de1daf5"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
BLOCKED_STATUS = 429  # what the local edge answers too
ORIGIN_SECRET = "EdgeOriginSecret"
ORIGIN_VERSION = "OriginVerifyVersion"
ORIGIN_PREVIOUS_VERSION = "OriginVerifyPreviousVersion"
HAS_ORIGIN_VERSION = "HasOriginVerifyVersion"
HAS_ORIGIN_PREVIOUS = "HasOriginVerifyPrevious"
LOCKED_OUT = {"StatusCode": "403", "ContentType": "text/plain", "MessageBody": "Forbidden"}


def target_group(service: str) -> str:
    return f"{logical(service)}TargetGroup"


WAF_REGION = "us-east-1"  # a CLOUDFRONT-scoped web ACL can only be created there
WEB_ACL_PARAMETER = "WebAclArn"
# "false" while the ALB is created (a failed creation must be able to delete it), "true" once it exists
ALB_PROTECTION_PARAMETER = "AlbDeletionProtection"
# The hosted zone of every CloudFront distribution, for Route 53 alias records (AWS::Route53::RecordSet AliasTarget).
CLOUDFRONT_ZONE = "Z2FDTNDATAQYW2"


def needs_edge_stack(stack: Any) -> bool:
    """True when the web ACL cannot live in the environment's own stack: a
    CLOUDFRONT-scoped web ACL is created in us-east-1 only, so an environment
    elsewhere (eu-central-1) gets a companion stack ``<stack>-edge`` there.
    An emulator takes it inline (it models no WAF anyway)."""
    return stack.region != WAF_REGION and not stack.aws.endpoint_url


def render(t: Template) -> None:
    _bucket(t)
    if t.stack.public_services():
        _load_balancer(t)
    if needs_edge_stack(t.stack):
        t.parameters[WEB_ACL_PARAMETER] = {
            "Type": "String",
            "AllowedPattern": "^arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/.+$",
            "Description": "The web ACL of the companion stack <stack>-edge in us-east-1 (infra-plan/apply pass it)",
        }
    else:
        render_waf(t)
    _distribution(t)


def render_edge(t: Template) -> None:
    """The companion stack's content: the web ACL (and its IP sets), its ARN as an output."""
    render_waf(t)
    t.output("WebAclArn", att("WebAcl", "Arn"), "The CLOUDFRONT-scoped web ACL the environment's distribution uses")


def _bucket(t: Template) -> None:
    stack = t.stack
    t.add("StaticBucket", "AWS::S3::Bucket", {
        "BucketName": stack.edge.bucket,
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "VersioningConfiguration": {"Status": "Enabled"},  # an overwritten client file can be restored
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    }, DeletionPolicy="Retain", UpdateReplacePolicy="Retain")  # fmt: skip
    t.add("StaticOriginAccess", "AWS::CloudFront::OriginAccessControl", {
        "OriginAccessControlConfig": {
            "Name": f"{prefix(stack)}-static",
            "OriginAccessControlOriginType": "s3",
            "SigningBehavior": "always",
            "SigningProtocol": "sigv4",
        }
    })  # fmt: skip
    t.add("StaticBucketPolicy", "AWS::S3::BucketPolicy", {
        "Bucket": ref("StaticBucket"),
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ThisDistributionOnly",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": sub(f"arn:${{AWS::Partition}}:s3:::{stack.edge.bucket}/*"),
                    "Condition": {"StringEquals": {"AWS:SourceArn": sub("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}")}},
                },
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [sub(f"arn:${{AWS::Partition}}:s3:::{stack.edge.bucket}"), sub(f"arn:${{AWS::Partition}}:s3:::{stack.edge.bucket}/*")],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
    })  # fmt: skip
    t.output("BucketName", ref("StaticBucket"), "The static client's bucket")


def _default_public_service(t: Template) -> str:
    routes = {r.path: r.origin for r in t.stack.edge.routes}
    origin = routes.get("/")
    return origin if origin and origin != "s3" else t.stack.public_services()[0]


def _load_balancer(t: Template) -> None:
    stack = t.stack
    has_cert = uses_tls(stack)
    protection: Any = "false"  # an emulator's stack is reset at will
    if not t.emulated:
        t.parameters[ALB_PROTECTION_PARAMETER] = {
            "Type": "String",
            "AllowedValues": ["true", "false"],
            "Default": "false",
            "Description": "The ALB's deletion protection: infra-plan/apply pass true once the ALB exists (never while it is created)",
        }
        protection = ref(ALB_PROTECTION_PARAMETER)
    t.add("Alb", "AWS::ElasticLoadBalancingV2::LoadBalancer", {
        "Type": "application",
        "Scheme": "internet-facing",
        "Subnets": subnets(),
        "SecurityGroups": [att("AlbSecurityGroup", "GroupId")],
        "LoadBalancerAttributes": [
            {"Key": "idle_timeout.timeout_seconds", "Value": str(stack.edge.idle_timeout)},
            {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
            {"Key": "deletion_protection.enabled", "Value": protection},
        ],
    }, DependsOn="GatewayAttachment")  # fmt: skip
    for service in stack.public_services():
        svc = stack.services[service]
        h = svc.health
        t.add(target_group(service), "AWS::ElasticLoadBalancingV2::TargetGroup", {
            "VpcId": ref("Vpc"),
            "Protocol": "HTTP",
            "Port": svc.port,
            "TargetType": "ip",
            "HealthCheckPath": h.path or "/",
            "HealthCheckIntervalSeconds": max(h.interval, 5),
            "HealthCheckTimeoutSeconds": min(h.timeout, max(h.interval, 5) - 1),
            "HealthyThresholdCount": 2,
            # the container's retries may be 1 (ECS allows it); a target group needs at least 2: mapped, not refused
            "UnhealthyThresholdCount": max(h.retries, low("tg.unhealthy_threshold")),
            "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": str(svc.deregistration_delay)}],
        })  # fmt: skip
    default = _default_public_service(t)
    forward = [{"Type": "forward", "TargetGroupArn": ref(target_group(default))}]
    if stack.edge.origin_lock:  # only the routes' rules forward, and only with the secret header
        forward = [{"Type": "fixed-response", "FixedResponseConfig": LOCKED_OUT}]
    if has_cert:
        listener = t.add("HttpsListener", "AWS::ElasticLoadBalancingV2::Listener", {
            "LoadBalancerArn": ref("Alb"), "Protocol": "HTTPS", "Port": 443,
            "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "Certificates": [{"CertificateArn": ref("CertificateArn")}],
            "DefaultActions": forward,
        })  # fmt: skip
        # no listener on 80: only CloudFront reaches the ALB, over HTTPS (its security group admits 443 alone)
        t.parameters["CertificateArn"] = {
            "Type": "String",
            **({"Default": stack.infra.certificate_arn} if stack.infra.certificate_arn else {}),
            "AllowedPattern": "^arn:aws[a-z-]*:acm:.+",
            "Description": "The ALB's ACM certificate (infra.certificate_arn)",
        }
    else:  # an emulator has no certificate: the listener forwards plain HTTP
        listener = t.add("HttpListener", "AWS::ElasticLoadBalancingV2::Listener", {
            "LoadBalancerArn": ref("Alb"), "Protocol": "HTTP", "Port": 80, "DefaultActions": forward,
        })  # fmt: skip
    priority = 1
    locked = _origin_lock(t)
    for route in sorted(stack.edge.routes, key=lambda r: -len(r.path)):
        if route.origin == "s3" or (route.origin == default and not locked):
            continue
        t.add(f"{logical(route.origin)}Route{priority}", "AWS::ElasticLoadBalancingV2::ListenerRule", {
            "ListenerArn": ref(listener), "Priority": priority,
            "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"{route.path}*"]}}, *locked],
            "Actions": [{"Type": "forward", "TargetGroupArn": ref(target_group(route.origin))}],
        }, **({"DependsOn": ORIGIN_SECRET} if locked else {}))  # fmt: skip
        priority += 1
    t.output("AlbDnsName", att("Alb", "DNSName"), "The ALB (CloudFront's origin; only CloudFront may reach it)")


def origin_secret_value(stack: Any, parameter: str, condition: str) -> dict[str, Any]:
    """The origin lock's value as a dynamic reference: the version the parameter
    names, or AWSCURRENT while it is empty. The template never holds the value."""
    lock = stack.edge.origin_lock
    base = f"{{{{resolve:secretsmanager:{stack.secret_name(lock.secret)}:SecretString:{lock.secret.key}"
    return {"Fn::If": [condition, sub(base + f"::${{{parameter}}}}}}}"), base + "}}"]}


def _origin_lock(t: Template) -> list[dict[str, Any]]:
    """The secret, its version parameters, and the listener condition that
    requires its current or previous value ([] without an origin lock)."""
    stack = t.stack
    lock = stack.edge.origin_lock
    if lock is None:
        return []
    t.add(ORIGIN_SECRET, "AWS::SecretsManager::Secret", {
        "Name": stack.secret_name(lock.secret),
        "Description": f"{stack.project} {stack.env}: the header CloudFront sends and the ALB requires ({lock.header}); "
                       "rotate with put-secret-value, then infra-apply",
        "GenerateSecretString": {
            "SecretStringTemplate": "{}", "GenerateStringKey": lock.secret.key,
            "PasswordLength": 48, "ExcludePunctuation": True,
        },
    }, DeletionPolicy="Retain", UpdateReplacePolicy="Retain")  # fmt: skip
    for name, what in ((ORIGIN_VERSION, "AWSCURRENT"), (ORIGIN_PREVIOUS_VERSION, "AWSPREVIOUS")):
        t.parameters[name] = {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^[A-Za-z0-9-]{0,64}$",
            "Description": f"The origin lock secret's {what} version id (infra-plan/apply read it; empty: none yet)",
        }
    t.conditions[HAS_ORIGIN_VERSION] = {"Fn::Not": [{"Fn::Equals": [ref(ORIGIN_VERSION), ""]}]}
    t.conditions[HAS_ORIGIN_PREVIOUS] = {"Fn::Not": [{"Fn::Equals": [ref(ORIGIN_PREVIOUS_VERSION), ""]}]}
    current = origin_secret_value(stack, ORIGIN_VERSION, HAS_ORIGIN_VERSION)
    # only used under HAS_ORIGIN_PREVIOUS: the version is there
    previous = origin_secret_value(stack, ORIGIN_PREVIOUS_VERSION, HAS_ORIGIN_PREVIOUS)["Fn::If"][1]
    values = {"Fn::If": [HAS_ORIGIN_PREVIOUS, [current, previous], [current]]}
    return [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": lock.header, "Values": values}}]


# CloudFront's response headers policy: the security headers it sets itself, by name.
_SECURITY = {
    "content-security-policy": "ContentSecurityPolicy",
    "strict-transport-security": "StrictTransportSecurity",
    "x-frame-options": "FrameOptions",
    "referrer-policy": "ReferrerPolicy",
    "x-content-type-options": "ContentTypeOptions",
}


def response_headers_policy(name: str, headers: dict[str, str]) -> dict[str, Any]:
    """A ResponseHeadersPolicyConfig that sets ``headers`` (overriding the origin's)."""
    security: dict[str, Any] = {}
    custom = []
    for header, value in headers.items():
        kind = _SECURITY.get(header.lower())
        if kind == "ContentSecurityPolicy":
            security[kind] = {"ContentSecurityPolicy": value, "Override": True}
        elif kind == "StrictTransportSecurity":
            parts = [p.strip() for p in value.split(";")]
            security[kind] = {
                "AccessControlMaxAgeSec": int(parts[0].split("=", 1)[1]),
                "IncludeSubdomains": "includeSubDomains" in parts, "Preload": "preload" in parts, "Override": True,
            }  # fmt: skip
        elif kind == "FrameOptions":
            security[kind] = {"FrameOption": value, "Override": True}
        elif kind == "ReferrerPolicy":
            security[kind] = {"ReferrerPolicy": value, "Override": True}
        elif kind == "ContentTypeOptions":
            security[kind] = {"Override": True}
        else:
            custom.append({"Header": header, "Value": value, "Override": True})
    config: dict[str, Any] = {"Name": name, "Comment": "rendered from edge.response_headers"}
    if security:
        config["SecurityHeadersConfig"] = security
    if custom:
        config["CustomHeadersConfig"] = {"Items": custom}
    return config


def policy_headers(config: dict[str, Any]) -> dict[str, str]:
    """The headers a ResponseHeadersPolicyConfig sets, as the spec writes them (for parity)."""
    out: dict[str, str] = {}
    sec = config.get("SecurityHeadersConfig") or {}
    if "ContentSecurityPolicy" in sec:
        out["Content-Security-Policy"] = sec["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    if "StrictTransportSecurity" in sec:
        h = sec["StrictTransportSecurity"]
        out["Strict-Transport-Security"] = (
            f"max-age={h['AccessControlMaxAgeSec']}"
            + ("; includeSubDomains" if h.get("IncludeSubdomains") else "")
            + ("; preload" if h.get("Preload") else "")
        )
    if "FrameOptions" in sec:
        out["X-Frame-Options"] = sec["FrameOptions"]["FrameOption"]
    if "ReferrerPolicy" in sec:
        out["Referrer-Policy"] = sec["ReferrerPolicy"]["ReferrerPolicy"]
    if "ContentTypeOptions" in sec:
        out["X-Content-Type-Options"] = "nosniff"
    for item in (config.get("CustomHeadersConfig") or {}).get("Items") or []:
        out[item["Header"]] = item["Value"]
    return out


def _response_headers(t: Template) -> dict[str, str]:
    """Policies for the ALB and the s3 behaviours: behaviour kind -> logical id."""
    edge = t.stack.edge
    out = {}
    if edge.response_headers:
        out["alb"] = t.add("ResponseHeaders", "AWS::CloudFront::ResponseHeadersPolicy", {
            "ResponseHeadersPolicyConfig": response_headers_policy(f"{prefix(t.stack)}-headers", edge.response_headers),
        })  # fmt: skip
    static = {**edge.response_headers, **edge.static_response_headers}
    if static:
        out["s3"] = t.add("StaticResponseHeaders", "AWS::CloudFront::ResponseHeadersPolicy", {
            "ResponseHeadersPolicyConfig": response_headers_policy(f"{prefix(t.stack)}-static-headers", static),
        })  # fmt: skip
    return out


def _origin_headers(t: Template) -> list[dict[str, Any]]:
    """CloudFront's origin custom headers for the ALB: the origin lock and the public host."""
    stack = t.stack
    out = []
    if stack.edge.origin_lock:
        out.append({
            "HeaderName": stack.edge.origin_lock.header,
            "HeaderValue": origin_secret_value(stack, ORIGIN_VERSION, HAS_ORIGIN_VERSION),
        })  # fmt: skip
    host = public_host(stack, _default_public_service(t)) if stack.public_services() else None
    if host:
        out.append({"HeaderName": "X-Forwarded-Host", "HeaderValue": host})
    return out


def _rule_name(path: str) -> str:
    return "rate-" + (path.strip("/").replace("/", "-").lower() or "root")


def render_waf(t: Template) -> None:
    stack = t.stack
    name = f"{prefix(stack)}-edge"
    # the managed groups with their overrides and scope-down rules (render/waf.py)
    rules: list[dict[str, Any]] = web_acl_rules(stack)
    # The allow list skips the rate rules (not the managed groups, which come first).
    by_version: dict[int, list[str]] = {}
    for cidr in stack.edge.allow_list:
        by_version.setdefault(ipaddress.ip_network(cidr).version, []).append(cidr)
    allow = []
    for version, cidrs in sorted(by_version.items()):
        ipset = t.add(f"AllowListIPv{version}", "AWS::WAFv2::IPSet", {
            "Name": f"{name}-allow-v{version}", "Scope": "CLOUDFRONT", "IPAddressVersion": f"IPV{version}", "Addresses": cidrs,
            "Description": "Clients on the spec allow list - never counted by the rate rules",
        })  # fmt: skip
        allow.append({"IPSetReferenceStatement": {"Arn": att(ipset, "Arn")}})
    if allow:
        rules.append({
            "Name": "allow-list",
            "Priority": len(rules),
            "Action": {"Allow": {}},
            "Statement": allow[0] if len(allow) == 1 else {"OrStatement": {"Statements": allow}},
            "VisibilityConfig": _visibility("allow-list"),
        })  # fmt: skip
    for limit in stack.edge.rate_limits:
        rules.append({
            "Name": _rule_name(limit.path),
            "Priority": len(rules),
            "Action": {"Block": {"CustomResponse": {"ResponseCode": BLOCKED_STATUS}}},
            "Statement": {
                "RateBasedStatement": {
                    "Limit": limit.limit,
                    "EvaluationWindowSec": limit.window,
                    "AggregateKeyType": "IP",
                    "ScopeDownStatement": {
                        "ByteMatchStatement": {
                            # WAF lowercases the path first, so the prefix is compared in lower case (as locally)
                            "SearchString": limit.path.lower(),
                            "FieldToMatch": {"UriPath": {}},
                            "PositionalConstraint": "STARTS_WITH",
                            "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}],
                        }
                    },
                }
            },
            "VisibilityConfig": _visibility(_rule_name(limit.path)),
        })  # fmt: skip
    t.add("WebAcl", "AWS::WAFv2::WebACL", {
        "Name": name,
        "Scope": "CLOUDFRONT",
        "DefaultAction": {"Allow": {}},
        "Rules": rules,
        "VisibilityConfig": _visibility(name),
    })  # fmt: skip


def _after_listener_rules(t: Template) -> dict[str, Any]:
    """With an origin lock, CloudFront is updated after the ALB's rules: during a
    rotation the ALB accepts the new value before CloudFront sends it."""
    rules = sorted(n for n, r in t.resources.items() if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule")
    return {"DependsOn": rules} if t.stack.edge.origin_lock and rules else {}


def _distribution(t: Template) -> None:
    stack = t.stack
    has_cert = uses_tls(stack)
    origins: list[dict[str, Any]] = []
    if has_cert and stack.public_services():
        t.parameters["OriginDomain"] = {
            "Type": "String",
            **({"Default": stack.infra.origin_domain} if stack.infra.origin_domain else {}),
            "MinLength": 1,
            "Description": "The certificate's name, a DNS record for the ALB (infra.origin_domain)",
        }
    if any(r.origin == "s3" for r in stack.edge.routes):
        origins.append({
            "Id": "s3",
            "DomainName": att("StaticBucket", "RegionalDomainName"),
            "S3OriginConfig": {"OriginAccessIdentity": ""},
            "OriginAccessControlId": att("StaticOriginAccess", "Id"),
        })  # fmt: skip
    if stack.public_services():
        origins.append({
            "Id": "alb",
            "DomainName": ref("OriginDomain") if has_cert else att("Alb", "DNSName"),
            "CustomOriginConfig": {
                "OriginProtocolPolicy": "https-only" if has_cert else "http-only",
                "HTTPSPort": 443,
                "HTTPPort": 80,
                "OriginSSLProtocols": ["TLSv1.2"],
                "OriginReadTimeout": stack.edge.origin_response_timeout,
                "OriginKeepaliveTimeout": 5,
            },
            **({"OriginCustomHeaders": _origin_headers(t)} if _origin_headers(t) else {}),
        })  # fmt: skip
    policies = _response_headers(t)

    def behaviour(route: Any) -> dict[str, Any]:
        to_s3 = route.origin == "s3"
        out: dict[str, Any] = {
            "TargetOriginId": "s3" if to_s3 else "alb",
            "ViewerProtocolPolicy": "redirect-to-https",
            "Compress": True,
            "AllowedMethods": ["GET", "HEAD"] if to_s3 else ALL_METHODS,
            "CachedMethods": ["GET", "HEAD"],
            "CachePolicyId": CACHING_DISABLED if route.cache == "none" else CACHING_OPTIMIZED,
        }
        if not to_s3:
            out["OriginRequestPolicyId"] = ALL_VIEWER_EXCEPT_HOST
        if policies.get("s3" if to_s3 else "alb"):
            out["ResponseHeadersPolicyId"] = ref(policies["s3" if to_s3 else "alb"])
        return out

    # CloudFront takes the first behaviour that matches; the local edge the longest prefix: longest first.
    routes = sorted(stack.edge.routes, key=lambda r: -len(r.path))
    default = next(r for r in routes if r.path == "/")
    t.add("Distribution", "AWS::CloudFront::Distribution", {
        "DistributionConfig": {
            "Enabled": True,
            "Comment": f"{stack.project} {stack.env}",
            "HttpVersion": "http2and3",
            "IPV6Enabled": True,
            "PriceClass": "PriceClass_100",
            "Origins": origins,
            "DefaultCacheBehavior": behaviour(default),
            "CacheBehaviors": [{"PathPattern": f"{r.path}*", **behaviour(r)} for r in routes if r.path != "/"],
            "WebACLId": ref(WEB_ACL_PARAMETER) if needs_edge_stack(stack) else att("WebAcl", "Arn"),
            **_viewer(stack),
        }
    }, **_after_listener_rules(t))  # fmt: skip
    _records(t)
    if not t.emulated:  # an emulator without CloudFront (moto) cannot resolve them
        t.output(
            "DistributionId",
            ref("Distribution"),
            "The CloudFront distribution (promote invalidates it; aws.distribution_id overrides)",
        )
        t.output("DistributionDomainName", att("Distribution", "DomainName"), "The distribution's own name")
        url = f"https://{stack.infra.domain}" if stack.infra.domain else sub("https://${Distribution.DomainName}")
        t.output("Url", url, "The public URL (promote's smoke tests run against it; aws.url overrides)")


def _viewer(stack: Any) -> dict[str, Any]:
    """The viewer side: the spec's domain as an alias with its us-east-1 certificate
    (SNI, TLS 1.2 or later), or the distribution's own *.cloudfront.net name."""
    if not stack.infra.domain:
        return {"ViewerCertificate": {"CloudFrontDefaultCertificate": True}}
    return {
        "Aliases": [stack.infra.domain],
        "ViewerCertificate": {
            "AcmCertificateArn": stack.infra.cloudfront_certificate_arn,
            "SslSupportMethod": "sni-only",
            "MinimumProtocolVersion": "TLSv1.2_2021",
        },
    }


def _records(t: Template) -> None:
    """The domain's A and AAAA alias records to the distribution, where the spec names its hosted zone."""
    infra = t.stack.infra
    if not infra.hosted_zone_id:
        return
    for kind in ("A", "AAAA"):  # the distribution serves IPv6 too (IPV6Enabled)
        t.add(f"DomainRecord{kind}", "AWS::Route53::RecordSet", {
            "HostedZoneId": infra.hosted_zone_id,
            "Name": infra.domain,
            "Type": kind,
            "AliasTarget": {"DNSName": att("Distribution", "DomainName"), "HostedZoneId": CLOUDFRONT_ZONE},
        })  # fmt: skip
