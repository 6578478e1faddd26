"""What the operating verbs (`inv status|logs|exec --env`) ask AWS beyond ECS
and CloudFormation: CloudWatch Logs, the alarms, the ALB's target health, the
manifest of a pushed image, and AWS's Session Manager plugin that carries an
ECS Exec session. Thin: each call is boto3's (or the registry's, or the
plugin's), every failure one ParityError line; "not found" is an answer."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from parity.adapters.aws import AwsTarget, aws_call
from parity.errors import ParityError

# What a push of a single-platform image stores (Docker's and OCI's manifest types).
MANIFEST_TYPES = ["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"]


class LogGroups:
    """CloudWatch Logs: does a group exist, and its events in a time range."""

    def __init__(self, target: AwsTarget) -> None:
        self.logs = target.client("logs")

    def exists(self, name: str) -> bool:
        kwargs: dict[str, Any] = {"logGroupNamePrefix": name}
        while True:
            page = aws_call(f"look up log group {name}", self.logs.describe_log_groups, **kwargs)
            if any(g.get("logGroupName") == name for g in page.get("logGroups", [])):
                return True
            if not page.get("nextToken"):
                return False
            kwargs["nextToken"] = page["nextToken"]

    def events(self, group: str, start_ms: int, pattern: str | None = None) -> list[dict[str, Any]]:
        """Every event of ``group`` from ``start_ms`` on (all pages; the
        service answers empty pages while it searches), matching ``pattern``
        (a CloudWatch filter pattern) if given."""
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        if pattern:
            kwargs["filterPattern"] = pattern
        out: list[dict[str, Any]] = []
        while True:
            page = aws_call(f"read log group {group}", self.logs.filter_log_events, **kwargs)
            out += page.get("events", [])
            if not page.get("nextToken"):
                return out
            kwargs["nextToken"] = page["nextToken"]


class Alarms:
    """CloudWatch alarms, by name."""

    def __init__(self, target: AwsTarget) -> None:
        self.cw = target.client("cloudwatch")

    def firing(self, names: list[str]) -> list[dict[str, Any]]:
        """Those of ``names`` in state ALARM (metric and composite alarms)."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
            found = aws_call(
                "describe alarms", self.cw.describe_alarms,
                AlarmNames=names[i : i + 100], StateValue="ALARM", AlarmTypes=["MetricAlarm", "CompositeAlarm"],
            )  # fmt: skip
            out += found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
        return out


class TargetGroups:
    """The ALB's target groups: the health of each registered target."""

    def __init__(self, target: AwsTarget) -> None:
        self.elb = target.client("elbv2")

    def health(self, arn: str) -> list[dict[str, Any]]:
        return aws_call(
            f"describe target health of {arn.rsplit('/', 2)[-2]}", self.elb.describe_target_health, TargetGroupArn=arn
        ).get("TargetHealthDescriptions", [])


class Manifests:
    """The config digest of a pushed image (``REPO@sha256:...``): the local
    image ID that e2e's records name. From ECR, or from the plain registry
    the environment names (``aws.registry``: the local stand-in for ECR)."""

    def __init__(self, target: AwsTarget, registry: str | None = None) -> None:
        self.ecr = target.client("ecr")
        self.registry = registry

    def config_digest(self, image: str) -> str | None:
        repository, at, digest = image.partition("@")
        host, _, name = repository.partition("/")
        if not at or not name:
            return None  # a tag, not a digest: no record can name it
        if self.registry and host == self.registry:
            text = self._from_registry(host, name, digest)
        else:
            text = self._from_ecr(host.split(".", 1)[0], name, digest)
        if text is None:
            return None
        try:
            config = json.loads(text).get("config") or {}
        except ValueError:
            return None
        return config.get("digest")  # an index (several platforms) has none

    def _from_ecr(self, account: str, name: str, digest: str) -> str | None:
        found = aws_call(
            f"read the manifest of {name}@{digest[:19]}", self.ecr.batch_get_image,
            registryId=account, repositoryName=name, imageIds=[{"imageDigest": digest}], acceptedMediaTypes=MANIFEST_TYPES,
        )  # fmt: skip
        images = found.get("images", [])
        return images[0].get("imageManifest") if images else None

    def _from_registry(self, host: str, name: str, digest: str) -> str | None:
        url = f"http://{host}/v2/{name}/manifests/{digest}"
        try:
            answer = httpx.get(url, headers={"Accept": ", ".join(MANIFEST_TYPES)}, timeout=10)
        except httpx.HTTPError as exc:
            raise ParityError(f"read the manifest of {name}@{digest[:19]} from {host}: {exc}") from None
        return answer.text if answer.status_code == 200 else None


PLUGIN = "session-manager-plugin"
PLUGIN_HINT = (
    "install AWS's Session Manager plugin "
    "(https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html)"
)
# The plugin reads the session (its token included) from the variable named on its
# command line, as the AWS CLI v2 hands it over: never from argv, which `ps` shows.
SESSION_VARIABLE = "AWS_SSM_START_SESSION_RESPONSE"


class SessionManagerPlugin:
    """AWS's ``session-manager-plugin``: it turns an ECS Exec session into a terminal."""

    def available(self) -> bool:
        return shutil.which(PLUGIN) is not None

    def start(self, session: dict[str, Any], region: str, target: str, endpoint: str) -> int:
        """Run the plugin on ``session`` (ExecuteCommand's ``session``) until
        the shell ends; its exit code."""
        env = {**os.environ, SESSION_VARIABLE: json.dumps(session)}
        argv = [PLUGIN, SESSION_VARIABLE, region, "StartSession", os.environ.get("AWS_PROFILE", ""),
                json.dumps({"Target": target}), endpoint]  # fmt: skip
        try:
            with _keys_to_the_plugin():
                return subprocess.run(argv, env=env).returncode
        except OSError as exc:
            raise ParityError(f"could not run {PLUGIN}: {exc.strerror}", hint=PLUGIN_HINT) from None


@contextmanager
def _keys_to_the_plugin() -> Iterator[None]:
    """Ctrl-C, Ctrl-\\ and Ctrl-Z belong to the remote shell while the plugin
    runs (the AWS CLI ignores them too): the plugin forwards them."""
    wanted = [s for s in ("SIGINT", "SIGQUIT", "SIGTSTP") if hasattr(signal, s)]
    saved = {name: signal.signal(getattr(signal, name), signal.SIG_IGN) for name in wanted}
    try:
        yield
    finally:
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)
