"""Renderers are pure: the committed artefacts must equal what the spec renders,
and the properties production relies on are visible in them."""

import yaml

from parity.app.workspace import Workspace, rendered
from parity.render.common import offline_tag
from parity.render.compose import networks_of, render_compose, render_offline_override
from parity.render.edge import default_targets, locations, render_edge, render_registered, render_targets
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
    assert "keepalive_timeout 300s;" in conf
    assert "proxy_send_timeout 300s;" in conf
    assert "proxy_buffering off;" in conf
    assert "proxy_ignore_headers X-Accel-Buffering" in conf
    assert "gzip off;" in conf
    assert "resolver 127.0.0.11" in conf


def _server(conf: str, listen: str) -> str:
    """The server block of the edge that listens on ``listen``."""
    start = conf.index(f"        listen {listen}")
    start = conf.rindex("    server {", 0, start)
    end = conf.find("\n    server {", start + 1)
    return conf[start : end if end > 0 else len(conf)]


def test_edge_waits_cloudfronts_origin_response_timeout_without_retrying(spec):
    spec["edge"]["origin_response_timeout"] = 45
    conf = render_edge(validate(spec))
    cloudfront, alb = _server(conf, "80 reuseport"), _server(conf, "81 reuseport")
    # between two reads (first byte included), on every behaviour; then 504, not another try
    assert cloudfront.count("proxy_read_timeout 45s;") == len(spec["edge"]["routes"])
    assert "proxy_read_timeout 300s;" not in cloudfront
    assert "proxy_next_upstream off;" in cloudfront
    # the ALB waits its idle timeout for a target
    assert "proxy_read_timeout 300s;" in alb and "proxy_next_upstream error;" in alb


def test_edge_appends_viewer_then_cloudfront_to_x_forwarded_for():
    conf = render_edge(stack())
    # CloudFront appends the viewer, the ALB appends CloudFront (the CloudFront part's address)
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in _server(conf, "80 reuseport")
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in _server(conf, "81 reuseport")
    assert "server 127.0.0.1:81;" in conf


def test_edge_rate_limits_count_every_matching_rule_case_insensitively():
    conf = render_edge(stack())
    assert "limit_req_zone $waf_0_key zone=waf_0:10m rate=20r/m;" in conf
    assert "limit_req_zone $waf_1_key zone=waf_1:10m rate=4r/m;" in conf
    # WAF: STARTS_WITH on the lowercased raw path, for clients not on the allow-list
    assert 'map "$waf_allowed:$request_uri" $waf_1_key {\n        "~*^0:/api/auth/" $binary_remote_addr;' in conf
    assert "limit_req_status 429;" in conf
    # every rule at server level, so every behaviour (location) is counted, and none overrides it
    server = conf[conf.index("server {") :]
    first_location = server.index("location /")
    assert server.index("limit_req zone=waf_0 burst=99 nodelay;") < first_location
    assert server.index("limit_req zone=waf_1 burst=19 nodelay;") < first_location
    assert server.count("limit_req ") == 2
    assert [loc.path for loc in locations(stack())] == ["/", "/api/", "/assets/"]


def test_edge_allow_list_is_never_counted(spec):
    spec["edge"]["allow_list"] = ["10.230.255.128/25", "192.0.2.0/24"]
    conf = render_edge(validate(spec))
    assert (
        "geo $waf_allowed {\n        default 0;\n        10.230.255.128/25 1;\n        192.0.2.0/24 1;\n    }" in conf
    )
    assert '"~*^1:' not in conf  # an allow-listed key never matches a rule


def test_edge_waf_match_is_a_literal_prefix():
    from parity.render.edge import waf_match

    assert waf_match("/api/v1.2/") == '"~*^0:/api/v1\\.2/"'
    import pytest

    with pytest.raises(ValueError):
        waf_match('/a"b/')


def test_allow_listed_clients_get_a_network_without_the_host():
    compose = render_compose(stack())
    assert compose["networks"]["allow-listed-clients"] == {
        "ipam": {"config": [{"subnet": "10.230.255.0/24", "ip_range": "10.230.255.128/25", "gateway": "10.230.255.1"}]}
    }
    assert "allow-listed-clients" in compose["services"]["edge"]["networks"]
    assert networks_of(stack())["allow-listed-clients"] == ["edge"]


def test_edge_connection_table_is_not_the_limit_of_the_bench():
    # each proxied stream holds two connections; one worker may take all 8,000 streams
    assert "worker_connections 16384;" in render_edge(stack())


def test_edge_s3_behaviour_goes_to_the_bucket(spec):
    spec["edge"]["bucket"] = "other-bucket"
    conf = render_edge(validate(spec))
    assert "proxy_pass http://$s3_origin/other-bucket$edge_raw_path;" in conf
    assert "proxy_cache cdn;" in conf


def test_edge_s3_behaviour_forwards_the_raw_path_never_the_decoded_one():
    """$uri is decoded: with a variable in proxy_pass an encoded CR LF would go
    out as a second request (tests/integration/test_edge_fuzz.py proves it)."""
    conf = render_edge(stack())
    s3 = conf[conf.index("location /assets/ {") :]
    s3 = s3[: s3.index("\n        }\n")]
    assert "$uri" not in s3
    assert 'map $request_uri $edge_raw_path {\n        "~^(?<edge_path>[^?]*)" $edge_path;' in conf
    assert 'if ($edge_raw_path !~ "^/assets/") { return 400; }' in s3


def test_route_to_a_new_public_service_renders(spec):
    spec["services"]["docs"] = {
        **spec["services"]["website-agent"],
        "port": 8000,
        "desired_count": 1,
    }
    spec["edge"]["routes"].insert(0, {"path": "/docs/", "origin": "docs"})
    stack_ = validate(spec)
    conf = render_edge(stack_)
    assert "upstream tg_docs {\n        include /etc/nginx/targets/docs.conf;\n    }" in conf
    assert "location /docs/ {\n            proxy_pass http://tg_docs;" in conf
    assert "location = /__edge/targets/docs {" in conf
    assert default_targets(stack_)["docs.conf"] == "server docs:8000;\n"


def test_target_group_members_and_what_the_edge_answers():
    assert render_targets(5171, ["172.18.0.9", "172.18.0.10"]) == "server 172.18.0.10:5171;\nserver 172.18.0.9:5171;\n"
    assert render_registered(["172.18.0.9", "172.18.0.10"]) == 'return 200 "172.18.0.10,172.18.0.9\\n";\n'


def test_edge_starts_with_every_replica_by_name_until_registration():
    command = render_compose(stack())["services"]["edge"]["command"]
    assert command[:2] == ["sh", "-c"]
    assert "printf '%s\\n' 'server website-agent:5171;' > /etc/nginx/targets/website-agent.conf" in command[2]
    assert command[2].endswith("exec nginx -g 'daemon off;'")


def test_localstack_token_selects_the_newer_image():
    from parity.app.local.local_stack import compose_settings

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


def test_the_edge_admin_surface_listens_on_the_containers_loopback_only():
    conf = render_edge(stack())
    viewer, alb = _server(conf, "80 reuseport"), _server(conf, "81 reuseport")
    admin = _server(conf, "127.0.0.1:8081")
    assert "__edge" not in viewer and "__edge" not in alb
    assert "location = /__edge/health {" in admin and "location = /__edge/targets/website-agent {" in admin
    health = render_compose(stack())["services"]["edge"]["healthcheck"]["test"][1]
    assert health == "wget -q -O /dev/null http://127.0.0.1:8081/__edge/health"
    # published: the viewer's port only
    assert render_compose(stack())["services"]["edge"]["ports"] == ["127.0.0.1:8080:80"]


def test_the_alb_part_requires_the_origin_lock_and_cloudfront_adds_it():
    conf = render_edge(stack())
    viewer, alb = _server(conf, "80 reuseport"), _server(conf, "81 reuseport")
    assert 'if ($origin_verified = 0) { return 403 "Forbidden\\n"; }' in alb
    assert viewer.count("proxy_set_header X-Origin-Verify $origin_verify_value;") == 2  # each ALB behaviour
    assert (
        "map $http_x_origin_verify $origin_verified {\n        default 0;\n        include /etc/nginx/origin-lock/accepted.conf;"
        in conf
    )
    # the Host the app gets: the origin's name; X-Forwarded-Host: PUBLIC_URL's host
    assert viewer.count("proxy_set_header Host alb.internal;") == 2
    assert viewer.count("proxy_set_header X-Forwarded-Host 127.0.0.1:8080;") == 2


def test_the_edge_gets_the_secret_by_name_and_compose_never_interpolates_it():
    edge = render_compose(stack())["services"]["edge"]
    assert edge["environment"] == ["EDGE_ORIGIN_VERIFY", "EDGE_ORIGIN_VERIFY_PREVIOUS"]
    script = edge["command"][2]
    assert '"$$EDGE_ORIGIN_VERIFY"' in script and '"$EDGE_ORIGIN_VERIFY"' not in script.replace("$$", "")
    assert "./edge/waf.js:/etc/nginx/waf.js:ro" in edge["volumes"]
    assert len(edge["labels"]["parity.config"]) == 16


def test_every_behaviour_runs_the_waf_then_its_origin_with_the_response_headers(spec):
    conf = render_edge(stack())
    viewer = _server(conf, "80 reuseport")
    assert viewer.count("js_content waf.screen;") == 3
    for name, value in stack().edge.response_headers.items():
        assert viewer.count(f'add_header {name} "{value}" always;') == 3, name
    assert viewer.count('add_header Cross-Origin-Embedder-Policy "require-corp" always;') == 1  # the s3 behaviour
    # without managed rules: no njs, straight to the origin
    spec["edge"].pop("managed_rules")
    plain = render_edge(validate(spec))
    assert "load_module" not in plain and "js_content" not in plain and plain.count("try_files /nonexistent @cf_") == 3
