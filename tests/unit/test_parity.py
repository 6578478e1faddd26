"""`inv parity` without Docker: saved real `docker inspect` output of the local
stack (values scrubbed, except the spec's plain settings and the image's own
ENV), changed the way a hand would change a container."""

from __future__ import annotations

import copy
import json

import pytest

from parity.app.parity import check, show
from parity.render.compose import networks_of
from parity.render.edge import render_edge
from parity.render.parity import _source_of, compare, container_view, spec_view, taskdef_view
from parity.render.taskdef import render_taskdef
from parity.spec import load_stack

from .conftest import ROOT

SAVED = json.loads((ROOT / "tests/unit/fixtures/docker-inspect-services.json").read_text())
OTHER_IMAGE = "sha256:" + "e" * 64


def edge_container():
    """The local edge as `inv up` runs it: on its rendered networks, port 80 published on 8080."""
    local = load_stack(ROOT, "local")
    nets = {f"huskit_{n}": {"Aliases": ["edge"]} for n, members in networks_of(local).items() if "edge" in members}
    return {
        "Name": "/huskit-edge-1",
        "Image": "sha256:" + "d" * 64,
        "NetworkSettings": {"Networks": nets, "Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}},
    }


class FakeDocker:
    """The local stack as the saved inspect output shows it (the edge as `inv up` renders it)."""

    def __init__(self, containers=None, built=None, edge_conf=None):
        self.containers = copy.deepcopy(containers or SAVED["containers"])
        self.built = built or {s: cs[0]["Image"] for s, cs in SAVED["containers"].items()}
        self.edge = edge_container()
        self.edge_conf = edge_conf if edge_conf is not None else render_edge(load_stack(ROOT, "local"))

    def read_file(self, container, path):
        assert (container, path) == ("huskit-edge-1", "/etc/nginx/nginx.conf")
        return self.edge_conf

    def containers_of(self, service):
        if service == "edge":
            return [self.edge["Name"].lstrip("/")] if self.edge else []
        return [c["Name"].lstrip("/") for c in self.containers.get(service, [])]

    def inspect_raw(self, refs, kind="container"):
        if kind == "image":
            (ref,) = refs
            service = next(s for s, cs in self.containers.items() if cs and cs[0]["Image"] == ref)
            return [{"Config": {"Env": SAVED["image_env"][service]}}]
        every = [c for cs in self.containers.values() for c in cs] + ([self.edge] if self.edge else [])
        return [c for c in every if c["Name"].lstrip("/") in refs]

    def image_id(self, ref):
        return self.built.get(ref.split("/", 1)[1].split(":")[0])

    def repo_digest(self, image, repository):
        # as if every built image had been pushed with digest b...b
        return "sha256:" + "b" * 64 if image in self.built.values() else None


class FakeLive:
    def __init__(self, taskdefs):
        self.taskdefs = taskdefs

    def describe_service(self, cluster, service):
        return {"serviceName": service, "taskDefinition": f"arn:aws:ecs:eu-central-1:1:task-definition/{service}:7"}

    def describe_task_definition(self, arn):
        return self.taskdefs[arn.rsplit("/", 1)[1].split(":")[0]]


def crawler(docker):
    return docker.containers["crawler"][0]


def undeclared(report):
    return {(d.service, d.path) for d in report.undeclared}


def test_the_saved_local_stack_runs_what_the_spec_says():
    report = check(ROOT, FakeDocker())
    assert [s.service for s in report.services] == ["website-agent", "crawler", "edge"]
    assert report.undeclared == []
    agent = report.services[0].views["running"]
    assert (agent["cpu"], agent["memory"], agent["ports"], agent["replicas"]) == (1024, 2048, [5171], 2)
    assert agent["exposure"] == "public" and agent["published"] == []
    crawl = report.services[1].views["running"]
    assert (crawl["cpu"], crawl["memory"], crawl["discovery"], crawl["exposure"]) == (2048, 4096, "crawler.internal", "internal")
    assert crawl["secrets.MONGODB_URI"] == "huskit/prod/crawler:MONGODB_URI"
    assert crawl["health.command"] == "python healthcheck.py" and crawl["health.interval"] == 30
    # the image's own ENV (PATH, CHROMIUM_PATH...) is not the stack's doing
    assert "environment.CHROMIUM_PATH" not in crawl and "environment.PATH" not in crawl


def test_another_image_other_limits_an_extra_variable_show_up():
    docker = FakeDocker()
    c = crawler(docker)
    c["Image"] = OTHER_IMAGE
    c["HostConfig"]["NanoCpus"] = 1_000_000_000
    c["HostConfig"]["Memory"] = 1024 * 1024 * 1024
    c["Config"]["Env"].append("DEBUG_BACKDOOR=1")
    report = check(ROOT, docker)
    assert undeclared(report) == {
        ("crawler", "image"),
        ("crawler", "cpu"),
        ("crawler", "memory"),
        ("crawler", "environment.DEBUG_BACKDOOR"),
    }
    d = {x.path: x for x in report.undeclared}
    assert d["cpu"].values == (1024, 2048) and d["memory"].values == (1024, 4096)
    assert d["image"].values == (OTHER_IMAGE, SAVED["containers"]["crawler"][0]["Image"])


def test_a_missing_secret_a_published_port_and_a_changed_health_check_show_up():
    docker = FakeDocker()
    c = crawler(docker)
    c["Config"]["Env"] = [e for e in c["Config"]["Env"] if not e.startswith("MONGODB_URI=")]
    c["NetworkSettings"]["Ports"] = {"4999/tcp": [{"HostIp": "127.0.0.1", "HostPort": "4999"}]}
    c["Config"]["Healthcheck"]["Retries"] = 9
    assert undeclared(check(ROOT, docker)) == {
        ("crawler", "secrets.MONGODB_URI"),
        ("crawler", "published"),
        ("crawler", "health.retries"),
    }


def test_a_replica_down_or_on_a_mixed_image_shows_up():
    docker = FakeDocker()
    second = docker.containers["website-agent"][1]
    second["State"]["Running"] = False
    assert ("website-agent", "replicas") in undeclared(check(ROOT, docker))
    docker = FakeDocker()
    docker.containers["website-agent"][1]["Image"] = OTHER_IMAGE
    assert ("website-agent", "image") in undeclared(check(ROOT, docker))


def test_a_stack_that_is_not_running_is_a_difference():
    docker = FakeDocker(containers={"website-agent": SAVED["containers"]["website-agent"], "crawler": []})
    found = undeclared(check(ROOT, docker))
    assert ("crawler", "replicas") in found and ("crawler", "image") in found


def test_no_value_of_a_secret_or_an_extra_variable_is_shown():
    docker = FakeDocker()
    c = crawler(docker)
    c["Config"]["Env"] = [e if not e.startswith("MONGODB_URI=") else "MONGODB_URI=mongodb://u:hunter2@db" for e in c["Config"]["Env"]]
    c["Config"]["Env"].append("STOLEN=hunter2-extra")
    lines: list[str] = []
    report = check(ROOT, docker)
    show(report, lines.append)
    text = "\n".join(lines) + repr(report)
    assert "hunter2" not in text
    assert report.services[1].views["running"]["environment.STOLEN"] == "<set>"


def test_the_overlays_declare_what_differs_for_an_environment():
    report = check(ROOT, FakeDocker(), env="staging")
    assert report.undeclared == []
    intended = {(d.service, d.path) for s in report.services for d in s.differences if d.verdict == "intended"}
    assert ("crawler", "environment.CRAWLER_ALLOW_PRIVATE_NETWORKS") in intended  # local-only (deploy/local.yaml)
    assert ("website-agent", "replicas") in intended  # deploy/staging.yaml
    src = next(d for s in report.services for d in s.differences if d.path == "secrets.MONGODB_URI")
    assert src.values == ("huskit/prod/crawler:MONGODB_URI", "huskit/staging/crawler:MONGODB_URI")


@pytest.mark.parametrize("env", ["local", "staging", "prod"])
def test_the_rendered_task_definition_says_what_the_spec_says(env):
    stack = load_stack(ROOT, env)
    for name in stack.services:
        view = taskdef_view(render_taskdef(stack, name, "r/x@sha256:" + "a" * 64, "123456789012"))
        spec = spec_view(stack, name, "r/x@sha256:" + "a" * 64)
        assert {k: v for k, v in spec.items() if k in view} == view
        assert not compare(name, spec, spec, env, spec, view)


def test_live_drift_is_undeclared_and_another_release_is_not():
    stack = load_stack(ROOT, "prod")
    live = {
        f"huskit-{s}": render_taskdef(stack, s, f"1.dkr.ecr/huskit/{s}@sha256:" + "b" * 64, "123456789012")
        for s in stack.services
    }
    live = {k.removeprefix("huskit-"): v for k, v in live.items()}
    live["crawler"]["memory"] = "8192"
    live["crawler"]["containerDefinitions"][0]["environment"].append({"name": "HOTFIX", "value": "1"})
    report = check(ROOT, FakeDocker(), env="prod", live=FakeLive(live))
    assert undeclared(report) == {("crawler", "memory"), ("crawler", "environment.HOTFIX")}
    # the images promote pushed are live: no difference
    assert not [d for s in report.services for d in s.differences if d.verdict == "release"]
    live["website-agent"]["containerDefinitions"][0]["image"] = "1.dkr.ecr/huskit/website-agent@sha256:" + "c" * 64
    report = check(ROOT, FakeDocker(), env="prod", live=FakeLive(live))
    releases = [d for s in report.services for d in s.differences if d.verdict == "release"]
    assert [(d.service, d.path) for d in releases] == [("website-agent", "image")]
    assert ("website-agent", "image") not in undeclared(report)


def test_a_secret_source_is_read_from_the_partial_arn():
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:huskit/prod/crawler:MONGODB_URI::"
    assert _source_of(arn) == "huskit/prod/crawler:MONGODB_URI"
    assert _source_of("arn:aws:secretsmanager:eu-central-1:1:secret:huskit/prod/whole") == "huskit/prod/whole"


def test_container_view_of_a_service_with_no_container():
    assert container_view(load_stack(ROOT, "local"), "crawler", []) == {"replicas": 0}


def test_without_credentials_the_live_side_is_skipped_and_said_so(monkeypatch, tmp_path):
    from parity.app.parity import connect_live

    for var in [v for v in __import__("os").environ if v.startswith("AWS_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    live, note = connect_live(ROOT, "staging")
    assert live is None and note == "live staging: not compared (no AWS credentials in the chain)"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    live, note = connect_live(ROOT, "staging")
    assert live is not None and note == "live staging: ECS in eu-central-1"
    # the local emulator needs none
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    live, note = connect_live(ROOT, "local")
    assert live is not None and note.endswith("at http://127.0.0.1:5050")
