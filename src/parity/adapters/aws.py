"""The only code that talks to AWS APIs (real AWS, LocalStack or moto), via boto3.

Local emulators get fixed dummy credentials and an explicit endpoint, so a
local command can never reach a real account by accident.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.parsers import ResponseParserError

from parity.errors import AwsUnavailable, ParityError, SecretError

LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@dataclass(frozen=True)
class AwsTarget:
    region: str
    endpoint_url: str | None = None  # set for LocalStack / moto
    # (access key, secret key, session token) of an assumed role: the rehearsal's jobs;
    # otherwise the normal chain (AWS) or the emulators' dummy credentials
    credentials: tuple[str, str, str] | None = field(default=None, repr=False)

    def client(self, service: str) -> Any:
        extra: dict[str, Any] = dict(LOCAL_CREDENTIALS) if self.endpoint_url else {}
        if self.credentials:
            key, secret, token = self.credentials
            extra = {"aws_access_key_id": key, "aws_secret_access_key": secret, "aws_session_token": token}
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url, config=config, **extra)


# Error codes that mean "these credentials cannot ask", not "the answer is no".
CREDENTIAL_ERRORS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
}


def aws_error(what: str, exc: BaseException) -> ParityError | None:
    """The one-line ParityError for a boto3/botocore failure (``AwsUnavailable``
    when AWS could not be asked at all); None for anything else."""
    hint = "configure the normal AWS chain (AWS_PROFILE, SSO, env vars)"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return AwsUnavailable(f"{what}: no AWS credentials found", hint=hint)
    if isinstance(exc, EndpointConnectionError):
        return AwsUnavailable(f"{what}: {exc}")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        line = f"{what}: {err.get('Code', 'error')}: {err.get('Message', '')}".rstrip(": ")
        return AwsUnavailable(line, hint=hint) if err.get("Code") in CREDENTIAL_ERRORS else ParityError(line)
    if isinstance(exc, BotoCoreError):
        return ParityError(f"{what}: {exc}")
    if isinstance(exc, ResponseParserError):  # an emulator's error page (moto's HTML 500), not AWS's format
        return ParityError(f"{what}: the endpoint's answer is not AWS's: {str(exc).splitlines()[0]}")
    return None


def has_credentials(target: AwsTarget) -> bool:
    """True when a call could be signed: an emulator, or credentials in the normal chain."""
    return bool(target.endpoint_url) or boto3.Session(region_name=target.region).get_credentials() is not None


def aws_call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call boto3, turning its failures into one clear ParityError line."""
    try:
        return fn(*args, **kwargs)
    except (BotoCoreError, ClientError, ResponseParserError) as exc:
        raise aws_error(what, exc) from None


def reraise(exc: Exception) -> Any:
    """For ``aws_call(what, reraise, exc)``: an exception already caught, turned into its one line."""
    raise exc


class SecretStore:
    """Secrets Manager: read by name (as ECS resolves a partial ARN), create if missing."""

    def __init__(self, target: AwsTarget) -> None:
        self.sm = target.client("secretsmanager")

    def get(self, name: str, stage: str | None = None) -> str | None:
        """The secret's value (AWSCURRENT, or the version carrying ``stage``); None when there is none."""
        try:
            extra = {"VersionStage": stage} if stage else {}
            return self.sm.get_secret_value(SecretId=name, **extra)["SecretString"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise SecretError(f"secret {name}: {exc.response['Error'].get('Code')}") from None
        except BotoCoreError as exc:
            raise SecretError(f"secret {name}: {exc}") from None

    def previous(self, name: str) -> str | None:
        """The value before the last put (AWSPREVIOUS), None when it was never rotated."""
        return self.get(name, "AWSPREVIOUS")

    def versions(self, name: str) -> dict[str, str]:
        """Version stage -> version id (AWSCURRENT, AWSPREVIOUS); {} when the secret does not exist."""
        try:
            described = self.sm.describe_secret(SecretId=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return {}
            raise SecretError(f"secret {name}: {exc.response['Error'].get('Code')}") from None
        return {stage: vid for vid, stages in (described.get("VersionIdsToStages") or {}).items() for stage in stages}

    def create(self, name: str, value: str) -> None:
        aws_call(f"create secret {name}", self.sm.create_secret, Name=name, SecretString=value)

    def put(self, name: str, value: str) -> None:
        aws_call(f"update secret {name}", self.sm.put_secret_value, SecretId=name, SecretString=value)


class Bucket:
    """An S3 bucket holding the static client."""

    def __init__(self, target: AwsTarget, name: str) -> None:
        self.s3 = target.client("s3")
        self.name = name
        self.region = target.region

    def ensure(self) -> None:
        try:
            self.s3.head_bucket(Bucket=self.name)
            return
        except ClientError:
            pass
        kwargs: dict[str, Any] = {"Bucket": self.name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        aws_call(f"create bucket {self.name}", self.s3.create_bucket, **kwargs)

    def etags(self) -> dict[str, str]:
        """Key -> ETag (quotes removed) of every object in the bucket."""
        out: dict[str, str] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        for page in aws_call(f"list s3://{self.name}", lambda: list(pages)):
            out.update({o["Key"]: o["ETag"].strip('"') for o in page.get("Contents", [])})
        return out

    def sync(self, folder: Path, cache_control: Callable[[str], str], skip_unchanged: bool = False) -> int:
        """Upload every file under ``folder`` with its content type and the
        Cache-Control that ``cache_control(key)`` gives; returns the count.
        ``skip_unchanged``: not the files the bucket holds already, byte for
        byte (a single-part upload's ETag is its MD5)."""
        count = 0
        held = self.etags() if skip_unchanged else {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = path.relative_to(folder).as_posix()
            if held and held.get(key) == hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest():
                continue
            ctype = mimetypes.guess_type(key)[0] or "application/octet-stream"
            aws_call(
                f"upload s3://{self.name}/{key}",
                self.s3.put_object,
                Bucket=self.name,
                Key=key,
                Body=path.read_bytes(),
                ContentType=ctype,
                CacheControl=cache_control(key),
            )
            count += 1
        return count
