"""The deploy layer against the real things: a moto server over HTTP (ECS,
ECR, STS, ELBv2, Cloud Map, CloudFront, S3, IAM, Logs) started here on a free
port, a real Docker registry container for the pushes, and tiny images built
here. Nothing of the `huskit` stack is touched: the test spec's project is
`paritytest`, containers are named `parity-test-*` and removed afterwards.

What moto cannot produce (a FAILED rollout, a circuit-breaker rollback) is in
tests/unit/test_promote.py with a fake; here a rollout that never completes is
real: a moto without MOTO_ECS_SERVICE_RUNNING keeps every rollout IN_PROGRESS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
import yaml

from parity.app.checks import records
from parity.app.deploy.context import connect
from parity.app.deploy.promote import promote
from parity.app.deploy.rollback import rollback
from parity.app.infrastructure.infra import apply as infra_apply
from parity.app.infrastructure.infra import connect as infra_connect
from parity.errors import DeployFailed, ParityError, RollbackFailed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "paritytest"
REGION = "eu-central-1"
BASE = "local/debian:trixie"
REGISTRY_IMAGES = ["parity-offline/registry:2", "parity-test/registry:2"]
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url} within {timeout} s")


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def client(service: str, endpoint: str):
    return boto3.client(
        service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )


# -- the real things ---------------------------------------------------------------


@pytest.fixture(scope="module")
def engine():
    if docker("info", check=False).returncode != 0:
        pytest.skip("no Docker engine (../shared/sandbox/docker-engine.sh starts one)")
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        pytest.skip(f"no {BASE} base image (../shared/sandbox/base-image.sh builds it)")


@pytest.fixture
def moto_server():
    """Start moto servers on free ports; ``running`` sets MOTO_ECS_SERVICE_RUNNING."""
    procs = []

    def start(running: int | None = 2) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "MOTO_ECS_SERVICE_RUNNING"}
        if running is not None:
            env["MOTO_ECS_SERVICE_RUNNING"] = str(running)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/moto-api/")
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def registry(engine):
    """A real Docker registry (the offline registry:2 stand-in, or one built here)."""
    image = next((i for i in REGISTRY_IMAGES if docker("image", "inspect", i, check=False).returncode == 0), None)
    if image is None:
        image = REGISTRY_IMAGES[-1]
        folder = ROOT / "ci/images/registry"
        docker("build", "-q", "--build-arg", f"BASE={BASE}", "-t", image, str(folder))
    name = f"parity-test-registry-{uuid.uuid4().hex[:8]}"
    port = free_port()
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:5000", image)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/")
        yield f"127.0.0.1:{port}"
    finally:
        docker("rm", "-f", "-v", name, check=False)


@pytest.fixture(scope="module")
def images(engine):
    """Tiny images standing for the two services; the web one carries a built client."""
    built = {}
    salt = uuid.uuid4().hex
    dockerfiles = {
        "website-agent": (
            f"FROM {BASE}\nLABEL parity.test={salt}\n"
            "RUN mkdir -p /app/build/client/assets && echo 'console.log(1)' > /app/build/client/assets/app-1a2b.js"
            " && echo '<!doctype html>' > /app/build/client/favicon.html\n"
        ),
        "crawler": f"FROM {BASE}\nLABEL parity.test={salt}\nRUN echo crawler > /crawler\n",
    }
    for service, text in dockerfiles.items():
        tag = f"{PROJECT}/{service}:local"
        proc = subprocess.run(
            ["docker", "build", "-q", "-t", tag, "-"], input=text, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        built[service] = docker("image", "inspect", tag, "--format", "{{.Id}}").stdout.strip()
    yield built
    for service in built:
        docker("rmi", "-f", f"{PROJECT}/{service}:local", check=False)
    # the tags the pushes made (REGISTRY/huskit/<service>:<sha>) go with the images
    for line in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
        if line.startswith("127.0.0.1:") and "/paritytest-it/" in line:
            docker("rmi", line, check=False)


def make_root(tmp_path: Path, overlays: dict[str, dict]) -> Path:
    """A spec like the repo's, with project `paritytest` (its own image names)."""
    spec = yaml.safe_load((ROOT / "stack.yaml").read_text())
    spec["project"] = PROJECT
    spec["edge"]["bucket"] = "paritytest-static"
    (tmp_path / "deploy").mkdir()
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for env, overlay in overlays.items():
        (tmp_path / "deploy" / f"{env}.yaml").write_text(yaml.safe_dump(overlay))
    return tmp_path


def emulated(endpoint: str, registry: str, **extra) -> dict:
    aws = {
        "endpoint_url": endpoint,
        "registry": registry,
        "url": "http://127.0.0.1:9/smoke-is-faked-here",
        "bootstrap": True,
        "rollout_timeout": 10,
        "ecr_prefix": "paritytest-it",
        **extra,
    }
    return {"aws": aws}


def ctx_for(root: Path, env: str, smoke_ok: bool = True):
    lines: list[str] = []
    ctx = connect(root, env, report=lines.append)
    ctx.smoke = lambda url: smoke_ok  # the e2e smoke subset is its own suite; its verdict is injected
    ctx.poll_interval = 0.2
    ctx.lines = lines  # type: ignore[attr-defined]
    return ctx


def running_taskdef(endpoint: str, cluster: str, service: str) -> str:
    svc = client("ecs", endpoint).describe_services(cluster=cluster, services=[service])["services"][0]
    return svc["taskDefinition"].rsplit("/", 1)[-1]


# -- tests -------------------------------------------------------------------------


# What the emulator is bootstrapped with (the environment's CloudFormation template, applied
# through change sets) is asserted in test_infra_moto.py.


def test_promote_local_end_to_end(tmp_path, moto_server, registry, images):
    endpoint = moto_server()
    cf = client("cloudfront", endpoint)
    dist = cf.create_distribution(
        DistributionConfig={
            "CallerReference": "it",
            "Comment": "paritytest",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "s3",
                        "DomainName": "paritytest-static.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0},
        }
    )["Distribution"]["Id"]
    root = make_root(tmp_path, {"local": emulated(endpoint, registry, distribution_id=dist)})
    records.record_e2e_pass(root, images, "e2e")

    # --dry-run on a fresh emulator: it shows the bootstrap it would do and the rest; nothing is created
    ctx = ctx_for(root, "local")
    assert promote(ctx, version="itsha", dry_run=True).dry_run
    assert "[ 4/12] bootstrap emulator: would create " in "\n".join(ctx.lines)
    assert "not compared with AWS: ECR repository paritytest-it/crawler: it does not exist yet" in "\n".join(ctx.lines)
    assert client("ecs", endpoint).list_clusters()["clusterArns"] == []
    assert client("ecr", endpoint).describe_repositories()["repositories"] == []

    ctx = ctx_for(root, "local")
    result = promote(ctx, version="itsha")
    out = "\n".join(ctx.lines)
    assert "[ 4/12] bootstrap emulator: created" in out and "[12/12] smoke     passed" in out

    ecs = client("ecs", endpoint)
    for service, image_id in images.items():
        arn = result.deployed[service]
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        image = td["containerDefinitions"][0]["image"]
        repo, _, digest = image.partition("@")
        assert repo == f"{registry}/paritytest-it/{service}" and digest.startswith("sha256:")
        # the pinned manifest is the tested image: its config digest is the local image ID
        manifest = httpx.get(
            f"http://{registry}/v2/paritytest-it/{service}/manifests/{digest}", headers={"Accept": MANIFEST_V2}
        ).json()
        assert manifest["config"]["digest"] == image_id
        tags = httpx.get(f"http://{registry}/v2/paritytest-it/{service}/tags/list").json()["tags"]
        assert f"itsha-{image_id[7:19]}" in tags and "latest" not in tags  # the version, then the image's own ID
        assert td["containerDefinitions"][0]["secrets"][0]["valueFrom"].startswith(
            f"arn:aws:secretsmanager:{REGION}:123456789012:secret:huskit/prod/{service}:"
        )
        svc = ecs.describe_services(cluster="huskit-prod", services=[service])["services"][0]
        assert svc["taskDefinition"] == arn and arn.endswith(f"paritytest-{service}:2")
        assert svc["deploymentConfiguration"] == {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        }

    s3 = client("s3", endpoint)
    asset = s3.head_object(Bucket="paritytest-static", Key="assets/app-1a2b.js")
    assert asset["CacheControl"] == "public, max-age=31536000, immutable"
    assert s3.head_object(Bucket="paritytest-static", Key="favicon.html")["CacheControl"] == "public, max-age=3600"
    assert cf.list_invalidations(DistributionId=dist)["InvalidationList"]["Quantity"] == 1

    # the same digests again: nothing to register or update
    ctx = ctx_for(root, "local")
    again = promote(ctx, version="itsha")
    assert all(not c.changed for c in again.changes)
    assert [
        a.rsplit(":", 1)[-1] for a in ecs.list_task_definitions(familyPrefix="paritytest-crawler")["taskDefinitionArns"]
    ] == ["1", "2"]

    # --dry-run changes nothing, on a bootstrapped emulator either
    client("ecs", endpoint).update_service(
        cluster="huskit-prod", service="crawler", taskDefinition="paritytest-crawler:1"
    )
    before = (ecs.list_task_definitions()["taskDefinitionArns"], running_taskdef(endpoint, "huskit-prod", "crawler"))
    ctx = ctx_for(root, "local")
    dry = promote(ctx, version="other", dry_run=True)
    assert dry.dry_run and [c.service for c in dry.changes if c.changed] == ["crawler"]
    assert (
        ecs.list_task_definitions()["taskDefinitionArns"],
        running_taskdef(endpoint, "huskit-prod", "crawler"),
    ) == before
    assert not [
        t
        for t in httpx.get(f"http://{registry}/v2/paritytest-it/crawler/tags/list").json()["tags"]
        if t.startswith("other")
    ]

    # rollback on demand: one revision back, never to the placeholder (:1, its image never pushed)
    client("ecs", endpoint).update_service(
        cluster="huskit-prod", service="crawler", taskDefinition=result.deployed["crawler"]
    )
    with pytest.raises(
        ParityError,
        match=r"^crawler: the revision before paritytest-crawler:2 is paritytest-crawler:1, the placeholder",
    ):
        rollback(ctx_for(root, "local"), ["crawler"])
    second = ecs.describe_task_definition(taskDefinition=result.deployed["crawler"])["taskDefinition"]
    accepted = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    third = ecs.register_task_definition(**{k: v for k, v in second.items() if k in accepted})["taskDefinition"]
    client("ecs", endpoint).update_service(
        cluster="huskit-prod", service="crawler", taskDefinition=third["taskDefinitionArn"]
    )
    done = rollback(ctx_for(root, "local"), ["crawler"])
    assert done["crawler"].endswith("paritytest-crawler:2")
    assert running_taskdef(endpoint, "huskit-prod", "crawler") == "paritytest-crawler:2"


def test_a_rollout_that_never_completes_leaves_the_previous_revision(tmp_path, moto_server, registry, images):
    endpoint = moto_server(running=None)  # moto runs no task: a service that wants one never completes a rollout
    root = make_root(tmp_path, {"local": emulated(endpoint, registry, rollout_timeout=2)})
    infra_apply(infra_connect(root, "local", report=lambda m: None))  # the template: services at zero tasks
    # moto decides a service's rollouts when the service is created: made again wanting a task, its
    # every rollout (promote's, and the rollback's) stays IN_PROGRESS, as a deployment that never gets healthy
    ecs = client("ecs", endpoint)
    for service in ("crawler", "website-agent"):
        live = ecs.describe_services(cluster="huskit-prod", services=[service])["services"][0]
        ecs.delete_service(cluster="huskit-prod", service=service, force=True)
        ecs.create_service(
            cluster="huskit-prod",
            serviceName=service,
            taskDefinition=live["taskDefinition"],
            desiredCount=1,
        )
    records.record_e2e_pass(root, images, "e2e")
    ctx = ctx_for(root, "local")
    with pytest.raises(RollbackFailed) as exc:  # moto keeps the rollback's rollout IN_PROGRESS too
        promote(ctx, version="itsha")
    assert str(exc.value).startswith(
        "crawler: rollout TIMEOUT: still IN_PROGRESS after 2 s; the rollback failed too: crawler to paritytest-crawler:1 TIMEOUT"
    )
    assert running_taskdef(endpoint, "huskit-prod", "crawler") == "paritytest-crawler:1"
    assert running_taskdef(endpoint, "huskit-prod", "website-agent") == "paritytest-website-agent:1"


def test_a_failed_smoke_run_rolls_back(tmp_path, moto_server, registry, images):
    endpoint = moto_server()
    root = make_root(tmp_path, {"local": emulated(endpoint, registry)})
    records.record_e2e_pass(root, images, "e2e")
    with pytest.raises(
        DeployFailed, match=r"^smoke tests failed against http://127.0.0.1:9/smoke-is-faked-here; rolled back: "
    ):
        promote(ctx_for(root, "local", smoke_ok=False), version="itsha")
    for service in ("crawler", "website-agent"):
        assert running_taskdef(endpoint, "huskit-prod", service) == f"paritytest-{service}:1"


def test_bad_input_is_one_line_each(tmp_path, moto_server, registry, images):
    endpoint = moto_server()
    staging = emulated(endpoint, registry, bootstrap=False, ecr_prefix="nowhere")
    root = make_root(tmp_path, {"local": emulated(endpoint, registry), "staging": staging})
    infra_apply(infra_connect(root, "local", report=lambda m: None))
    # a real environment is never bootstrapped: a missing repository is an error
    with pytest.raises(ParityError) as exc:
        promote(ctx_for(root, "staging"), version="itsha", force=True)
    assert str(exc.value) == (
        "ECR repository nowhere/website-agent does not exist in eu-central-1 "
        "(hint: `inv infra-apply --env staging` creates it)"
    )
    with pytest.raises(ParityError, match=r"^website-agent: image \S+ has not passed e2e"):
        promote(ctx_for(root, "local"), version="itsha")
    spec = yaml.safe_load((root / "stack.yaml").read_text())
    spec["project"] = "paritynone"
    (root / "stack.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(ParityError) as exc:
        promote(ctx_for(root, "local"), version="itsha")
    assert (
        str(exc.value)
        == "website-agent: image paritynone/website-agent:local was never built (hint: `inv up` builds it)"
    )


def inv(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_unknown_env_and_missing_credentials(engine, tmp_path):
    env = dict(os.environ)
    proc = inv("diff", "--env", "qa", env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: unknown environment 'qa' (known: local, prod, staging)"
    # no credentials anywhere in the chain (and no instance metadata lookups)
    bare = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    bare.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CA_BUNDLE=env.get("AWS_CA_BUNDLE", ""),
    )
    # render works before the account exists, and says what it could not look up
    proc = inv("render", "--env", "staging", env=bare)
    assert proc.returncode == 0, proc.stderr
    assert "arn:aws:iam::ACCOUNT_ID:role/huskit-staging-ecs-execution-role" in proc.stdout
    assert proc.stderr.splitlines()[0] == (
        "not compared with AWS: the account: who am I (sts get-caller-identity): no AWS credentials found; "
        "ARNs name ACCOUNT_ID (give --account)"
    )
    # anything that changes AWS stops, in one line
    proc = inv("rollback", "--env", "staging", env=bare)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: who am I (sts get-caller-identity): no AWS credentials found "
        "(hint: configure the normal AWS chain (AWS_PROFILE, SSO, env vars))"
    )
