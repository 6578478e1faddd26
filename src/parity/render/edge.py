"""Render the local edge: nginx behaving like CloudFront + WAF + the ALB.

- CloudFront behaviours: each route is a location; ``s3`` routes are served
  from the bucket in LocalStack and cached at the edge, the others go to the
  ALB uncached with every viewer header forwarded.
- WAF rate-based rules: ``limit_req`` per client IP, answering 429. As in WAF,
  a request counts against every rule whose prefix its path starts with
  after a LOWERCASE transformation (the raw path, before any normalisation),
  whichever behaviour then serves it; locations (behaviours) stay
  case-sensitive, as CloudFront's path patterns are. Clients on the
  allow-list (WAF's IP-set Allow rule, evaluated first) are never counted.
- CloudFront's origin response timeout bounds the wait for the first byte and
  between bytes (504 before any byte, a cut stream after); a timed-out request
  is not retried on another target.
- ALB: the idle timeout bounds sends and keep-alives; responses are streamed
  (no buffering, no compression), and nginx's own ``X-Accel-*`` controls are
  ignored because neither CloudFront nor the ALB honours them;
  ``X-Forwarded-*`` headers are set as CloudFront and then the ALB set them (each appends its
  peer to ``X-Forwarded-For``: the viewer, then CloudFront).
- ALB target groups: one ``upstream`` per public service whose members are
  registered at run time (``targets/<service>.conf``, written by the rolling
  replacement, then a graceful ``nginx -s reload``: new requests go to the new
  members while the old workers finish what is in flight, like a deregistering
  target). Until the first registration the edge's start command puts every
  replica in, by the service's DNS name. ``/__edge/targets/<service>`` answers the
  registered members, so "the edge routes to them" is observed, not assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parity.render.common import HEADER
from parity.spec.models import RateLimit, Route, Stack

DOCKER_DNS = "127.0.0.11"
HEALTH_PATH = "/__edge/health"
# Per worker, within the container's open-file limit (Docker's default, 20000 on the
# build machines; Fargate's is 65535): 8,000 proxied streams if one worker takes them all.
WORKER_CONNECTIONS = 16384
TARGETS_PATH = "/__edge/targets"
TARGETS_DIR = "/etc/nginx/targets"
S3_HOST = "localstack:4566"


@dataclass(frozen=True)
class Location:
    path: str
    route: Route


def locations(stack: Stack) -> list[Location]:
    """One location per route (CloudFront behaviour), by path. Rate-based rules
    are not locations: WAF counts a request whichever behaviour serves it."""
    return [Location(r.path, r) for r in sorted(stack.edge.routes, key=lambda r: r.path)]


def _zone(i: int) -> str:
    return f"waf_{i}"


_SAFE_PREFIX = re.compile(r"[A-Za-z0-9._~/-]+")


def waf_match(prefix: str) -> str:
    """The map pattern of a rate rule's scope-down: the raw request path, not
    on the allow-list (``0:``), starting with ``prefix`` case-insensitively
    (WAF: STARTS_WITH on the LOWERCASE-transformed UriPath)."""
    if not _SAFE_PREFIX.fullmatch(prefix):
        raise ValueError(f"rate-limit path {prefix!r} has characters the edge cannot match literally")
    return '"~*^0:' + re.escape(prefix) + '"'


def _rate(rl: RateLimit) -> str:
    per_minute = rl.limit * 60 / rl.window
    if per_minute >= 1 and per_minute == int(per_minute):
        return f"{int(per_minute)}r/m"
    return f"{max(1, round(rl.limit * 3600 / rl.window))}r/h" if per_minute < 1 else f"{round(per_minute)}r/m"


RAW_PATH = "$edge_raw_path"  # the path as the viewer sent it: still percent-encoded, never normalised


def _s3_block(stack: Stack, loc: Location) -> list[str]:
    # A variable in proxy_pass makes nginx send the URI as written, and $uri is
    # decoded (an encoded CR LF would become a second request to the origin):
    # the upstream path is built from the raw request path instead. A raw path
    # outside this behaviour's prefix (dot segments, doubled slashes that nginx
    # normalised into it) is refused before anything reaches the origin.
    return [
        "limit_except GET HEAD { deny all; }",
        f'if ({RAW_PATH} !~ "^{_literal_prefix(loc.path)}") {{ return 400; }}',
        f"set $s3_origin {S3_HOST};",
        f"proxy_pass http://$s3_origin/{stack.edge.bucket}{RAW_PATH};",
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
        f"proxy_read_timeout {stack.edge.origin_response_timeout}s;",
        "proxy_cache cdn;",
        f"proxy_cache_key {RAW_PATH};",
        "proxy_cache_valid 200 1d;",
        "proxy_cache_valid 403 404 10s;",
        "add_header X-Cache \"$upstream_cache_status from edge\" always;",
    ]


def _literal_prefix(path: str) -> str:
    if not _SAFE_PREFIX.fullmatch(path):
        raise ValueError(f"route path {path!r} has characters the edge cannot match literally")
    return re.escape(path)


def _alb_defaults(stack: Stack) -> list[str]:
    """Proxy settings of the ALB behaviours, set once at server level; the S3
    behaviour overrides what differs (nginx does not merge header lists)."""
    idle = stack.edge.idle_timeout
    # CloudFront gives up first: its timeout is shorter than the ALB's idle timeout.
    read = min(stack.edge.origin_response_timeout, idle)
    return [
        "proxy_http_version 1.1;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        # CloudFront appends the viewer, the ALB appends CloudFront ($server_addr stands for it).
        "proxy_set_header X-Forwarded-For \"$proxy_add_x_forwarded_for, $server_addr\";",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        f"proxy_set_header X-Forwarded-Port {stack.edge.port};",
        "proxy_set_header X-Amzn-Trace-Id \"Root=1-$request_id\";",
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        "proxy_cache off;",
        "proxy_ignore_headers X-Accel-Buffering X-Accel-Expires X-Accel-Limit-Rate X-Accel-Redirect X-Accel-Charset;",
        "proxy_connect_timeout 10s;",
        f"proxy_read_timeout {read}s;",
        f"proxy_send_timeout {idle}s;",
        # A target that does not answer in time is a 504, not a second try on the other replica.
        "proxy_next_upstream error;",
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
        files[f"{s}.conf"] = render_targets(stack.services[s].port, [s])
        files[f"{s}.registered"] = render_registered(["default"])
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
        f"    map $request_uri {RAW_PATH} {{",
        '        "~^(?<edge_path>[^?]*)" $edge_path;',
        "    }",
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
        out += [
            "    # WAF IP-set Allow rule (evaluated before the rate rules): never counted.",
            "    geo $waf_allowed {",
            "        default 0;",
            *[f"        {cidr} 1;" for cidr in edge.allow_list],
            "    }",
            "",
            "    # WAF rate-based rules, per client IP. A rule counts a request (key = its",
            "    # address) when the raw path, lowercased, starts with the rule's prefix;",
            "    # an empty key is not counted.",
        ]
        for i, rl in enumerate(edge.rate_limits):
            out += [
                f"    # {rl.path}*: {rl.limit} requests per {rl.window} s",
                f"    map \"$waf_allowed:$request_uri\" ${_zone(i)}_key {{",
                f"        {waf_match(rl.path)} $binary_remote_addr;",
                "        default \"\";",
                "    }",
                f"    limit_req_zone ${_zone(i)}_key zone={_zone(i)}:10m rate={_rate(rl)};",
            ]
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
    if edge.rate_limits:
        out += ["", "        # WAF: every rule sees every request (inherited by every location)."]
        for i, rl in enumerate(edge.rate_limits):
            # burst = limit - 1: the first `limit` requests of a window pass at once.
            out.append(f"        limit_req zone={_zone(i)} burst={rl.limit - 1} nodelay;")
    for loc in locations(stack):
        origin = "S3 bucket " + edge.bucket if loc.route.origin == "s3" else f"ALB -> {loc.route.origin}"
        out += ["", f"        # {loc.path}* -> {origin}, cache: {loc.route.cache}", f"        location {loc.path} {{"]
        block = _s3_block(stack, loc) if loc.route.origin == "s3" else _alb_block(stack, loc)
        out += [f"            {line}" for line in block]
        out.append("        }")
    out += ["    }", "}", ""]
    return "\n".join(out)
