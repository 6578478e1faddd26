"""`inv parity` without Docker: saved real `docker inspect` output of the local
stack (values scrubbed, except the spec's plain settings and the image's own
ENV), changed the way a hand would change a container."""

from __future__ import annotations

import copy
import json

import pytest

from parity.app.checks.parity import check, show
from parity.render.compose import networks_of
from parity.render.edge import render_edge
from parity.render.infra import render_template
from parity.render.infra.edge import CACHING_OPTIMIZED
from parity.render.parity import _source_of, compare, container_view, spec_view, taskdef_view
from parity.render.parity_infra import compare_infra, infra_template, local_edge_view, spec_infra_views, template_views
from parity.render.taskdef import render_taskdef
from parity.render.waf import render_waf_js
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

    def __init__(self, containers=None, built=None, edge_conf=None, waf_js=None):
        self.containers = copy.deepcopy(containers or SAVED["containers"])
        self.built = built or {s: cs[0]["Image"] for s, cs in SAVED["containers"].items()}
        self.edge = edge_container()
        self.edge_conf = edge_conf if edge_conf is not None else render_edge(load_stack(ROOT, "local"))
        self.waf_js = waf_js if waf_js is not None else render_waf_js(load_stack(ROOT, "local"))

    def read_file(self, container, path):
        assert container == "huskit-edge-1"
        return {"/etc/nginx/nginx.conf": self.edge_conf, "/etc/nginx/waf.js": self.waf_js}[path]

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
    assert (crawl["cpu"], crawl["memory"], crawl["discovery"], crawl["exposure"]) == (
        2048,
        4096,
        "crawler.internal",
        "internal",
    )
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
    c["Config"]["Env"] = [
        e if not e.startswith("MONGODB_URI=") else "MONGODB_URI=mongodb://u:hunter2@db" for e in c["Config"]["Env"]
    ]
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
    from parity.app.checks.parity import connect_live

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


# -- the infrastructure side: ENV's rendered template vs the running stack -------------


def with_template(monkeypatch, change):
    """`inv parity` as if ENV's template had been rendered, then changed by ``change``."""
    import parity.app.checks.parity as app

    def rendered(stack):
        template = render_template(stack)
        change(template["Resources"])
        return template

    monkeypatch.setattr(app, "render_template", rendered)


def infra_differences(report, verdict="undeclared"):
    return {(d.service, d.path, d.sides) for s in report.services for d in s.differences
            if d.verdict == verdict and any(side.startswith("infra") for side in d.sides)}  # fmt: skip


@pytest.mark.parametrize("env", ["local", "staging", "prod"])
def test_the_template_says_what_the_spec_says(env):
    stack = load_stack(ROOT, env)
    assert template_views(stack, infra_template(stack)) == spec_infra_views(stack)


def test_the_real_spec_and_the_running_stack_show_no_undeclared_infra_difference():
    for env in [None, "staging", "prod"]:
        report = check(ROOT, FakeDocker(), env=env)
        assert report.undeclared == [], env
    views = {s.service: s.views for s in report.services}
    assert views["crawler"]["infra prod"]["ingress"] == ["website-agent:4999"]
    assert views["crawler"]["infra prod"]["discovery"] == "crawler.internal"
    assert views["website-agent"]["infra prod"]["ingress"] == ["alb:5171"]
    edge = views["edge"]["infra prod"]
    assert edge["edge.ingress"] == ["cloudfront:443"]
    assert (edge["edge.idle_timeout"], edge["edge.origin_response_timeout"]) == (300, 30)
    assert edge["edge.routes"] == [
        "/ -> website-agent (none)",
        "/api/ -> website-agent (none)",
        "/assets/ -> s3 (cached)",
    ]
    assert views["edge"]["local"]["edge.routes"] == edge["edge.routes"]
    # declared: a Docker network admits both ways; the edge's clients; plain HTTP locally
    intended = {(d.service, d.path): d for s in report.services for d in s.differences if d.verdict == "intended"}
    assert {
        ("website-agent", "ingress"),
        ("crawler", "ingress"),
        ("edge", "edge.ingress"),
        ("edge", "edge.listener"),
    } <= set(intended)
    assert intended[("website-agent", "ingress")].values == (
        ["alb:5171", "crawler:5171", "postgres:5171"],
        ["alb:5171"],
    )
    assert "host:8080" in intended[("edge", "edge.ingress")].values[0]
    assert "allow-listed-clients:80" in intended[("edge", "edge.ingress")].values[0]
    assert intended[("edge", "edge.listener")].values == ("http", "https")


def test_a_crawler_security_group_admitting_another_source_shows_up(monkeypatch):
    def admit_the_alb(res):
        res["CrawlerFromAlb"] = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": {"Fn::GetAtt": ["CrawlerSecurityGroup", "GroupId"]},
            "SourceSecurityGroupId": {"Fn::GetAtt": ["AlbSecurityGroup", "GroupId"]},
            "IpProtocol": "tcp", "FromPort": 4999, "ToPort": 4999,
        }}  # fmt: skip

    with_template(monkeypatch, admit_the_alb)
    report = check(ROOT, FakeDocker(), env="prod")
    assert infra_differences(report) == {
        ("crawler", "ingress", ("local", "infra prod")),
        ("crawler", "ingress", ("spec prod", "infra prod")),
    }
    d = next(d for d in report.undeclared if d.sides == ("spec prod", "infra prod"))
    assert d.values == (["website-agent:4999"], ["alb:4999", "website-agent:4999"])


def test_a_security_group_open_to_an_address_range_or_another_port_shows_up(monkeypatch):
    def widen(res):
        res["CrawlerSecurityGroup"]["Properties"]["SecurityGroupIngress"] = [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}
        ]
        res["WebsiteAgentFromAlb"]["Properties"]["FromPort"] = 80

    with_template(monkeypatch, widen)
    report = check(ROOT, FakeDocker(), env="staging")
    views = {s.service: s.views for s in report.services}
    assert views["crawler"]["infra staging"]["ingress"] == ["0.0.0.0/0:22", "website-agent:4999"]
    assert views["website-agent"]["infra staging"]["ingress"] == ["alb:80-5171"]
    assert {(s, p) for s, p, _ in infra_differences(report)} == {("crawler", "ingress"), ("website-agent", "ingress")}


def test_cloudfront_behaviours_that_differ_from_the_spec_routes_show_up(monkeypatch):
    def cache_the_api(res):
        behaviours = res["Distribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
        api = next(b for b in behaviours if b["PathPattern"] == "/api/*")
        api["CachePolicyId"] = CACHING_OPTIMIZED
        behaviours.append({**api, "PathPattern": "/admin/*", "TargetOriginId": "s3"})

    with_template(monkeypatch, cache_the_api)
    report = check(ROOT, FakeDocker(), env="prod")
    assert infra_differences(report) == {
        ("edge", "edge.routes", ("local", "infra prod")),
        ("edge", "edge.routes", ("spec prod", "infra prod")),
        # the new s3 behaviour carries the ALB behaviours' headers policy, not the static one
        ("edge", "edge.static_response_headers", ("local", "infra prod")),
        ("edge", "edge.static_response_headers", ("spec prod", "infra prod")),
    }
    routes = report.services[-1].views["infra prod"]["edge.routes"]
    assert "/api/ -> website-agent (cached)" in routes and "/admin/ -> s3 (cached)" in routes


def test_an_alb_rule_sending_a_path_elsewhere_shows_up_in_the_routes():
    stack = load_stack(ROOT, "prod")
    template = render_template(stack)
    template["Resources"]["CrawlerTargetGroup"] = {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {}}
    template["Resources"]["CrawlerService"]["Properties"]["LoadBalancers"] = [
        {"TargetGroupArn": {"Ref": "CrawlerTargetGroup"}}
    ]
    template["Resources"]["ApiToCrawler"] = {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule", "Properties": {
        "ListenerArn": {"Ref": "HttpsListener"}, "Priority": 1,
        "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        "Actions": [{"Type": "forward", "TargetGroupArn": {"Ref": "CrawlerTargetGroup"}}],
    }}  # fmt: skip
    assert "/api/ -> crawler (none)" in template_views(stack, template)["edge"]["edge.routes"]


def test_another_idle_timeout_or_origin_response_timeout_shows_up(monkeypatch):
    def shorter(res):
        attrs = res["Alb"]["Properties"]["LoadBalancerAttributes"]
        next(a for a in attrs if a["Key"] == "idle_timeout.timeout_seconds")["Value"] = "60"
        alb = next(o for o in res["Distribution"]["Properties"]["DistributionConfig"]["Origins"] if o["Id"] == "alb")
        alb["CustomOriginConfig"]["OriginReadTimeout"] = 60

    with_template(monkeypatch, shorter)
    report = check(ROOT, FakeDocker())
    assert {(s, p) for s, p, _ in infra_differences(report)} == {
        ("edge", "edge.idle_timeout"),
        ("edge", "edge.origin_response_timeout"),
    }
    d = {x.path: x for x in report.undeclared if x.sides[0] == "local"}
    assert d["edge.idle_timeout"].values == (300, 60)
    assert d["edge.origin_response_timeout"].values == (30, 60)


def test_another_cloud_map_name_or_target_group_shows_up(monkeypatch):
    def rename(res):
        res["CrawlerDiscovery"]["Properties"]["Name"] = "scraper"
        res["WebsiteAgentTargetGroup"]["Properties"]["HealthCheckPath"] = "/"
        res["WebsiteAgentTargetGroup"]["Properties"]["TargetGroupAttributes"] = [
            {"Key": "deregistration_delay.timeout_seconds", "Value": "30"}
        ]

    with_template(monkeypatch, rename)
    report = check(ROOT, FakeDocker(), env="staging")
    assert infra_differences(report) == {
        ("crawler", "discovery", ("local", "infra staging")),
        ("crawler", "discovery", ("spec staging", "infra staging")),
        ("website-agent", "health.path", ("spec staging", "infra staging")),
        ("website-agent", "deregistration_delay", ("spec staging", "infra staging")),
    }
    # nothing local stands for the target group: compared with the spec only


def test_a_hand_changed_local_network_or_edge_shows_up():
    docker = FakeDocker()
    crawler(docker)["NetworkSettings"]["Networks"]["huskit_public"] = {"Aliases": ["crawler"]}
    docker.edge_conf = docker.edge_conf.replace("keepalive_timeout 300s;", "keepalive_timeout 75s;")
    report = check(ROOT, docker)
    assert {(s, p) for s, p, _ in infra_differences(report)} == {("crawler", "ingress"), ("edge", "edge.idle_timeout")}
    d = next(d for d in report.undeclared if d.path == "ingress")
    assert "locally also alb:4999" in d.why
    docker = FakeDocker()
    crawler(docker)["NetworkSettings"]["Networks"]["bridge"] = {}
    assert ("crawler", "ingress") in undeclared(check(ROOT, docker))


def test_an_edge_that_is_not_running_is_a_difference():
    docker = FakeDocker()
    docker.edge = None
    found = undeclared(check(ROOT, docker))
    assert {("edge", "edge.idle_timeout"), ("edge", "edge.routes"), ("edge", "edge.origin_response_timeout")} <= found


def test_the_edge_view_reads_the_rendered_nginx_conf():
    local = load_stack(ROOT, "local")
    view = local_edge_view(local, render_edge(local), waf_js=render_waf_js(local))
    spec = spec_infra_views(local)["edge"]
    same = lambda v: {k: x for k, x in v.items() if k not in ("edge.ingress", "edge.waf.rules")}  # noqa: E731
    assert same(spec) == same(view)
    # the managed rules the edge does not emulate: the one declared difference
    (diff,) = compare_infra(local, "edge", "local", {**view, "edge.ingress": spec["edge.ingress"]}, spec, spec, spec)
    assert (diff.path, diff.verdict) == ("edge.waf.rules", "intended")
    assert set(spec["edge.waf.rules"]) - set(view["edge.waf.rules"]) == {
        "AWSManagedRulesKnownBadInputsRuleSet/Host_localhost_HEADER",
        "AWSManagedRulesKnownBadInputsRuleSet/ReactJSRCE_BODY",
    }
    assert "not emulated locally: AWSManagedRulesKnownBadInputsRuleSet/Host_localhost_HEADER (" in diff.why


def test_another_services_dependency_reaching_a_service_is_not_declared():
    docker = FakeDocker()
    docker.containers["website-agent"][0]["NetworkSettings"]["Networks"]["huskit_crawler-egress"] = {}
    d = next(d for d in check(ROOT, docker).undeclared if d.path == "ingress")
    assert d.service == "website-agent" and "fixture-site:5171" in d.why and "mongo:5171" in d.why


def test_inv_parity_records_its_differences_for_the_page_without_a_value(tmp_path):
    import shutil

    from parity.app.checks.parity import run

    for name in ("stack.yaml", "deploy"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    docker = FakeDocker()
    crawler(docker)["Config"]["Env"].append("API_TOKEN=hunter2-never-shown")
    said = []
    report = run(tmp_path, docker, report=said.append)
    assert undeclared(report) == {("crawler", "environment.API_TOKEN")}
    record = json.loads((tmp_path / "reports" / "parity.json").read_text())
    assert record["env"] == "local" and record["undeclared"] == 1 and record["at"]
    assert record["images"]["crawler"] == crawler(docker)["Image"]
    page = (tmp_path / "reports" / "index.html").read_text()
    assert said == ["report: reports/index.html"]
    assert "1 undeclared" in page and "environment.API_TOKEN" in page
    assert "hunter2" not in json.dumps(record) and "hunter2" not in page


def test_a_web_acl_that_counts_a_rule_without_its_scope_down_rule_shows_up(monkeypatch):
    def count_everywhere(res):
        acl = res["WebAcl"]["Properties"]
        acl["Rules"] = [r for r in acl["Rules"] if not r["Name"].endswith("-outside-exempt-paths")]

    with_template(monkeypatch, count_everywhere)
    report = check(ROOT, FakeDocker())
    assert {(s, p) for s, p, _ in infra_differences(report)} == {("edge", "edge.waf.overrides")}
    d = next(d for d in report.undeclared if d.sides == ("local", "infra local"))
    assert "AWSManagedRulesCommonRuleSet/SizeRestrictions_BODY counts everywhere" in d.values[1]


def test_an_alb_that_forwards_without_the_secret_header_shows_up(monkeypatch):
    def unlock(res):
        res["HttpsListener"]["Properties"]["DefaultActions"] = [
            {"Type": "forward", "TargetGroupArn": {"Ref": "WebsiteAgentTargetGroup"}}
        ]
        for r in res.values():
            if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule":
                r["Properties"]["Conditions"] = [
                    c for c in r["Properties"]["Conditions"] if c["Field"] != "http-header"
                ]

    with_template(monkeypatch, unlock)
    report = check(ROOT, FakeDocker(), env="prod")
    assert {(s, p) for s, p, _ in infra_differences(report)} == {("edge", "edge.origin_lock")}
    d = next(d for d in report.undeclared if d.sides == ("local", "infra prod"))
    assert d.values == (
        "sent=X-Origin-Verify required=X-Origin-Verify otherwise=403",
        "sent=X-Origin-Verify required=- otherwise=forward",
    )


def test_a_local_edge_without_the_lock_a_header_or_an_override_shows_up():
    docker = FakeDocker()
    docker.edge_conf = docker.edge_conf.replace('if ($origin_verified = 0) { return 403 "Forbidden\\n"; }', "")
    docker.edge_conf = docker.edge_conf.replace(
        'add_header X-Frame-Options "SAMEORIGIN" always;', 'add_header X-Frame-Options "DENY" always;'
    )
    docker.waf_js = docker.waf_js.replace(
        '"countOn": ["/api/chat"], "group": "AWSManagedRulesCommonRuleSet", "name": "CrossSiteScripting_BODY"',
        '"countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "CrossSiteScripting_BODY"',
    )
    report = check(ROOT, docker, env="prod")
    assert {(s, p) for s, p, _ in infra_differences(report)} == {
        ("edge", "edge.origin_lock"),
        ("edge", "edge.response_headers"),
        ("edge", "edge.static_response_headers"),
        ("edge", "edge.waf.overrides"),
    }
    lock = next(d for d in report.undeclared if d.path == "edge.origin_lock")
    assert lock.values[0] == "sent=X-Origin-Verify required=- otherwise=forward"


def test_the_stack_is_listed_once_for_all_its_services():
    """The review's finding: each service's question listed (and inspected) the whole stack again."""
    from parity.adapters.docker import ContainerState
    from parity.app.checks.parity import StackDocker

    class Compose:
        listings = 0

        def containers(self):
            Compose.listings += 1
            return [
                ContainerState(name=f"huskit-{s}-{i}", service=s, state="running", health="healthy")
                for s in ("crawler", "website-agent", "edge")
                for i in (1, 2)
            ]

    docker = StackDocker(Compose(), docker=None)
    assert docker.containers_of("crawler") == ["huskit-crawler-1", "huskit-crawler-2"]
    assert docker.containers_of("edge") == ["huskit-edge-1", "huskit-edge-2"]
    assert docker.containers_of("mongo") == []
    assert Compose.listings == 1
