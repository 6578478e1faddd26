"""The stack spec: one declarative description of both services, the edge and
the local dependencies. Everything local (compose, nginx) and everything for
AWS (task definitions) is rendered from a validated ``Stack``.

Models are strict (``extra="forbid"``) so a typo is an error, not a silently
ignored key. Cross-field rules live in ``Stack``'s validator and raise with the
key path they concern.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from parity.limits import FARGATE_SIZES, high, limit, low
from parity.spec import managed_rules

NAME = r"^[a-z][a-z0-9-]*[a-z0-9]$"

# WAF rate-based rules: the evaluation windows it offers and its lowest limit (parity.limits).
WAF_WINDOWS = limit("waf.rate_windows")
WAF_MIN_LIMIT = low("waf.rate_limit")


def _offered(sizes: tuple[int, ...]) -> str:
    """``512, 1024, 2048`` or ``2048-8192 in steps of 1024``."""
    steps = {b - a for a, b in zip(sizes, sizes[1:], strict=False)}
    if len(sizes) > 3 and len(steps) == 1:
        return f"{sizes[0]}-{sizes[-1]} in steps of {steps.pop()}"
    return ", ".join(map(str, sizes))


# What makes a value look like a credential: known key prefixes, or a long
# run of base64/hex-ish characters.
_SECRET_VALUE = re.compile(r"^(sk-|sk_|pk_|ghp_|gho_|xox[bp]-|AKIA|ASIA|eyJ)|[A-Za-z0-9+/_=-]{32,}")
# What makes an environment variable's NAME look like a secret: the one
# definition (the spec refuses such a plain value; the diff masks its value).
SECRET_NAME = re.compile(
    r"(_|^)(KEY|TOKEN)(_|$)|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|CREDENTIAL|ACCESS_KEY|API_KEY|SERVICE_KEY"
    r"|(_|^)(DATABASE_URL|MONGODB_URI|DSN)$"
)


def looks_secret(name: str) -> bool:
    """True for ``*_KEY``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``, ``DATABASE_URL``..."""
    return bool(SECRET_NAME.search(name.upper()))


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Build(Model):
    """How the service's image is built. Point ``context`` at the real HuskIT
    repository to drop it in."""

    context: str
    dockerfile: str = "Dockerfile"
    target: str | None = None
    base_image: str | None = Field(
        default=None, description="Upstream base, passed as the BASE_IMAGE build arg; offline mode swaps in a stand-in."
    )


class HealthCheck(Model):
    """A container health check, the same in compose and in the task definition."""

    command: str = Field(description="Shell command run inside the container (CMD-SHELL).")
    # ECS's bounds (parity.limits); the ALB's target group takes interval, timeout and retries too
    interval: int = Field(30, ge=low("ecs.health.interval"), le=high("ecs.health.interval"))
    timeout: int = Field(5, ge=low("ecs.health.timeout"), le=high("ecs.health.timeout"))
    retries: int = Field(3, ge=low("ecs.health.retries"), le=high("ecs.health.retries"))
    start_period: int = Field(0, ge=low("ecs.health.start_period"), le=high("ecs.health.start_period"))
    path: str | None = Field(
        default=None, description="The HTTP path the load balancer checks (public services), e.g. /healthz."
    )


class SecretRef(Model):
    """A secret injected as an env var: the whole secret, or one JSON key of it."""

    secret: str
    key: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        # The spec's short form: "crawler:MONGODB_URI" (JSON key) or "crawler" (whole secret).
        if isinstance(value, str):
            name, _, key = value.partition(":")
            return {"secret": name, "key": key or None}
        return value


def _tenths(value: float) -> float:
    if round(value * 10) != value * 10:
        raise ValueError(f"a multiple of 0.1 (what ECS accepts), not {value}")
    return value


class Canary(Model):
    """ECS's canaryConfiguration: a share of production traffic first, then the rest."""

    percent: float = Field(5.0, ge=0.1, le=100.0, description="Production traffic shifted first (canaryPercent).")
    bake_minutes: int = Field(
        10, ge=0, le=1440, description="Minutes before the rest shifts (canaryBakeTimeInMinutes)."
    )

    @field_validator("percent")
    @classmethod
    def _step(cls, value: float) -> float:
        return _tenths(value)


class Linear(Model):
    """ECS's linearConfiguration: production traffic shifted in equal steps."""

    step_percent: float = Field(10.0, ge=3.0, le=100.0, description="Traffic shifted per step (stepPercent).")
    step_bake_minutes: int = Field(6, ge=0, le=1440, description="Minutes between steps (stepBakeTimeInMinutes).")

    @field_validator("step_percent")
    @classmethod
    def _step(cls, value: float) -> float:
        return _tenths(value)


class Deployment(Model):
    """How a new revision replaces the running one: ECS's
    ``DeploymentConfiguration.strategy``, and the same locally. Every strategy
    but ``rolling`` starts the new revision beside the old one, sends it the
    test traffic (``edge.test_traffic``) and pauses at POST_TEST_TRAFFIC_SHIFT
    while the e2e suite runs against it; production traffic moves only when
    that passes (all at once, by a canary share, or in linear steps)."""

    strategy: Literal["rolling", "blue_green", "canary", "linear"] = "rolling"
    bake_minutes: int = Field(
        0, ge=0, le=1440,
        description="Minutes both revisions keep running after production traffic has shifted (bakeTimeInMinutes).",
    )  # fmt: skip
    canary: Canary | None = Field(default=None, description="strategy canary only.")
    linear: Linear | None = Field(default=None, description="strategy linear only.")
    test_timeout_minutes: int = Field(
        30, ge=1, le=1440, description="How long the pause for the e2e gate may last; then ECS rolls back."
    )
    alarms: list[str] = Field(
        default_factory=list, description="CloudWatch alarms that roll a deployment back (DeploymentAlarms)."
    )

    @model_validator(mode="before")
    @classmethod
    def _settings(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        strategy = value.get("strategy", "rolling")
        for kind in ("canary", "linear"):
            if value.get(kind) is not None and strategy != kind:
                raise ValueError(f"{kind}: only with strategy {kind} (not {strategy})")
        if strategy in ("canary", "linear") and value.get(strategy) is None:
            value = {**value, strategy: {}}  # ECS's defaults
        return value

    @property
    def gated(self) -> bool:
        """A strategy with a test-traffic stage (every one but rolling)."""
        return self.strategy != "rolling"


class Service(Model):
    build: Build
    port: int = Field(ge=1, le=65535)
    exposure: Literal["public", "internal"]
    discovery: str | None = Field(default=None, description="Cloud Map name, e.g. crawler.internal.")
    ingress_from: list[str] = Field(default_factory=list, description="Services allowed to call this one.")
    egress: Literal["all", "tcp"] = Field(
        "all",
        description="What the service's security group lets out: 'tcp' drops UDP (DNS to the VPC resolver is never "
        "filtered by security groups), e.g. for a service that renders hostile pages.",
    )
    cpu: int
    memory: int
    cpu_architecture: Literal["X86_64", "ARM64"] = Field(
        "X86_64", description="Fargate's runtimePlatform; promote refuses an image built for another one."
    )
    deregistration_delay: int = Field(
        300,
        ge=low("tg.deregistration_delay"),
        le=high("tg.deregistration_delay"),
        description="Seconds a replaced task keeps draining (the ALB target group's delay).",
    )
    desired_count: int = Field(1, ge=0, le=20)
    ephemeral_storage: int | None = Field(
        default=None, ge=low("fargate.ephemeral_storage"), le=high("fargate.ephemeral_storage")
    )
    static_dir: str | None = Field(
        default=None, description="Where the image keeps its built client; synced to the edge bucket."
    )
    health: HealthCheck
    environment: dict[str, str] = Field(default_factory=dict)
    not_secret: list[str] = Field(
        default_factory=list,
        description="Names under environment that look like secrets but are not (a public key, a token count).",
    )
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    deployment: Deployment = Field(default_factory=Deployment)

    @field_validator("environment", mode="before")
    @classmethod
    def _stringify_env(cls, value: object) -> object:
        # YAML turns `PORT: 5171` into an int; env values are strings everywhere.
        if isinstance(value, dict):
            return {k: v if isinstance(v, str) or v is None else _yaml_scalar(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _check(self) -> Service:
        sizes = FARGATE_SIZES.get(self.cpu)
        if sizes is None:
            raise ValueError(f"cpu: {self.cpu} is not a Fargate size ({', '.join(map(str, FARGATE_SIZES))})")
        if self.memory not in sizes:
            raise ValueError(
                f"memory: {self.memory} MiB is not valid with cpu {self.cpu} (Fargate allows {_offered(sizes)})"
            )
        if self.exposure == "public" and not self.health.path:
            raise ValueError(
                "health.path: a public service needs the HTTP path its load balancer checks (e.g. /healthz)"
            )
        if self.exposure == "internal" and not self.discovery:
            raise ValueError("discovery: an internal service needs a service-discovery name (e.g. crawler.internal)")
        for name in self.environment:
            if name in self.secrets:
                raise ValueError(f"environment.{name}: also declared under secrets")
        if self.deployment.gated and self.exposure != "public":
            raise ValueError(
                f"deployment.strategy: {self.deployment.strategy} needs a load balancer's target groups "
                "(a public service); an internal one deploys rolling"
            )
        return self


class Route(Model):
    """A CloudFront behaviour: a path prefix, its origin and its caching."""

    path: str
    origin: str = Field(description="'s3' or the name of a public service (through the ALB).")
    cache: Literal["immutable", "static", "none"] = "none"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or not value.endswith("/"):
            raise ValueError("a route path is a prefix that starts and ends with '/'")
        return value


class RateLimit(Model):
    """A WAF rate-based rule: at most ``limit`` requests per ``window`` seconds per client IP."""

    path: str
    limit: int = Field(ge=WAF_MIN_LIMIT, description=f"At least {WAF_MIN_LIMIT}, WAF's lowest limit.")
    window: int = Field(300, description=f"Seconds: one of WAF's windows {WAF_WINDOWS}.")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or not value.endswith("/"):
            raise ValueError(f"{value!r} is not a path prefix: it must start and end with '/' (e.g. /api/auth/)")
        if value != value.lower():
            # WAF lowercases the request path before STARTS_WITH: a capital in the prefix never matches.
            raise ValueError(f"{value!r} has capitals: WAF compares the lowercased path, so it would never match")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: int) -> int:
        if value not in WAF_WINDOWS:
            raise ValueError(f"{value} s is not a WAF window (one of {', '.join(map(str, WAF_WINDOWS))})")
        return value


class RuleOverride(Model):
    """A managed rule set to Count on named paths (a label-match rule blocks it
    everywhere else): AWS's RuleActionOverrides plus a scope-down rule."""

    rule: str = Field(description="The rule's name in its group, e.g. SizeRestrictions_BODY.")
    action: Literal["count"] = "count"
    paths: list[str] = Field(
        min_length=1, description="Exact request paths (as sent, case-sensitive) where it only counts."
    )
    reason: str = Field(min_length=1, description="Why these paths may carry what the rule blocks.")

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", path):
                raise ValueError(f"{path!r} is not an exact path (/ then letters, digits, . _ ~ - /; no patterns)")
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say why these paths may carry what the rule blocks")
        return value


class ManagedRuleGroup(Model):
    """An AWS managed rule group in the web ACL (Block, as AWS ships it), with overrides."""

    group: Literal["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
    overrides: list[RuleOverride] = Field(default_factory=list)


class SecretHeader(Model):
    """A header whose value lives in Secrets Manager (``secret``: a JSON key)."""

    header: str = Field(pattern=r"^[A-Za-z0-9-]{1,40}$")
    secret: SecretRef = Field(description="Its value: '<secret>:<JSON key>' under secret_prefix.")

    @field_validator("secret")
    @classmethod
    def _keyed(cls, value: SecretRef) -> SecretRef:
        if value.key is None:
            raise ValueError("name the JSON key that holds the value ('<secret>:<key>')")
        return value


class TestTraffic(SecretHeader):
    """How a request asks for the new revision during a gated deployment: this
    header with the secret's value. It passes CloudFront and the WAF like any
    request; the ALB's test listener rule (locally the edge) sends it to the
    new revision's target group, and only there."""

    __test__ = False  # not a pytest class
    header: str = Field("X-Test-Traffic", pattern=r"^[A-Za-z0-9-]{1,40}$")


class OriginLock(Model):
    """How the ALB knows a request came through CloudFront (and its WAF): a
    header CloudFront adds as an origin custom header and the ALB's listener
    rules require; its value lives in Secrets Manager (``secret``: a JSON key)."""

    header: str = Field("X-Origin-Verify", pattern=r"^[A-Za-z0-9-]{1,40}$")
    secret: SecretRef = Field(description="Its value: '<secret>:<JSON key>' under secret_prefix.")

    @field_validator("secret")
    @classmethod
    def _keyed(cls, value: SecretRef) -> SecretRef:
        if value.key is None:
            raise ValueError("name the JSON key that holds the value ('<secret>:<key>')")
        return value


# Security headers CloudFront's response headers policy sets itself (SecurityHeadersConfig);
# any other name is a custom header. Each value is checked against what that policy accepts.
REFERRER_POLICIES = (
    "no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin", "same-origin",
    "strict-origin", "strict-origin-when-cross-origin", "unsafe-url",
)  # fmt: skip
HSTS = re.compile(r"^max-age=(\d+)(; includeSubDomains)?(; preload)?$")
APP_OWNED_HEADERS = ("cross-origin-opener-policy",)  # the app sets it per page (the preview is not isolated)


def check_response_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        low = name.lower()
        if not re.fullmatch(r"[A-Za-z0-9-]+", name):
            raise ValueError(f"{name!r} is not a header name")
        if low == "strict-transport-security" and not HSTS.match(value):
            raise ValueError(f"{name}: {value!r} is not 'max-age=N[; includeSubDomains][; preload]'")
        if low == "x-frame-options" and value not in ("DENY", "SAMEORIGIN"):
            raise ValueError(f"{name}: DENY or SAMEORIGIN (what CloudFront's policy offers)")
        if low == "referrer-policy" and value not in REFERRER_POLICIES:
            raise ValueError(f"{name}: one of {', '.join(REFERRER_POLICIES)}")
        if low == "x-content-type-options" and value != "nosniff":
            raise ValueError(f"{name}: only nosniff")
        if low in APP_OWNED_HEADERS:
            raise ValueError(f"{name}: the app sets it per page (its preview path goes without): not an edge header")
    return headers


class Edge(Model):
    """CloudFront + ALB in front of the public services."""

    port: int = Field(8080, ge=1, le=65535, description="Host port the local edge publishes on 127.0.0.1.")
    idle_timeout: int = Field(
        300, ge=low("alb.idle_timeout"), le=high("alb.idle_timeout"), description="The ALB's idle timeout, seconds."
    )
    origin_response_timeout: int = Field(
        30,
        ge=1,
        le=limit("cloudfront.origin_response_timeout_max"),
        description="CloudFront's origin response timeout, seconds: the longest wait for the first byte and between bytes. "
        "Over 60 needs a raised CloudFront quota (infra-render and infra-plan say so).",
    )
    allow_list: list[str] = Field(
        default_factory=list,
        description="Client CIDRs the WAF rate-based rules never count (a WAF IP-set allow rule); locally, the test clients.",
    )
    bucket: str = Field(description="The S3 bucket behind the s3 origin.")
    routes: list[Route]
    rate_limits: list[RateLimit] = Field(default_factory=list)
    managed_rules: list[ManagedRuleGroup] = Field(
        default_factory=list, description="AWS managed rule groups of the web ACL, in order, before the rate rules."
    )
    origin_lock: OriginLock | None = Field(
        default=None, description="The secret header that locks the ALB to CloudFront."
    )
    test_traffic: TestTraffic | None = Field(
        default=None, description="The secret header that sends a request to a gated deployment's new revision."
    )
    response_headers: dict[str, str] = Field(
        default_factory=dict,
        description="Added to every response (CloudFront's response headers policy), overriding the origin's.",
    )
    static_response_headers: dict[str, str] = Field(
        default_factory=dict,
        description="Added to the s3 behaviours' responses too: what the bucket cannot send itself.",
    )

    @field_validator("response_headers", "static_response_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_response_headers(value)

    @model_validator(mode="after")
    def _managed(self) -> Edge:
        seen = set()
        for i, group in enumerate(self.managed_rules):
            if group.group in seen:
                raise SpecPathError(f"managed_rules.{i}.group", f"{group.group} is listed twice")
            seen.add(group.group)
            named = set()
            for j, override in enumerate(group.overrides):
                where = f"managed_rules.{i}.overrides.{j}.rule"
                if managed_rules.rule(group.group, override.rule) is None:
                    known = ", ".join(r.name for r in managed_rules.rules_of(group.group))
                    raise SpecPathError(where, f"{group.group} has no rule {override.rule!r} (its rules: {known})")
                if override.rule in named:
                    raise SpecPathError(where, f"{override.rule} is overridden twice: list all its paths in one entry")
                named.add(override.rule)
        return self

    @field_validator("allow_list")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a CIDR ({exc})") from None
        return value


class Dependency(Model):
    """Something the services use that is not an ECS service: locally it runs as
    a container standing for the external system (Supabase, Atlas, AWS...)."""

    kind: Literal["postgres", "mongo", "static-site", "localstack", "moto", "registry"]
    stands_for: str
    used_by: list[str] = Field(default_factory=list)
    publish: int | None = Field(default=None, ge=1, le=65535, description="Host port on 127.0.0.1, for local tools.")
    source: str | None = Field(default=None, description="static-site: the folder it serves.")
    environment: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)


class Local(Model):
    """Only for the local stack."""

    dependencies: dict[str, Dependency]
    images: dict[str, str] = Field(description="Upstream images by stand-in name (ci/images/<name>).")
    seed: str = Field("localstack/secrets.json", description="Local development values seeded into LocalStack.")
    localstack_with_token: str = Field(
        "localstack/localstack:latest",
        description="Used instead of the pinned images.localstack when LOCALSTACK_AUTH_TOKEN is set.",
    )
    allow_listed_clients: str | None = Field(
        default=None,
        description=(
            "Addresses (a CIDR on edge.allow_list) of a Docker network the edge joins, for test and load clients"
            " that run as containers on it; the network's gateway (the host) stays outside the range."
        ),
    )

    @field_validator("allow_listed_clients")
    @classmethod
    def _clients_cidr(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR ({exc})") from None
        if net.version != 4 or not net.is_private or net.prefixlen < 16 or net.prefixlen > 28:
            raise ValueError(f"{value} must be a private IPv4 range from /16 to /28 (a Docker network's containers)")
        return value


class Aws(Model):
    """What the deploy layer needs; an environment overlay fills in the rest."""

    ecr_prefix: str = Field("huskit", description="ECR repositories are <ecr_prefix>/<service>.")
    name_prefix: str | None = Field(
        default=None,
        description="Task definition families and log groups are <name_prefix>-<service> (default: the project).",
    )
    execution_role: str = "huskit-ecs-execution-role"
    task_role: str = "huskit-ecs-task-role"
    log_retention_days: int = 30
    url: str | None = Field(default=None, description="The environment's public URL, for smoke tests.")
    registry: str | None = Field(default=None, description="Override the ECR registry host (local: a local registry).")
    endpoint_url: str | None = Field(default=None, description="Override the AWS endpoint (local: the emulator).")
    distribution_id: str | None = None
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Override the endpoint for the static bucket only (local: LocalStack, which the edge reads).",
    )
    bootstrap: bool = Field(
        False, description="promote applies the environment's template first (`inv infra-apply`). Only for an emulator."
    )
    rollout_timeout: int = Field(900, ge=1, le=7200, description="Seconds to wait for one service's rollout.")
    e2e_max_age_days: int = Field(
        7, ge=1, le=90, description="Days an e2e pass stays valid for promote (the whole set of images, one run)."
    )
    execute_command: bool = Field(
        False,
        description="ECS Exec (`inv exec --env`): the services' enableExecuteCommand, the task role's Session Manager "
        "permissions, the cluster's exec logging and the containers' init process. Off unless the overlay turns it on.",
    )

    @model_validator(mode="after")
    def _bootstrap_only_emulated(self) -> Aws:
        if self.bootstrap and not self.endpoint_url:
            raise ValueError(
                "bootstrap: only an emulator (aws.endpoint_url) may be bootstrapped by promote; a real account is set up by `inv infra-apply`"
            )
        return self


class ServiceScaling(Model):
    """Autoscaling and alarms of one service (plan 10). The floor is the
    service's ``desired_count``; autoscaling owns the count between the two."""

    max_count: int = Field(ge=1, le=100, description="Autoscaling's ceiling.")
    cpu_target: int = Field(70, ge=10, le=95, description="Target-tracking average CPU, percent.")
    scale_in_cooldown: int = Field(300, ge=0, le=3600)
    scale_out_cooldown: int = Field(60, ge=0, le=3600)
    cpu_alarm: int | None = Field(None, ge=1, le=100, description="Alarm when average CPU exceeds this percent ...")
    cpu_alarm_minutes: int = Field(5, ge=1, le=60, description="... for this many minutes.")
    memory_alarm: int | None = Field(None, ge=1, le=100)
    memory_alarm_minutes: int = Field(5, ge=1, le=60)


class Alarms(Model):
    """The public services' alarms of plan 10 (ALB metrics); ``email`` receives every alarm."""

    target_5xx_per_minute: int = Field(10, ge=1)
    p95_latency_seconds: float = Field(2.0, gt=0)
    minutes: int = Field(5, ge=1, le=60, description="How long the 5xx and latency conditions must hold.")
    unhealthy_minutes: int = Field(2, ge=1, le=60, description="How long too few healthy tasks may last.")
    email: str | None = Field(None, description="Subscribed to the alarms' SNS topic (confirmed by mail, out of band).")


class Budget(Model):
    amount: int = Field(gt=0, description="USD per month.")
    email: str
    threshold: int = Field(80, ge=1, le=1000, description="Percent of the amount that triggers the mail.")


class Github(Model):
    """Who deploys this environment from CI: the repositories whose workflows reach AWS,
    trusted through GitHub's OIDC provider by the bootstrap stack's roles."""

    repositories: list[str] = Field(min_length=1, description="owner/name of the repositories whose workflows deploy.")
    environment: str | None = Field(
        None, description="The GitHub environment a job must run in (default: the env name)."
    )
    branch: str = Field("main", description="The branch the workflows that reach AWS run from (the plan job's claim).")
    owns_oidc_provider: bool = Field(
        True, description="Create the account's GitHub OIDC provider here (one per account: false in the other envs)."
    )

    @field_validator("repositories")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        for repo in value:
            if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", repo):
                raise ValueError(f"{repo!r} is not owner/name")
        return value


class Infra(Model):
    """What `inv infra-*` needs beyond the services: one CloudFormation stack per environment."""

    stack_name: str | None = Field(None, description="Default: <project>-<env>.")
    certificate_arn: str | None = Field(
        None, description="The ALB's ACM certificate (regional); required for a real account (not an emulator)."
    )
    origin_domain: str | None = Field(
        None,
        description="The certificate's name, a DNS record for the ALB: CloudFront reaches the ALB over HTTPS by it. "
        "Required with certificate_arn.",
    )
    owns_repositories: bool = Field(
        True,
        description="Create the ECR repositories here; environments sharing another's images reference them by name.",
    )
    # The plan's public name (plan 2: Route 53 -> CloudFront): optional; without it the environment
    # is served on the distribution's *.cloudfront.net name.
    domain: str | None = Field(
        None,
        description="The public name CloudFront serves (an alias), e.g. app.huskit.com. Needs cloudfront_certificate_arn.",
    )
    cloudfront_certificate_arn: str | None = Field(
        None,
        description="An ACM certificate in us-east-1 covering domain (CloudFront takes certificates from there only).",
    )
    hosted_zone_id: str | None = Field(
        None,
        description="The Route 53 public hosted zone holding domain: the template creates its A and AAAA alias records.",
    )
    scaling: dict[str, ServiceScaling] = Field(default_factory=dict)
    alarms: Alarms = Alarms()
    budget: Budget | None = None
    github: Github | None = None
    accepted_findings: dict[str, str] = Field(
        default_factory=dict,
        description="checkov check id -> why this environment accepts it (the scan skips only these).",
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", value
        ):
            raise ValueError(f"{value!r} is not a DNS name in lower case (e.g. app.huskit.com)")
        return value

    @field_validator("cloudfront_certificate_arn")
    @classmethod
    def _cloudfront_certificate(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]+", value):
            raise ValueError(
                f"{value!r} is not an ACM certificate ARN in us-east-1 (CloudFront takes certificates from there only)"
            )
        return value

    @field_validator("hosted_zone_id")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"Z[A-Z0-9]{1,31}", value):
            raise ValueError(f"{value!r} is not a Route 53 hosted zone id (Z...)")
        return value

    @model_validator(mode="after")
    def _alias(self) -> Infra:
        if self.domain and not self.cloudfront_certificate_arn:
            raise ValueError(
                "cloudfront_certificate_arn: required with infra.domain (CloudFront serves an alias only with a us-east-1 certificate for it)"
            )
        if self.cloudfront_certificate_arn and not self.domain:
            raise ValueError("domain: required with infra.cloudfront_certificate_arn (the name the certificate is for)")
        if self.hosted_zone_id and not self.domain:
            raise ValueError("domain: required with infra.hosted_zone_id (the record the zone gets)")
        return self

    @field_validator("accepted_findings")
    @classmethod
    def _findings(cls, value: dict[str, str]) -> dict[str, str]:
        for check, reason in value.items():
            if not re.match(r"^CKV2?_[A-Z0-9]+_\d+$", check):
                raise ValueError(f"{check!r} is not a checkov check id (e.g. CKV_AWS_91)")
            if not str(reason).strip():
                raise ValueError(f"{check}: say why it is accepted")
        return value


class Stack(Model):
    """The whole stack. ``env`` names the overlay merged in (local, staging, prod)."""

    project: str = Field(pattern=NAME)
    env: str = "local"
    region: str
    cluster: str
    secret_prefix: str
    services: dict[str, Service]
    edge: Edge
    local: Local
    aws: Aws = Aws()
    infra: Infra = Infra()

    @field_validator("services")
    @classmethod
    def _names(cls, value: dict[str, Service]) -> dict[str, Service]:
        for name in value:
            if not re.match(NAME, name):
                raise ValueError(f"{name!r} is not a valid service name (lowercase letters, digits, '-')")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Stack:
        _check_stack(self)
        return self

    # -- derived views, used by every renderer -------------------------------------

    def secret_name(self, ref: SecretRef) -> str:
        """The Secrets Manager name a reference points to (``huskit/prod/crawler``)."""
        return ref.secret if "/" in ref.secret else f"{self.secret_prefix}/{ref.secret}"

    def public_services(self) -> list[str]:
        return [n for n, s in self.services.items() if s.exposure == "public"]

    def internal_services(self) -> list[str]:
        return [n for n, s in self.services.items() if s.exposure == "internal"]


class SpecPathError(ValueError):
    """A cross-field rule broken at a key path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


def _check_stack(stack: Stack) -> None:
    names = set(stack.services)
    for i, route in enumerate(stack.edge.routes):
        where = f"edge.routes.{i}.origin"
        if route.origin == "s3":
            continue
        if route.origin not in names:
            raise SpecPathError(where, f"route {route.path} goes to {route.origin!r}, which is not a service")
        if stack.services[route.origin].exposure != "public":
            raise SpecPathError(where, f"route {route.path} would expose internal service {route.origin!r}")
    gated = [n for n, svc in stack.services.items() if svc.deployment.gated]
    if gated and stack.edge.test_traffic is None:
        raise SpecPathError(
            f"services.{gated[0]}.deployment.strategy",
            f"{stack.services[gated[0]].deployment.strategy} sends the new revision test traffic: set edge.test_traffic "
            "(its header and secret)",
        )
    lock = stack.edge.origin_lock
    if (
        lock is not None
        and stack.edge.test_traffic is not None
        and lock.header.lower() == stack.edge.test_traffic.header.lower()
    ):
        raise SpecPathError("edge.test_traffic.header", f"{lock.header} is the origin lock's header")
    if gated:  # (issue 20: the renderers and promote's state machine are on their way, not here yet)
        raise SpecPathError(
            f"services.{gated[0]}.deployment.strategy",
            f"{stack.services[gated[0]].deployment.strategy} is not deployed by this version yet: only rolling "
            "(README, Deployment strategies)",
        )
    if stack.edge.routes and not any(r.path == "/" for r in stack.edge.routes):
        raise SpecPathError("edge.routes", "needs a default route for '/'")
    paths = [r.path for r in stack.edge.routes]
    if len(paths) != len(set(paths)):
        raise SpecPathError("edge.routes", "two routes have the same path")

    ports: dict[int, str] = {}
    for name, svc in stack.services.items():
        if svc.port in ports:
            raise SpecPathError(f"services.{name}.port", f"{svc.port} is already used by {ports[svc.port]}")
        ports[svc.port] = f"services.{name}"
        for peer in svc.ingress_from:
            if peer not in names:
                raise SpecPathError(f"services.{name}.ingress_from", f"{peer!r} is not a service")
        for var, value in svc.environment.items():
            if var.startswith("VITE_") and (looks_secret(var) or _SECRET_VALUE.search(value)):
                raise SpecPathError(
                    f"services.{name}.environment.{var}",
                    "VITE_* variables are bundled into the browser client and must not hold secrets",
                )
            if looks_secret(var) and var not in svc.not_secret:
                raise SpecPathError(
                    f"services.{name}.environment.{var}",
                    "the name looks like a secret, and a plain value is committed in the compose file and shown by "
                    f"`inv render` (hint: move it under services.{name}.secrets, or list it in "
                    f"services.{name}.not_secret if it is not one)",
                )
        for var in svc.not_secret:
            if var not in svc.environment:
                raise SpecPathError(f"services.{name}.not_secret", f"{var!r} is not under services.{name}.environment")
        for var in svc.secrets:
            if var.startswith("VITE_"):
                raise SpecPathError(
                    f"services.{name}.secrets.{var}",
                    "VITE_* variables are bundled into the browser client; a secret cannot be one",
                )

    published: dict[int, str] = {stack.edge.port: "edge.port"}
    for name, dep in stack.local.dependencies.items():
        for user in dep.used_by:
            if user not in names:
                raise SpecPathError(f"local.dependencies.{name}.used_by", f"{user!r} is not a service")
        if dep.publish is not None:
            if dep.publish in published:
                raise SpecPathError(
                    f"local.dependencies.{name}.publish",
                    f"{dep.publish} is already published by {published[dep.publish]}",
                )
            published[dep.publish] = f"local.dependencies.{name}.publish"
        if dep.kind == "localstack" and dep.publish is None:
            raise SpecPathError(
                f"local.dependencies.{name}.publish",
                "LocalStack must publish a port: the toolkit seeds it from the host",
            )
        if dep.kind == "static-site" and not dep.source:
            raise SpecPathError(f"local.dependencies.{name}.source", "a static-site needs the folder it serves")
    for name in stack.infra.scaling:
        if name not in names:
            raise SpecPathError(f"infra.scaling.{name}", "not a service")
        if stack.infra.scaling[name].max_count < stack.services[name].desired_count:
            raise SpecPathError(f"infra.scaling.{name}.max_count", f"below services.{name}.desired_count")
    if stack.infra.certificate_arn and not stack.infra.origin_domain:
        raise SpecPathError(
            "infra.origin_domain",
            "required with infra.certificate_arn: CloudFront reaches the ALB over HTTPS by that name",
        )
    _check_allow_list(stack)
    clash = names & set(stack.local.dependencies)
    if clash:
        raise SpecPathError("local.dependencies", f"{sorted(clash)[0]!r} is also a service")


def clients_network(cidr: str) -> tuple[str, str]:
    """(subnet, gateway) of the Docker network whose containers get addresses
    from ``cidr``: the subnet is one bit wider, and the gateway (the host's
    address on it) is its first address outside ``cidr``."""
    rng = ipaddress.ip_network(cidr)
    subnet = rng.supernet()
    gateway = next(h for h in subnet.hosts() if h not in rng)
    return str(subnet), str(gateway)


def _check_allow_list(stack: Stack) -> None:
    clients = stack.local.allow_listed_clients
    if clients is None:
        return
    allowed = [ipaddress.ip_network(c) for c in stack.edge.allow_list]
    rng = ipaddress.ip_network(clients)
    if not any(rng.subnet_of(a) for a in allowed if a.version == rng.version):
        raise SpecPathError(
            "local.allow_listed_clients", f"{clients} is not on edge.allow_list: its clients would be rate-limited"
        )
    _, gateway = clients_network(clients)
    for i, a in enumerate(allowed):
        if ipaddress.ip_address(gateway) in a:
            raise SpecPathError(
                f"edge.allow_list.{i}",
                f"{a} holds {gateway}, the host's address on the clients' network: every host process would be exempt",
            )


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
