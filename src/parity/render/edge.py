"""Render the local edge: nginx behaving like CloudFront + WAF + the ALB.

- CloudFront behaviours: each route is a location; ``s3`` routes are served
  from the bucket in LocalStack and cached at the edge, the others go to the
  ALB uncached with every viewer header forwarded.
- WAF rate-based rules: ``limit_req`` per client IP, answering 429. A request
  counts against every rule whose path prefix it matches, as in WAF. Clients
  in ``edge.allow_list`` (a WAF IP-set Allow rule) are never counted: their
  limit key is empty, which nginx does not count.
- Capacity: CloudFront and the ALB hold tens of thousands of open streams, so
  the edge's connection table is sized well above what the bench opens
  (each proxied stream holds two connections) rather than being the limit.
- ALB: the idle timeout bounds reads and sends; responses are streamed (no
  buffering, no compression), and nginx's own ``X-Accel-*`` controls are
  ignored because neither CloudFront nor the ALB honours them; targets are
  re-resolved through Docker's DNS as containers come and go; ``X-Forwarded-*``
  headers are set as the ALB sets them.
"""

from __future__ import annotations

from dataclasses import dataclass

from parity.render.common import HEADER
from parity.spec.models import RateLimit, Route, Stack

DOCKER_DNS = "127.0.0.11"
HEALTH_PATH = "/__edge/health"
# Per worker, within the container's open-file limit (Docker's default, 20000 on the
# build machines; Fargate's is 65535): 8,000 proxied streams if one worker takes them all.
WORKER_CONNECTIONS = 16384
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


WAF_KEY = "$waf_client"


def _allow_list(stack: Stack) -> list[str]:
    """The WAF IP-set Allow rule: allow-listed clients get an empty limit key,
    which ``limit_req`` does not count; everyone else is keyed by address."""
    lines = ["    # WAF IP-set allow rule (edge.allow_list): these clients are never rate-counted."]
    lines.append("    geo $waf_allowed {")
    lines.append("        default 0;")
    lines += [f"        {cidr} 1;" for cidr in stack.edge.allow_list]
    lines.append("    }")
    lines.append(f"    map $waf_allowed {WAF_KEY} {{")
    lines.append("        1 \"\";")
    lines.append("        default $binary_remote_addr;")
    lines.append("    }")
    return [*lines, ""]


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


def _alb_block(stack: Stack, loc: Location) -> list[str]:
    svc = stack.services[loc.route.origin]
    var = "$origin_" + loc.route.origin.replace("-", "_")
    return [f"set {var} {loc.route.origin}:{svc.port};", f"proxy_pass http://{var};"]


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
        f"    worker_connections {WORKER_CONNECTIONS};",
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
        "    # CloudFront's cache, used by the S3 behaviours only.",
        "    proxy_cache_path /tmp/edge-cache levels=1:2 keys_zone=cdn:10m max_size=256m inactive=1d use_temp_path=off;",
        "",
    ]
    if edge.rate_limits:
        out += _allow_list(stack)
        out.append("    # WAF rate-based rules, per client IP.")
        for i, rl in enumerate(edge.rate_limits):
            out.append(f"    # {rl.path}*: {rl.limit} requests per {rl.window} s")
            out.append(f"    limit_req_zone {WAF_KEY} zone={_zone(i)}:10m rate={_rate(rl)};")
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
