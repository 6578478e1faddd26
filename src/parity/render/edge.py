"""Render the local edge: nginx behaving like CloudFront + WAF + the ALB.

- CloudFront behaviours: each route is a location; ``s3`` routes are served
  from the bucket in LocalStack and cached at the edge, the others go to the
  ALB uncached with every viewer header forwarded.
- WAF rate-based rules: ``limit_req`` per client IP, answering 429. A request
  counts against every rule whose path prefix it matches, as in WAF.
- ALB: the idle timeout bounds reads and sends; responses are streamed (no
  buffering, no compression), and nginx's own ``X-Accel-*`` controls are
  ignored because neither CloudFront nor the ALB honours them;
  ``X-Forwarded-*`` headers are set as the ALB sets them.
- ALB target groups: one ``upstream`` per public service whose members are
  registered at run time (``targets/<service>.conf``, written by the rolling
  replacement, then a graceful ``nginx -s reload``: new requests go to the new
  members while the old workers finish what is in flight, like a deregistering
  target). Until the first registration the edge's start command puts every
  replica in, by the service's DNS name. ``/__edge/targets/<service>`` answers the
  registered members, so "the edge routes to them" is observed, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

from parity.render.common import HEADER
from parity.spec.models import RateLimit, Route, Stack

DOCKER_DNS = "127.0.0.11"
HEALTH_PATH = "/__edge/health"
TARGETS_PATH = "/__edge/targets"
TARGETS_DIR = "/etc/nginx/targets"
S3_HOST = "localstack:4566"


@dataclass(frozen=True)
class Location:
    path: str
    route: Route
    limits: tuple[tuple[int, RateLimit], ...]


def locations(stack: Stack) -> list[Location]:
    """One location per route path and per rate-limited path, each with the
    route that serves it (longest prefix) and the rules that count it."""
    routes = sorted(stack.edge.routes, key=lambda r: len(r.path), reverse=True)
    paths = sorted({r.path for r in routes} | {rl.path for rl in stack.edge.rate_limits})
    out = []
    for path in paths:
        route = next(r for r in routes if path.startswith(r.path))
        limits = tuple((i, rl) for i, rl in enumerate(stack.edge.rate_limits) if path.startswith(rl.path))
        out.append(Location(path, route, limits))
    return out


def _zone(i: int) -> str:
    return f"waf_{i}"


def _rate(rl: RateLimit) -> str:
    per_minute = rl.limit * 60 / rl.window
    if per_minute >= 1 and per_minute == int(per_minute):
        return f"{int(per_minute)}r/m"
    return f"{max(1, round(rl.limit * 3600 / rl.window))}r/h" if per_minute < 1 else f"{round(per_minute)}r/m"


def _s3_block(stack: Stack, loc: Location) -> list[str]:
    lines = [
        "limit_except GET HEAD { deny all; }",
        f"set $s3_origin {S3_HOST};",
        f"proxy_pass http://$s3_origin/{stack.edge.bucket}$uri;",
        "proxy_http_version 1.1;",
        "proxy_buffering on;",
        "proxy_set_header Host $s3_origin;",
        "proxy_set_header Connection \"\";",
        "proxy_set_header Cookie \"\";",
        "proxy_set_header Authorization \"\";",
        "proxy_hide_header x-amz-request-id;",
        "proxy_hide_header x-amz-id-2;",
        "proxy_hide_header Set-Cookie;",
        "proxy_ignore_headers Set-Cookie;",
        "proxy_read_timeout 30s;",
        "proxy_cache cdn;",
        "proxy_cache_key $uri;",
        "proxy_cache_valid 200 1d;",
        "proxy_cache_valid 403 404 10s;",
        "add_header X-Cache \"$upstream_cache_status from edge\" always;",
    ]
    return lines


def _alb_defaults(stack: Stack) -> list[str]:
    """Proxy settings of the ALB behaviours, set once at server level; the S3
    behaviour overrides what differs (nginx does not merge header lists)."""
    idle = stack.edge.idle_timeout
    return [
        "proxy_http_version 1.1;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        f"proxy_set_header X-Forwarded-Port {stack.edge.port};",
        "proxy_set_header X-Amzn-Trace-Id \"Root=1-$request_id\";",
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        "proxy_cache off;",
        "proxy_ignore_headers X-Accel-Buffering X-Accel-Expires X-Accel-Limit-Rate X-Accel-Redirect X-Accel-Charset;",
        "proxy_connect_timeout 10s;",
        f"proxy_read_timeout {idle}s;",
        f"proxy_send_timeout {idle}s;",
    ]


def target_group(service: str) -> str:
    """The nginx upstream standing for a service's ALB target group."""
    return "tg_" + service.replace("-", "_")


def _alb_block(stack: Stack, loc: Location) -> list[str]:
    return [f"proxy_pass http://{target_group(loc.route.origin)};"]


def render_targets(port: int, addresses: list[str]) -> str:
    """The members of one target group (the body of its upstream block)."""
    return "".join(f"server {a}:{port};\n" for a in sorted(addresses))


def render_registered(addresses: list[str]) -> str:
    """What ``/__edge/targets/<service>`` answers: the registered addresses."""
    return f'return 200 "{",".join(sorted(addresses))}\\n";\n'


def default_targets(stack: Stack) -> dict[str, str]:
    """Target files the edge writes when it starts: every replica, by DNS name
    (nginx resolves it to all of them at load time)."""
    files = {}
    for s in _origins(stack):
        files[f"{s}.conf"] = f"server {s}:{stack.services[s].port};\n"
        files[f"{s}.registered"] = 'return 200 "default\\n";\n'
    return files


def _origins(stack: Stack) -> list[str]:
    return sorted({r.origin for r in stack.edge.routes if r.origin != "s3"})


def edge_command(stack: Stack) -> list[str]:
    """The edge's start command: the default target files, then nginx."""
    writes = " && ".join(
        f"printf '%s\\n' '{body.strip()}' > {TARGETS_DIR}/{name}" for name, body in default_targets(stack).items()
    )
    return ["sh", "-c", f"mkdir -p {TARGETS_DIR} && {writes} && exec nginx -g 'daemon off;'"]


def render_edge(stack: Stack) -> str:
    """The complete nginx.conf of the local edge."""
    edge = stack.edge
    out: list[str] = [
        HEADER.format(source="stack.yaml").rstrip(),
        "# The local edge: CloudFront (behaviours, WAF) + the ALB, in one nginx.",
        "worker_processes auto;",
        "error_log /dev/stderr warn;",
        "pid /tmp/nginx.pid;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        "http {",
        "    include /etc/nginx/mime.types;",
        "    default_type application/octet-stream;",
        "    server_tokens off;",
        "    sendfile on;",
        "    tcp_nodelay on;",
        "    gzip off;",
        f"    resolver {DOCKER_DNS} valid=5s ipv6=off;",
        "    log_format edge '$remote_addr \"$request\" $status $body_bytes_sent $request_time'",
        "                    ' upstream=$upstream_addr cache=$upstream_cache_status';",
        "    access_log /dev/stdout edge;",
        "",
        f"    # ALB idle timeout: {edge.idle_timeout} s.",
        f"    keepalive_timeout {edge.idle_timeout}s;",
        f"    client_body_timeout {edge.idle_timeout}s;",
        f"    send_timeout {edge.idle_timeout}s;",
        "    client_max_body_size 10m;",
        "",
        "    map $http_upgrade $connection_upgrade {",
        "        default upgrade;",
        "        ''      '';",
        "    }",
        "",
        "    # ALB target groups: members registered at run time (see the module docstring).",
        *[
            line
            for origin in _origins(stack)
            for line in (
                f"    upstream {target_group(origin)} {{",
                f"        include {TARGETS_DIR}/{origin}.conf;",
                "    }",
            )
        ],
        "",
        "    # CloudFront's cache, used by the S3 behaviours only.",
        "    proxy_cache_path /tmp/edge-cache levels=1:2 keys_zone=cdn:10m max_size=256m inactive=1d use_temp_path=off;",
        "",
    ]
    if edge.rate_limits:
        out.append("    # WAF rate-based rules, per client IP.")
        for i, rl in enumerate(edge.rate_limits):
            out.append(f"    # {rl.path}*: {rl.limit} requests per {rl.window} s")
            out.append(f"    limit_req_zone $binary_remote_addr zone={_zone(i)}:10m rate={_rate(rl)};")
        out += ["    limit_req_status 429;", "    limit_req_log_level warn;", ""]
    out += [
        "    server {",
        "        listen 80;",
        "        server_name _;",
        "",
        f"        location = {HEALTH_PATH} {{",
        "            access_log off;",
        "            default_type text/plain;",
        "            return 200 \"ok\\n\";",
        "        }",
        "",
        *[
            line
            for origin in _origins(stack)
            for line in (
                f"        location = {TARGETS_PATH}/{origin} {{",
                "            access_log off;",
                "            default_type text/plain;",
                f"            include {TARGETS_DIR}/{origin}.registered;",
                "        }",
                "",
            )
        ],
        "        # ALB behaviour, inherited by every route to a service.",
        *[f"        {line}" for line in _alb_defaults(stack)],
    ]
    for loc in locations(stack):
        origin = "S3 bucket " + edge.bucket if loc.route.origin == "s3" else f"ALB -> {loc.route.origin}"
        out += ["", f"        # {loc.path}* -> {origin}, cache: {loc.route.cache}", f"        location {loc.path} {{"]
        for i, rl in loc.limits:
            # burst = limit - 1: the first `limit` requests of a window pass at once.
            out.append(f"            limit_req zone={_zone(i)} burst={rl.limit - 1} nodelay;")
        block = _s3_block(stack, loc) if loc.route.origin == "s3" else _alb_block(stack, loc)
        out += [f"            {line}" for line in block]
        out.append("        }")
    out += ["    }", "}", ""]
    return "\n".join(out)
