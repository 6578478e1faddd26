"""The rehearsal's world (``inv rehearse``): an emulated account and what stands
in, through AWS's own APIs, for what the emulator has no room for. Every call
here is a real call to the emulator (``adapters/emulator.py``), authorized as
AWS would authorize it, as the identity that makes it in production:

- ``Account``: the administrator (made with the emulator's first, free calls),
  the README's manual steps (a certificate), a job's web identity token as
  GitHub issues it, and stand-ins for the resources moto accepts in a template
  without creating (the OIDC provider, a CloudFront distribution);
- ``EcrPush``: ``docker push`` to ECR as the API calls a push is authorized as
  (layer checks and uploads, then the manifest), so promote's push step runs as
  the job's role without a Docker engine or a registry;
- ``ClientSite``: the built client to the bucket, as the job's role;
- ``AwsLifecycle``: CloudFormation as AWS runs a create that fails: moto fails
  the ExecuteChangeSet call itself and leaves the stack in REVIEW_IN_PROGRESS;
  AWS rolls the stack back (ROLLBACK_COMPLETE, resources deleted except those
  it must retain) and reports the failed resource in the stack's events.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config

from parity.adapters.aws import AwsTarget, aws_call
from parity.adapters.cloudformation import CloudFormation
from parity.adapters.emulator import GITHUB_ISSUER
from parity.errors import ParityError

ADMIN = "administrator"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"

Credentials = tuple[str, str, "str | None"]


def mint_token(claims: dict[str, Any]) -> str:
    """A JWT with GitHub's claims. Unsigned (the emulator reads, but cannot check, a signature)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': 'rehearsal'})}.{part(claims)}.cmVoZWFyc2Fs"


def github_claims(
    repository: str, subject: str, audience: str, ref: str, workflow: str, environment: str | None
) -> dict[str, Any]:
    """The claims of a job's token that matter here (docs: "About security hardening with OpenID Connect")."""
    claims = {
        "iss": GITHUB_ISSUER,
        "aud": audience,
        "sub": subject,
        "repository": repository,
        "repository_owner": repository.split("/")[0],
        "ref": ref,
        "workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
        "job_workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
        "runner_environment": "github-hosted",
    }
    if environment:
        claims["environment"] = environment
    return claims


class Account:
    """The emulated account, seen by its administrator."""

    def __init__(self, url: str, region: str) -> None:
        self.url, self.region = url, region
        self.admin: Credentials | None = None
        self.account_id = ""

    def make_administrator(self) -> str:
        """An IAM user with AdministratorAccess and a key: the emulator's free calls, then IAM is enforced."""
        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        iam.create_user(UserName=ADMIN)
        iam.attach_user_policy(UserName=ADMIN, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
        self.admin = (key["AccessKeyId"], key["SecretAccessKey"], None)
        found = self.client("sts").get_caller_identity()
        self.account_id = found["Account"]
        return found["Arn"]

    def target(self, region: str | None = None, credentials: Credentials | None = None) -> AwsTarget:
        return AwsTarget(region=region or self.region, endpoint_url=self.url, credentials=credentials or self.admin)

    def client(self, service: str, region: str | None = None, credentials: Credentials | None = None) -> Any:
        return self.target(region, credentials).client(service)

    def request_certificate(self, domain: str) -> str:
        """The README's step: an ACM certificate for the ALB's origin name (validated out of band)."""
        return self.client("acm").request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]

    def stand_in_oidc_providers(self, template: dict[str, Any]) -> list[str]:
        """moto accepts AWS::IAM::OIDCProvider and makes nothing: create each with its properties."""
        iam = self.client("iam")
        have = {p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]}
        made = []
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::IAM::OIDCProvider":
                continue
            props = resource["Properties"]
            arn = f"arn:aws:iam::{self.account_id}:oidc-provider/{props['Url'].removeprefix('https://')}"
            if arn not in have:
                iam.create_open_id_connect_provider(
                    Url=props["Url"], ClientIDList=props.get("ClientIdList", []),
                    ThumbprintList=props.get("ThumbprintList") or ["0" * 40],
                )  # fmt: skip
                made.append(arn)
        return made

    def stand_in_distribution(self, origin_domain: str) -> tuple[str, str]:
        """moto makes no distribution for the template's AWS::CloudFront::Distribution:
        one with its origin, so an invalidation has something to act on. (id, domain)."""
        found = self.client("cloudfront", region="us-east-1").create_distribution(
            DistributionConfig={
                "CallerReference": "rehearsal",
                "Comment": "stand-in for the environment stack's distribution",
                "Enabled": True,
                "Origins": {"Quantity": 1, "Items": [{
                    "Id": "alb", "DomainName": origin_domain,
                    "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
                }]},
                "DefaultCacheBehavior": {"TargetOriginId": "alb", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0},
            }
        )["Distribution"]  # fmt: skip
        return found["Id"], found["DomainName"]

    def assume(self, role_arn: str, token: str, session: str) -> Credentials:
        """AssumeRoleWithWebIdentity, unsigned, as configure-aws-credentials calls it."""
        sts = boto3.client(
            "sts", endpoint_url=self.url, region_name=self.region, config=Config(signature_version=UNSIGNED)
        )
        found = aws_call(
            f"assume {role_arn.rsplit('/', 1)[-1]}", sts.assume_role_with_web_identity,
            RoleArn=role_arn, RoleSessionName=session[:64], WebIdentityToken=token,
        )["Credentials"]  # fmt: skip
        return found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"]


class EcrPush:
    """The promote's registry: images made up per service and generation, pushed
    as a ``docker push`` to ECR is authorized (BatchCheckLayerAvailability,
    InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload, PutImage),
    with the job's credentials (set by the rehearsal before each job)."""

    def __init__(self, stack: Any, account: Account) -> None:
        self.stack, self.account = stack, account
        self.credentials: Credentials | None = None
        self.generation = 0
        self.pushed: list[str] = []

    def next_images(self) -> None:
        self.generation += 1

    def _config(self, service: str) -> bytes:
        data = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"rehearsal": f"{service}-{self.generation}"}},
        }
        return json.dumps(data, sort_keys=True).encode()

    def _service(self, ref: str) -> str:
        for service in self.stack.services:
            if ref.split("@")[0].split(":")[0].endswith(f"/{service}") or f"-{service}" in ref:
                return service
        raise ParityError(f"the rehearsal's registry knows no image {ref}")

    def images(self) -> dict[str, str]:
        return {s: "sha256:" + hashlib.sha256(self._config(s)).hexdigest() for s in self.stack.services}

    # -- the Registry protocol (parity.app.deploy.context) --
    def image_id(self, ref: str) -> str | None:
        return self.images()[self._service(ref)]

    def image_architecture(self, ref: str) -> str | None:
        return "amd64"

    def repo_digest(self, image: str, repository: str) -> str | None:
        return None  # never pushed before this run: promote pushes, then pins the digest

    def tag(self, image: str, ref: str) -> None:
        pass

    def login(self, server: str, username: str, password: str) -> None:
        pass  # the token came from ecr:GetAuthorizationToken, as the job's role

    def push(self, ref: str) -> str:
        repo_uri, _, tag = ref.rpartition(":")
        repository = repo_uri.split("/", 1)[1]
        service = self._service(repo_uri)
        ecr = self.account.client("ecr", credentials=self.credentials)
        config = self._config(service)
        layer = f"layer of {service} {self.generation}".encode()
        blobs = [
            (config, "sha256:" + hashlib.sha256(config).hexdigest()),
            (layer, "sha256:" + hashlib.sha256(layer).hexdigest()),
        ]
        what = f"push {repository}:{tag}"
        for blob, digest in blobs:
            found = aws_call(what, ecr.batch_check_layer_availability, repositoryName=repository, layerDigests=[digest])
            if any(x.get("layerAvailability") == "AVAILABLE" for x in found.get("layers", [])):
                continue
            upload = aws_call(what, ecr.initiate_layer_upload, repositoryName=repository)["uploadId"]
            aws_call(
                what, ecr.upload_layer_part, repositoryName=repository, uploadId=upload,
                partFirstByte=0, partLastByte=len(blob) - 1, layerPartBlob=blob,
            )  # fmt: skip
            aws_call(what, ecr.complete_layer_upload, repositoryName=repository, uploadId=upload, layerDigests=[digest])
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": blobs[0][1]},
            "layers": [{"mediaType": LAYER_TYPE, "size": len(layer), "digest": blobs[1][1]}],
        }, separators=(",", ":"))  # fmt: skip
        aws_call(
            what,
            ecr.put_image,
            repositoryName=repository,
            imageManifest=manifest,
            imageTag=tag,
            imageManifestMediaType=MANIFEST_V2,
        )
        self.pushed.append(f"{repository}:{tag}")
        return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


class ClientSite:
    """The promote's static step: a built client (two files) to the bucket, as the job's role."""

    def __init__(self, stack: Any, account: Account) -> None:
        self.stack, self.account = stack, account
        self.credentials: Credentials | None = None

    def publish(self, images: dict[str, str]) -> int:
        from parity.adapters.aws import Bucket
        from parity.adapters.ecs import bucket_exists
        from parity.app.local.static import cache_control_for

        target = self.account.target(credentials=self.credentials)
        if not bucket_exists(target, self.stack.edge.bucket):
            raise ParityError(f"S3 bucket {self.stack.edge.bucket} does not exist")
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "assets").mkdir()
            (Path(folder) / "index.html").write_text("<!doctype html>")
            (Path(folder) / "assets" / f"app-{abs(hash(tuple(images.values()))) % 10**8}.js").write_text("1")
            return Bucket(target, self.stack.edge.bucket).sync(Path(folder), cache_control_for(self.stack))


class AwsLifecycle(CloudFormation):
    """CloudFormation with AWS's answer to a create that fails (see the module's
    docstring): the stack is ROLLBACK_COMPLETE, its resources are gone but for
    those with DeletionPolicy Retain, the failed resource is in its events, and
    nothing but a delete can be done with it."""

    def __init__(
        self,
        target: AwsTarget,
        service_role: str | None,
        rolled_back: dict[str, list[dict[str, Any]]],
        template: dict[str, Any],
        itself: AwsTarget,
    ) -> None:
        super().__init__(target, service_role)
        self.endpoint_url, self.region = target.endpoint_url, target.region
        self.rolled_back = rolled_back  # stack name -> its events; the account's, shared by every job's adapter
        self.template = template
        self.itself = itself.client(
            "cloudformation"
        )  # CloudFormation rolls back on its own authority, not the caller's

    def stack(self, name: str) -> dict[str, Any] | None:
        if name in self.rolled_back:
            return {"StackName": name, "StackStatus": "ROLLBACK_COMPLETE", "Outputs": []}
        return super().stack(name)

    def events(self, name: str) -> list[dict[str, Any]]:
        return list(self.rolled_back.get(name) or super().events(name))

    def delete_stack(self, name: str) -> None:
        super().delete_stack(name)  # authorized as the caller (moto no longer knows a rolled-back stack)
        self.rolled_back.pop(name, None)

    def execute_change_set(self, change_set: str, name: str) -> None:
        kind = (super().stack(name) or {}).get("StackStatus")
        try:
            super().execute_change_set(change_set, name)
        except ParityError as exc:
            if kind != "REVIEW_IN_PROGRESS" or "AccessDenied" in exc.message:
                raise  # a refusal, or an update that fails (not modelled here)
            reason = exc.message.split(": ", 1)[-1]
            failed = self._culprit(reason)
            self._forget(name)  # what it made stays: the retained resources (and ones a retry makes anew)
            self.rolled_back[name] = [
                {
                    "LogicalResourceId": name,
                    "ResourceType": "AWS::CloudFormation::Stack",
                    "ResourceStatus": "ROLLBACK_COMPLETE",
                },
                {
                    "LogicalResourceId": failed[0],
                    "ResourceType": failed[1],
                    "ResourceStatus": "CREATE_FAILED",
                    "ResourceStatusReason": reason,
                },
            ]

    def _forget(self, name: str) -> None:
        import httpx

        account = self.sts.get_caller_identity()["Account"]
        httpx.post(
            f"{self.endpoint_url}/moto-api/parity/forget-stack",
            json={"account": account, "region": self.region, "name": name}, timeout=30,
        ).raise_for_status()  # fmt: skip

    def _culprit(self, reason: str) -> tuple[str, str]:
        """The template's resource a failure message names (by the longest physical name it holds)."""
        best: tuple[int, str, str] = (0, "?", "?")
        for logical_id, resource in self.template.get("Resources", {}).items():
            props = resource.get("Properties", {})
            for key, value in props.items():
                if key.endswith("Name") and isinstance(value, str) and value in reason and len(value) > best[0]:
                    best = (len(value), logical_id, resource["Type"])
        if best[1] == "?":  # no name in the message: the type its error code names (BucketAlreadyExists)
            for logical_id, resource in self.template.get("Resources", {}).items():
                if resource["Type"].rsplit("::", 1)[-1] in reason.split(":", 1)[0]:
                    return logical_id, resource["Type"]
        return best[1], best[2]
