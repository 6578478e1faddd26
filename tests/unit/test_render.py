"""Renderers are pure: the committed artefacts must equal what the spec renders,
and the properties production relies on are visible in them."""

import yaml

from parity.app.workspace import Workspace, rendered
from parity.render.common import offline_tag
from parity.render.compose import networks_of, render_compose, render_offline_override
from parity.render.edge import locations, render_edge
from parity.spec.load import load_stack, validate

from .conftest import ROOT


def stack():
    return load_stack(ROOT, "local")


def test_committed_artefacts_are_fresh():
    ws = Workspace(root=ROOT)
    for path, text in rendered(stack(), ws).items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run `inv render-local` and commit"


def test_crawler_is_isolated_like_its_security_group():
    compose = render_compose(stack())
    crawler = compose["services"]["crawler"]
    assert "ports" not in crawler
    assert crawler["networks"] == {"internal": {"aliases": ["crawler.internal"]}, "crawler-egress": {}}
    closed = {"internal": True, "driver_opts": {"com.docker.network.bridge.inhibit_ipv4": "true"}}
    assert compose["networks"]["internal"] == closed
    assert compose["networks"]["crawler-egress"] == closed
    assert compose["networks"]["public"] == {}
    nets = networks_of(stack())
    # mongo publishes a port for local tools, which a closed network cannot do
    assert nets["host-access"] == ["mongo"]
    assert nets["public"] == ["edge", "website-agent"]
    assert nets["internal"] == ["website-agent", "crawler"]
    assert not any("edge" in members and "crawler" in members for members in nets.values())


def test_fargate_sizes_become_limits_and_health_checks_match():
    services = render_compose(stack())["services"]
    assert services["website-agent"]["deploy"]["resources"]["limits"] == {"cpus": "1.00", "memory": "2048M"}
    assert services["crawler"]["deploy"]["resources"]["limits"] == {"cpus": "2.00", "memory": "4096M"}
    assert services["website-agent"]["deploy"]["replicas"] == 2
    assert services["crawler"]["healthcheck"] == {
        "test": ["CMD-SHELL", "python healthcheck.py"],
        "interval": "30s",
        "timeout": "10s",
        "retries": 3,
        "start_period": "45s",
    }


def test_secrets_are_listed_by_name_only():
    services = render_compose(stack())["services"]
    env = services["crawler"]["environment"]
    assert "MONGODB_URI" in env
    assert not any(e.startswith("MONGODB_URI=") for e in env)
    assert "PORT=4999" in env


def test_every_published_port_binds_loopback():
    for name, svc in render_compose(stack())["services"].items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_every_container_has_a_health_check():
    for name, svc in render_compose(stack())["services"].items():
        assert svc["healthcheck"]["test"][0] == "CMD-SHELL", name


def test_offline_override_swaps_every_upstream_image():
    override = render_offline_override(stack())["services"]
    assert override["website-agent"] == {"build": {"args": {"BASE_IMAGE": "parity-offline/node:22-bookworm-slim"}}}
    assert override["localstack"] == {"image": "parity-offline/localstack:4.14.0"}
    assert override["edge"] == {"image": "parity-offline/nginx:1.27-alpine"}
    assert offline_tag("motoserver/moto:5.2.5") == "parity-offline/moto:5.2.5"
    assert offline_tag("registry:2") == "parity-offline/registry:2"


def test_localstack_image_pinned_but_overridable():
    image = render_compose(stack())["services"]["localstack"]["image"]
    assert image == "${PARITY_LOCALSTACK_IMAGE:-localstack/localstack:4.14.0}"


def test_edge_has_alb_idle_timeout_and_no_buffering():
    conf = render_edge(stack())
    assert "proxy_read_timeout 300s;" in conf
    assert "proxy_buffering off;" in conf
    assert "proxy_ignore_headers X-Accel-Buffering" in conf
    assert "gzip off;" in conf
    assert "resolver 127.0.0.11" in conf


def test_edge_rate_limits_count_every_matching_rule():
    conf = render_edge(stack())
    assert "limit_req_zone $waf_client zone=waf_0:10m rate=20r/m;" in conf
    assert "limit_req_zone $waf_client zone=waf_1:10m rate=4r/m;" in conf
    assert "limit_req_status 429;" in conf
    by_path = {loc.path: loc for loc in locations(stack())}
    assert [rl.path for _, rl in by_path["/api/auth/"].limits] == ["/api/", "/api/auth/"]
    assert [rl.path for _, rl in by_path["/api/"].limits] == ["/api/"]
    assert by_path["/"].limits == ()
    assert by_path["/assets/"].route.origin == "s3"


def test_allow_listed_clients_are_never_counted_and_everyone_else_is(spec):
    spec["edge"]["allow_list"] = ["10.1.2.0/24", "192.0.2.7/32"]
    conf = render_edge(validate(spec))
    geo = conf.split("geo $waf_allowed {", 1)[1].split("}", 1)[0].split()
    assert geo == ["default", "0;", "10.1.2.0/24", "1;", "192.0.2.7/32", "1;"]
    key = conf.split("map $waf_allowed $waf_client {", 1)[1].split("}", 1)[0].split()
    # an empty key is not counted by limit_req; any other client is keyed by its address
    assert key == ["1", '"";', "default", "$binary_remote_addr;"]
    spec["edge"]["allow_list"] = []
    assert "        default 0;\n    }" in render_edge(validate(spec))


def test_allow_listed_clients_get_a_network_whose_gateway_is_not_allow_listed(spec):
    import ipaddress

    s = stack()
    net = render_compose(s)["networks"]["edge-clients"]["ipam"]["config"][0]
    assert net == {"subnet": "10.250.77.0/24", "ip_range": "10.250.77.128/25", "gateway": "10.250.77.1"}
    assert networks_of(s)["edge-clients"] == ["edge"]
    for cidr, gateway in [("10.9.0.0/25", "10.9.0.254"), ("10.9.0.128/25", "10.9.0.1")]:
        spec["edge"]["allow_list"] = ["52.28.0.0/24", cidr]  # a public CIDR is a WAF-only entry
        ipam = render_compose(validate(spec))["networks"]["edge-clients"]["ipam"]["config"][0]
        assert (ipam["ip_range"], ipam["gateway"]) == (cidr, gateway)
        assert ipaddress.ip_address(gateway) not in ipaddress.ip_network(cidr)
    spec["edge"]["allow_list"] = ["52.28.0.0/24"]
    assert "edge-clients" not in render_compose(validate(spec))["networks"]


def test_edge_connection_table_is_not_the_limit_of_the_bench():
    # each proxied stream holds two connections; one worker may take all 8,000 streams
    assert "worker_connections 16384;" in render_edge(stack())


def test_edge_s3_behaviour_goes_to_the_bucket(spec):
    spec["edge"]["bucket"] = "other-bucket"
    conf = render_edge(validate(spec))
    assert "proxy_pass http://$s3_origin/other-bucket$uri;" in conf
    assert "proxy_cache cdn;" in conf


def test_route_to_a_new_public_service_renders(spec):
    spec["services"]["docs"] = {
        **spec["services"]["website-agent"],
        "port": 8000,
        "desired_count": 1,
    }
    spec["edge"]["routes"].insert(0, {"path": "/docs/", "origin": "docs"})
    conf = render_edge(validate(spec))
    assert "set $origin_docs docs:8000;" in conf


def test_localstack_token_selects_the_newer_image():
    from parity.app.local_stack import compose_settings

    s = stack()
    assert compose_settings(s, Workspace(root=ROOT)) == {}
    assert compose_settings(s, Workspace(root=ROOT, localstack_token=True)) == {
        "PARITY_LOCALSTACK_IMAGE": "localstack/localstack:latest"
    }
    # offline, or an explicit choice, wins
    assert compose_settings(s, Workspace(root=ROOT, localstack_token=True, offline=True)) == {}
    assert compose_settings(s, Workspace(root=ROOT, localstack_token=True, localstack_image="x")) == {}


def test_dollar_signs_reach_the_container_unchanged():
    """Compose interpolates $NAME, ECS does not: the compose file doubles every $."""
    from parity.spec.load import validate

    data = yaml.safe_load((ROOT / "stack.yaml").read_text())
    data["services"]["crawler"]["environment"]["GREETING"] = "pa$word ${HOME} $$"
    data["services"]["crawler"]["health"]["command"] = 'test "$PORT" = 4999'
    crawler = render_compose(validate(data))["services"]["crawler"]
    assert "GREETING=pa$$word $${HOME} $$$$" in crawler["environment"]
    assert crawler["healthcheck"]["test"] == ["CMD-SHELL", 'test "$$PORT" = 4999']
