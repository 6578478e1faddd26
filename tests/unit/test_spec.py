"""The spec: the real file validates, and every kind of bad input stops with
one line naming the key path."""

import shutil
import subprocess
import sys

import pytest
import yaml

from parity.errors import ConfigError
from parity.spec.load import deep_merge, load_stack, validate
from parity.spec.models import Deployment

from .conftest import ROOT


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        validate(data)
    assert exc.value.exit_code == 2
    return str(exc.value)


def test_real_spec_validates_with_plan_numbers():
    stack = load_stack(ROOT, "local")
    web, crawler = stack.services["website-agent"], stack.services["crawler"]
    assert (web.cpu, web.memory, web.port, web.exposure) == (1024, 2048, 5171, "public")
    assert (crawler.cpu, crawler.memory, crawler.port, crawler.exposure) == (2048, 4096, 4999, "internal")
    assert crawler.discovery == "crawler.internal"
    assert stack.edge.idle_timeout == 300
    assert stack.secret_name(crawler.secrets["MONGODB_URI"]) == "huskit/prod/crawler"
    assert crawler.secrets["MONGODB_URI"].key == "MONGODB_URI"
    # the local overlay is merged in
    assert crawler.environment["CRAWLER_ALLOW_PRIVATE_NETWORKS"] == "true"
    assert crawler.environment["CRAWL4AI_TIMEOUT"] == "30"


def test_unknown_key(spec):
    spec["services"]["crawler"]["memroy"] = 4096
    assert error_of(spec) == "stack.yaml: services.crawler.memroy: unknown key"


def test_wrong_type(spec):
    spec["services"]["crawler"]["port"] = "four-thousand"
    assert (
        error_of(spec)
        == "stack.yaml: services.crawler.port: Input should be a valid integer, unable to parse string as an integer"
    )


def test_missing_key(spec):
    del spec["services"]["crawler"]["health"]
    assert error_of(spec) == "stack.yaml: services.crawler.health: required key is missing"


def test_route_to_missing_service(spec):
    spec["edge"]["routes"][1]["origin"] = "billing"
    assert error_of(spec) == "stack.yaml: edge.routes.1.origin: route /api/ goes to 'billing', which is not a service"


def test_internal_service_given_public_route(spec):
    spec["edge"]["routes"].append({"path": "/crawl/", "origin": "crawler"})
    assert error_of(spec) == "stack.yaml: edge.routes.3.origin: route /crawl/ would expose internal service 'crawler'"


@pytest.mark.parametrize(
    "name,value",
    [("VITE_OPENAI_API_KEY", "x"), ("VITE_ANALYTICS_ID", "sk-live-1234"), ("VITE_BLOB", "A" * 40)],
)
def test_secret_looking_vite_variable(spec, name, value):
    spec["services"]["website-agent"]["environment"][name] = value
    assert error_of(spec) == (
        f"stack.yaml: services.website-agent.environment.{name}: "
        "VITE_* variables are bundled into the browser client and must not hold secrets"
    )


def test_plain_vite_variable_is_fine(spec):
    spec["services"]["website-agent"]["environment"]["VITE_LOG_LEVEL"] = "debug"
    validate(spec)


def test_vite_variable_as_secret(spec):
    spec["services"]["website-agent"]["secrets"]["VITE_KEY"] = "website-agent:OPENAI_API_KEY"
    assert "services.website-agent.secrets.VITE_KEY: VITE_* variables" in error_of(spec)


def test_duplicate_service_ports(spec):
    spec["services"]["crawler"]["port"] = 5171
    assert error_of(spec) == "stack.yaml: services.crawler.port: 5171 is already used by services.website-agent"


def test_duplicate_published_ports(spec):
    spec["local"]["dependencies"]["mongo"]["publish"] = 8080
    assert error_of(spec) == "stack.yaml: local.dependencies.mongo.publish: 8080 is already published by edge.port"


def test_localstack_must_publish_a_port(spec):
    del spec["local"]["dependencies"]["localstack"]["publish"]
    assert error_of(spec) == (
        "stack.yaml: local.dependencies.localstack.publish: LocalStack must publish a port: the toolkit seeds it from the host"
    )


def test_fargate_size(spec):
    spec["services"]["crawler"]["memory"] = 1024
    assert error_of(spec) == (
        "stack.yaml: services.crawler.memory: 1024 MiB is not valid with cpu 2048 (Fargate allows 4096-16384 in steps of 1024)"
    )


def test_internal_service_needs_discovery_name(spec):
    del spec["services"]["crawler"]["discovery"]
    assert "services.crawler.discovery: an internal service needs a service-discovery name" in error_of(spec)


def test_ingress_from_unknown_service(spec):
    spec["services"]["crawler"]["ingress_from"] = ["web"]
    assert error_of(spec) == "stack.yaml: services.crawler.ingress_from: 'web' is not a service"


def test_secret_reference_forms(spec):
    spec["services"]["crawler"]["secrets"] = {"A": "crawler:A", "B": "huskit/shared/b"}
    stack = validate(spec)
    a, b = stack.services["crawler"].secrets["A"], stack.services["crawler"].secrets["B"]
    assert (stack.secret_name(a), a.key) == ("huskit/prod/crawler", "A")
    assert (stack.secret_name(b), b.key) == ("huskit/shared/b", None)


def test_deep_merge_semantics():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": 3}
    assert deep_merge(base, {"a": {"y": [3]}, "c": None, "d": 4}) == {"a": {"x": 1, "y": [3]}, "b": 1, "d": 4}


def test_unknown_environment():
    with pytest.raises(ConfigError) as exc:
        load_stack(ROOT, "qa")
    assert str(exc.value).startswith("unknown environment 'qa' (known: ")


def test_overlay_errors_name_both_files(tmp_path):
    shutil.copy(ROOT / "stack.yaml", tmp_path / "stack.yaml")
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "staging.yaml").write_text(yaml.safe_dump({"services": {"crawler": {"cpu": 3000}}}))
    with pytest.raises(ConfigError) as exc:
        load_stack(tmp_path, "staging")
    assert (
        str(exc.value)
        == "stack.yaml + deploy/staging.yaml: services.crawler.cpu: 3000 is not a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384)"
    )


def test_invalid_yaml(tmp_path):
    (tmp_path / "stack.yaml").write_text("services: [\n")
    with pytest.raises(ConfigError) as exc:
        load_stack(tmp_path)
    assert "is not valid YAML" in str(exc.value)


def test_cli_exits_2_with_one_line_before_running_anything(tmp_path):
    """A bad spec stops `inv up` with exit code 2 and one line, before Docker is touched."""
    shutil.copytree(
        ROOT, tmp_path / "repo", ignore=shutil.ignore_patterns("node_modules", ".git", "build", "__pycache__")
    )
    spec_file = tmp_path / "repo" / "stack.yaml"
    spec_file.write_text(spec_file.read_text().replace("    port: 4999\n", "    port: 4999\n    prot: 1\n"))
    env = {"PATH": "/nonexistent-so-docker-cannot-run", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "up"], cwd=tmp_path / "repo", capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: stack.yaml + deploy/local.yaml: services.crawler.prot: unknown key"


@pytest.mark.parametrize(
    ("cpu", "memory", "ok"),
    [
        (8192, 16384, True), (8192, 61440, True), (8192, 18432, False),
        (16384, 32768, True), (16384, 122880, True), (16384, 36864, False),
        (4096, 30720, True), (4096, 31744, False), (3000, 4096, False),
    ],
)  # fmt: skip
def test_fargate_sizes_are_exactly_the_valid_pairs(spec, cpu, memory, ok):
    spec["services"]["crawler"].update(cpu=cpu, memory=memory)
    if ok:
        validate(spec)
    else:
        assert "services.crawler." in error_of(spec)


@pytest.mark.parametrize("path", ["api/x", "/api/auth", "api/", "/api/*"])
def test_rate_limit_path_must_be_a_clean_prefix(spec, path):
    spec["edge"]["rate_limits"][1]["path"] = path
    assert error_of(spec).startswith("stack.yaml: edge.rate_limits.1.path: ")


def test_rate_limit_window_is_a_waf_window(spec):
    spec["edge"]["rate_limits"][0]["window"] = 3600
    assert (
        error_of(spec) == "stack.yaml: edge.rate_limits.0.window: 3600 s is not a WAF window (one of 60, 120, 300, 600)"
    )


def test_rate_limit_lowest_limit_is_wafs(spec):
    spec["edge"]["rate_limits"][0]["limit"] = 9
    assert error_of(spec).startswith("stack.yaml: edge.rate_limits.0.limit: ")


def test_allow_list_takes_cidrs(spec):
    spec["edge"]["allow_list"] = ["10.0.0.0/8", "not-an-ip"]
    assert error_of(spec).startswith("stack.yaml: edge.allow_list")


def test_rate_limit_path_is_lowercase_as_waf_compares_it(spec):
    spec["edge"]["rate_limits"][1]["path"] = "/api/Auth/"
    assert "capitals" in error_of(spec)


def _allow_listed(spec, allow_list, clients):
    spec["edge"]["allow_list"] = allow_list
    spec["local"]["allow_listed_clients"] = clients
    return spec


def test_allow_listed_clients_must_be_on_the_allow_list(spec):
    _allow_listed(spec, ["10.230.254.0/24"], "10.230.255.128/25")
    assert error_of(spec).startswith(
        "stack.yaml: local.allow_listed_clients: 10.230.255.128/25 is not on edge.allow_list"
    )


@pytest.mark.parametrize("allow_list", [["10.230.255.0/24"], ["10.0.0.0/8"], ["10.230.255.1/32", "10.230.255.128/25"]])
def test_allow_list_never_holds_the_host(spec, allow_list):
    # 10.230.255.1 is the clients' network gateway: the host's own address there.
    _allow_listed(spec, allow_list, "10.230.255.128/25")
    assert "10.230.255.1, the host's address" in error_of(spec)


def test_allow_listed_clients_valid(spec):
    from parity.spec.load import validate

    stack = validate(_allow_listed(spec, ["10.230.255.128/25"], "10.230.255.128/25"))
    assert stack.local.allow_listed_clients == "10.230.255.128/25"


def test_cpu_architecture_is_fargates(spec):
    spec["services"]["crawler"]["cpu_architecture"] = "amd64"
    assert error_of(spec).startswith("stack.yaml: services.crawler.cpu_architecture: ")


@pytest.mark.parametrize(
    "name",
    [
        "STRIPE_KEY",
        "WEBHOOK_SECRET",
        "GITHUB_TOKEN",
        "ADMIN_PASSWORD",
        "PASSWORD_HASH",
        "DATABASE_URL",
        "OPENAI_API_KEY",
        "AWS_ACCESS_KEY_ID",
    ],
)
def test_a_plain_value_with_a_secret_looking_name_is_refused(spec, name):
    spec["services"]["crawler"]["environment"][name] = "sk-live-value"
    msg = error_of(spec)
    assert msg.startswith(f"stack.yaml: services.crawler.environment.{name}: the name looks like a secret")
    assert "move it under services.crawler.secrets" in msg
    assert "sk-live-value" not in msg and "\n" not in msg


@pytest.mark.parametrize(
    "name",
    ["MAX_TOKENS", "KEYBOARD_LAYOUT", "CRAWLER_ALLOW_PRIVATE_NETWORKS", "DATABASE_POOL_SIZE", "MONGODB_DATABASE"],
)
def test_ordinary_names_are_not_secret_looking(spec, name):
    from parity.spec.models import looks_secret

    assert not looks_secret(name)


def test_a_deliberate_non_secret_is_accepted_when_marked(spec):
    spec["services"]["website-agent"]["environment"]["LANGFUSE_PUBLIC_KEY"] = "pk-lf-123"
    spec["services"]["website-agent"]["not_secret"] = ["LANGFUSE_PUBLIC_KEY"]
    assert validate(spec).services["website-agent"].environment["LANGFUSE_PUBLIC_KEY"] == "pk-lf-123"
    spec["services"]["website-agent"]["not_secret"] = ["LANGFUSE_PUBLIC_KEY", "NOPE"]
    assert (
        error_of(spec)
        == "stack.yaml: services.website-agent.not_secret: 'NOPE' is not under services.website-agent.environment"
    )


# -- deployment strategies (issue 20) --------------------------------------------------


def test_rolling_is_the_default_deployment():
    stack = load_stack(ROOT, "prod")
    assert stack.services["crawler"].deployment.strategy == "rolling"
    assert not stack.services["crawler"].deployment.gated


def test_a_gated_strategy_takes_ecs_defaults_and_needs_the_test_header(spec):
    spec["services"]["website-agent"]["deployment"] = {"strategy": "canary"}
    spec["edge"].pop("test_traffic", None)
    assert error_of(spec) == (
        "stack.yaml: services.website-agent.deployment.strategy: canary sends the new revision test traffic: "
        "set edge.test_traffic (its header and secret)"
    )
    spec["edge"]["test_traffic"] = {"header": "X-Test-Traffic", "secret": "edge-test:value"}
    # nothing renders a gated strategy yet: refused, never rolled silently instead
    assert error_of(spec) == (
        "stack.yaml: services.website-agent.deployment.strategy: canary is not deployed by this version yet: "
        "only rolling (README, Deployment strategies)"
    )
    canary = Deployment(strategy="canary").canary
    assert (canary.percent, canary.bake_minutes) == (5.0, 10)


def test_bad_deployment_settings_are_one_line_each(spec):
    spec["edge"]["test_traffic"] = {"header": "X-Test-Traffic", "secret": "edge-test:value"}
    web = spec["services"]["website-agent"]
    web["deployment"] = {"strategy": "linear", "linear": {"step_percent": 2.5}}
    assert error_of(spec) == (
        "stack.yaml: services.website-agent.deployment.linear.step_percent: Input should be greater than or equal to 3"
    )
    web["deployment"] = {"strategy": "canary", "canary": {"percent": 5.05}}
    assert error_of(spec) == (
        "stack.yaml: services.website-agent.deployment.canary.percent: a multiple of 0.1 (what ECS accepts), not 5.05"
    )
    web["deployment"] = {"strategy": "blue_green", "linear": {}}
    assert (
        error_of(spec)
        == "stack.yaml: services.website-agent.deployment.linear: only with strategy linear (not blue_green)"
    )
    web["deployment"] = {"strategy": "rolling"}
    spec["services"]["crawler"]["deployment"] = {"strategy": "blue_green"}
    assert error_of(spec) == (
        "stack.yaml: services.crawler.deployment.strategy: blue_green needs a load balancer's target groups "
        "(a public service); an internal one deploys rolling"
    )
    spec["services"]["crawler"]["deployment"] = {"strategy": "rolling"}
    spec["edge"]["test_traffic"]["header"] = "x-origin-verify"
    assert error_of(spec) == "stack.yaml: edge.test_traffic.header: X-Origin-Verify is the origin lock's header"
