"""Render the local edge: nginx behaving like CloudFront + WAF + the ALB, as
two parts, so that what production blocks, the local edge blocks:

- CloudFront + WAF, on the viewer's port (80 in the container, ``edge.port``
  on the host). Each route is a behaviour (a location). WAF runs first: its
  managed rule groups (``edge.managed_rules``, emulated by an njs module,
  ``waf.js``, see render/waf.py) and its rate-based rules (``limit_req`` per
  client IP, 429; a request counts against every rule whose prefix its raw
  path, lowercased, starts with, whichever behaviour serves it; clients on
  the allow-list are never counted). ``s3`` behaviours are served from the
  bucket in LocalStack and cached; the others go to the ALB part, uncached,
  with every viewer header but Host (CloudFront's AllViewerExceptHostHeader:
  the ALB sees the origin's name, ``X-Forwarded-Host`` carries the public
  host from the service's ``PUBLIC_URL``) and with the origin lock's secret
  header (an origin custom header). The response headers policy
  (``edge.response_headers``) replaces the origin's. CloudFront's origin
  response timeout bounds the wait for the first byte and between bytes (504
  before any byte, a cut stream after).
- the ALB, on port 81 (not published; reachable, as an internet-facing ALB
  is, from the networks the edge sits on). Its listener forwards only a
  request carrying the origin lock's header with the current or the previous
  secret value; anything else gets the default action, a fixed 403. Then
  the target groups: one ``upstream`` per public service whose members are
  registered at run time (``targets/<service>.conf``, written by the rolling
  replacement, then a graceful ``nginx -s reload``). Until the first
  registration the start command puts every replica in, by DNS name. The
  idle timeout bounds sends and keep-alives; responses are streamed, and
  nginx's own ``X-Accel-*`` controls are ignored (neither CloudFront nor the
  ALB honours them). Each part appends its peer to ``X-Forwarded-For``.

The edge's own admin surface (``/__edge/health``, ``/__edge/targets/<service>``,
what a target group holds) listens on 127.0.0.1:8081 inside the container
only: nothing on the viewer's port answers for the edge itself.

Every upstream path is the request's raw path (a variable in ``proxy_pass``
sends ``$uri``, which nginx has decoded: an encoded CR LF would become a
second request to the origin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from parity.render.common import HEADER
from parity.spec.models import RateLimit, Route, Stack

DOCKER_DNS = "127.0.0.11"
HEALTH_PATH = "/__edge/health"
# Per worker, within the container's open-file limit (Docker's default, 20000 on the
# build machines; Fargate's is 65535). A stream through the edge holds four sockets
# (viewer, CloudFront part -> ALB part both ends, ALB part -> target), spread over the workers.
WORKER_CONNECTIONS = 16384
WORKERS = 4  # each worker has its own open-file limit: four of them hold 10,000+ streams
TARGETS_PATH = "/__edge/targets"
TARGETS_DIR = "/etc/nginx/targets"
S3_HOST = "localstack:4566"
ALB_PORT = 81  # the ALB part's listener
ADMIN_PORT = 8081  # the edge's own admin surface, on the container's loopback only
WAF_JS = "/etc/nginx/waf.js"
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"  # the official image and Debian's package alike
ORIGIN_LOCK_DIR = "/etc/nginx/origin-lock"
ORIGIN_VERIFY_ENV = "EDGE_ORIGIN_VERIFY"  # the secret's current value, from LocalStack at start
ORIGIN_VERIFY_PREVIOUS_ENV = "EDGE_ORIGIN_VERIFY_PREVIOUS"  # its previous value, while a rotation runs
# The name the ALB part is reached by (the Host the app sees), standing for the origin's
# domain (infra.origin_domain) or the ALB's DNS name.
LOCAL_ORIGIN_HOST = "alb.internal"
RAW_PATH = "$edge_raw_path"  # the path as the viewer sent it: still percent-encoded, never normalised
SECRET_VALUE = re.compile(r"^[A-Za-z0-9_-]{16,}$")  # what the start script accepts as a header value


def admin_url(path: str) -> str:
    """The edge's admin surface, as seen from inside the edge container."""
    return f"http://127.0.0.1:{ADMIN_PORT}{path}"


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


def _literal_prefix(path: str) -> str:
    if not _SAFE_PREFIX.fullmatch(path):
        raise ValueError(f"route path {path!r} has characters the edge cannot match literally")
    return re.escape(path)


def _rate(rl: RateLimit) -> str:
    per_minute = rl.limit * 60 / rl.window
    if per_minute >= 1 and per_minute == int(per_minute):
        return f"{int(per_minute)}r/m"
    return f"{max(1, round(rl.limit * 3600 / rl.window))}r/h" if per_minute < 1 else f"{round(per_minute)}r/m"


def public_host(stack: Stack, service: str) -> str | None:
    """The host viewers use for ``service`` (its ``PUBLIC_URL``), which reaches
    it as ``X-Forwarded-Host``: the one setting absolute URLs are built from."""
    url = stack.services[service].environment.get("PUBLIC_URL")
    return urlparse(url).netloc or None if url else None


def _header_var(name: str) -> str:
    return "$http_" + name.lower().replace("-", "_")


def _response_headers(headers: dict[str, str]) -> list[str]:
    """CloudFront's response headers policy (override: the origin's value is replaced)."""
    out = []
    for name, value in headers.items():
        if any(c in value for c in '"\\$'):
            raise ValueError(f'response header {name}: the edge cannot carry ", \\ or $ literally')
        out += [f"proxy_hide_header {name};", f'add_header {name} "{value}" always;']
    return out


def _named(route: Route) -> str:
    """The named location where a behaviour's request goes once WAF let it pass."""
    return "@cf_" + (re.sub(r"[^a-z0-9]+", "_", route.path.strip("/").lower()) or "default")


def _s3_origin(stack: Stack, loc: Location) -> list[str]:
    edge = stack.edge
    return [
        f"set $s3_origin {S3_HOST};",
        f"proxy_pass http://$s3_origin/{edge.bucket}{RAW_PATH};",
        "proxy_http_version 1.1;",
        "proxy_buffering on;",
        "proxy_set_header Host $s3_origin;",
        'proxy_set_header Connection "";',
        'proxy_set_header Cookie "";',
        'proxy_set_header Authorization "";',
        "proxy_hide_header x-amz-request-id;",
        "proxy_hide_header x-amz-id-2;",
        "proxy_hide_header Set-Cookie;",
        "proxy_ignore_headers Set-Cookie;",
        f"proxy_read_timeout {edge.origin_response_timeout}s;",
        "proxy_cache cdn;",
        f"proxy_cache_key {RAW_PATH};",
        "proxy_cache_valid 200 1d;",
        "proxy_cache_valid 403 404 10s;",
        *_response_headers({**edge.response_headers, **edge.static_response_headers}),
        'add_header X-Cache "$upstream_cache_status from edge" always;',
    ]


def _alb_origin(stack: Stack, loc: Location) -> list[str]:
    """CloudFront's custom origin (the ALB part): every viewer header but Host,
    X-Forwarded-For with the viewer appended, the origin custom headers."""
    edge = stack.edge
    host = public_host(stack, loc.route.origin)
    lines = [
        "proxy_pass http://alb;",
        "proxy_http_version 1.1;",
        f"proxy_set_header Host {stack.infra.origin_domain or LOCAL_ORIGIN_HOST};",
        *([f"proxy_set_header X-Forwarded-Host {host};"] if host else []),
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
    ]
    if edge.origin_lock:
        lines.append(f"proxy_set_header {edge.origin_lock.header} $origin_verify_value;")
    return lines + [
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        "proxy_cache off;",
        "proxy_connect_timeout 10s;",
        f"proxy_read_timeout {edge.origin_response_timeout}s;",
        f"proxy_send_timeout {edge.idle_timeout}s;",
        # A timed-out origin is a 504, not a second try.
        "proxy_next_upstream off;",
        *_response_headers(edge.response_headers),
    ]


def _behaviour(stack: Stack, loc: Location) -> list[str]:
    """The behaviour's location: WAF's managed rules (njs), then its origin."""
    lines = []
    if loc.route.origin == "s3":
        # A raw path outside this behaviour's prefix (dot segments or doubled slashes
        # nginx normalised into it) is refused before anything reaches the origin.
        lines += [
            "limit_except GET HEAD { deny all; }",
            f'if ({RAW_PATH} !~ "^{_literal_prefix(loc.path)}") {{ return 400; }}',
        ]
    if stack.edge.managed_rules:
        return lines + [f"set $waf_next {_named(loc.route)};", "js_content waf.screen;"]
    return lines + [f"try_files /nonexistent {_named(loc.route)};"]


def _alb_listener(stack: Stack) -> list[str]:
    """The ALB part's server-level settings: the listener's rule, then how it
    proxies to a target group."""
    edge = stack.edge
    lines = []
    if edge.origin_lock:
        lines += [
            f"# Listener rules: forward only with {edge.origin_lock.header} = the current or previous",
            "# secret value; the default action answers a fixed 403.",
            'if ($origin_verified = 0) { return 403 "Forbidden\\n"; }',
        ]
    return lines + [
        "proxy_http_version 1.1;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        f"proxy_set_header X-Forwarded-Port {edge.port};",
        'proxy_set_header X-Amzn-Trace-Id "Root=1-$request_id";',
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        "proxy_cache off;",
        "proxy_ignore_headers X-Accel-Buffering X-Accel-Expires X-Accel-Limit-Rate X-Accel-Redirect X-Accel-Charset;",
        "proxy_connect_timeout 10s;",
        f"proxy_read_timeout {edge.idle_timeout}s;",
        f"proxy_send_timeout {edge.idle_timeout}s;",
        "proxy_next_upstream error;",
    ]


def target_group(service: str) -> str:
    """The nginx upstream standing for a service's ALB target group."""
    return "tg_" + service.replace("-", "_")


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


def _origin_lock_script(stack: Stack) -> str:
    """Shell that writes the origin lock's values from the environment into an
    nginx include (in the container only: never a committed file, never
    printed), refusing to start without a usable current value."""
    lock = stack.edge.origin_lock
    if lock is None:
        return ""
    cur, prev = ORIGIN_VERIFY_ENV, ORIGIN_VERIFY_PREVIOUS_ENV
    bad = "*[!A-Za-z0-9_-]*"
    return (
        f'case "${cur}" in ""|{bad}) echo "edge: {cur} (the origin lock secret) is missing or not [A-Za-z0-9_-]" >&2; exit 1;; esac'
        f' && case "${prev}" in {bad}) echo "edge: {prev} is not [A-Za-z0-9_-]" >&2; exit 1;; esac'
        f" && mkdir -p {ORIGIN_LOCK_DIR} && (umask 077"
        f' && printf \'default "%s";\\n\' "${cur}" > {ORIGIN_LOCK_DIR}/sent.conf'
        f' && {{ printf \'"%s" 1;\\n\' "${cur}"; if [ -n "${prev}" ]; then printf \'"%s" 1;\\n\' "${prev}"; fi; }}'
        f" > {ORIGIN_LOCK_DIR}/accepted.conf) && "
    )


def edge_command(stack: Stack) -> list[str]:
    """The edge's start command: the default target files, the origin lock's
    values, then nginx. Raw: compose doubles its ``$``."""
    writes = " && ".join(
        f"printf '%s\\n' '{body.strip()}' > {TARGETS_DIR}/{name}" for name, body in default_targets(stack).items()
    )
    return [
        "sh",
        "-c",
        f"mkdir -p {TARGETS_DIR} && {writes} && {_origin_lock_script(stack)}exec nginx -g 'daemon off;'",
    ]


def edge_environment(stack: Stack) -> list[str]:
    """The variables the edge's start command reads (values from Secrets Manager)."""
    return [ORIGIN_VERIFY_ENV, ORIGIN_VERIFY_PREVIOUS_ENV] if stack.edge.origin_lock else []


def render_edge(stack: Stack) -> str:
    """The complete nginx.conf of the local edge."""
    edge = stack.edge
    out: list[str] = [
        HEADER.format(source="stack.yaml").rstrip(),
        "# The local edge: CloudFront (behaviours, WAF) on the viewer's port, the ALB behind it.",
        *([f"load_module {NJS_MODULE};"] if edge.managed_rules else []),
        f"worker_processes {WORKERS};",
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
        *([f"    js_import waf from {WAF_JS};"] if edge.managed_rules else []),
        "",
        f"    # ALB idle timeout: {edge.idle_timeout} s.",
        f"    keepalive_timeout {edge.idle_timeout}s;",
        f"    client_body_timeout {edge.idle_timeout}s;",
        f"    send_timeout {edge.idle_timeout}s;",
        "    # CloudFront takes up to 20 KB of request headers (WAF then judges a large Cookie).",
        "    large_client_header_buffers 4 16k;",
        "    # A body is read whole, in memory, before WAF inspects it.",
        "    client_max_body_size 10m;",
        "    client_body_buffer_size 10m;",
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
        "    # CloudFront's custom origin: the ALB part (below).",
        # TCP, so the kernel spreads the ALB part's connections over the workers (reuseport);
        # a unix socket, accepted by whichever worker wakes first, piled them on one (measured:
        # 10,000 streams stalled).
        "    upstream alb {",
        f"        server 127.0.0.1:{ALB_PORT};",
        "        keepalive 64;",
        "    }",
        "",
        "    # CloudFront's cache, used by the S3 behaviours only.",
        "    proxy_cache_path /tmp/edge-cache levels=1:2 keys_zone=cdn:10m max_size=256m inactive=1d use_temp_path=off;",
        "",
    ]
    if edge.origin_lock:
        out += [
            f"    # The origin lock: what CloudFront sends in {edge.origin_lock.header}, and what the ALB accepts",
            "    # (the current and the previous value), written at start from the secret (never a committed file).",
            "    map $pid $origin_verify_value {",
            f"        include {ORIGIN_LOCK_DIR}/sent.conf;",
            "    }",
            f"    map {_header_var(edge.origin_lock.header)} $origin_verified {{",
            "        default 0;",
            f"        include {ORIGIN_LOCK_DIR}/accepted.conf;",
            "    }",
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
                f'    map "$waf_allowed:$request_uri" ${_zone(i)}_key {{',
                f"        {waf_match(rl.path)} $binary_remote_addr;",
                '        default "";',
                "    }",
                f"    limit_req_zone ${_zone(i)}_key zone={_zone(i)}:10m rate={_rate(rl)};",
            ]
        out += ["    limit_req_status 429;", "    limit_req_log_level warn;", ""]

    # -- CloudFront + WAF --------------------------------------------------------
    out += [
        "    # ---- CloudFront + WAF: the viewer's port",
        "    server {",
        "        listen 80 reuseport;",
        "        server_name _;",
    ]
    if edge.rate_limits:
        out += ["", "        # WAF rate rules: every rule sees every request (inherited by every behaviour)."]
        for i, rl in enumerate(edge.rate_limits):
            # burst = limit - 1: the first `limit` requests of a window pass at once.
            out.append(f"        limit_req zone={_zone(i)} burst={rl.limit - 1} nodelay;")
    if edge.managed_rules:
        out += ["", "        # WAF managed rules (waf.js) run in each behaviour, then the request goes to its origin."]
    for loc in locations(stack):
        origin = "S3 bucket " + edge.bucket if loc.route.origin == "s3" else f"ALB -> {loc.route.origin}"
        out += ["", f"        # {loc.path}* -> {origin}, cache: {loc.route.cache}", f"        location {loc.path} {{"]
        out += [f"            {line}" for line in _behaviour(stack, loc)]
        out += ["        }", f"        location {_named(loc.route)} {{"]
        block = _s3_origin(stack, loc) if loc.route.origin == "s3" else _alb_origin(stack, loc)
        out += [f"            {line}" for line in block]
        out.append("        }")
    out += ["    }", ""]

    # -- the ALB ----------------------------------------------------------------
    out += [
        "    # ---- the ALB: only what CloudFront sends it (not published)",
        "    server {",
        f"        listen {ALB_PORT} reuseport;",
        "        server_name _;",
        "        access_log off;",
        "        default_type text/plain;",
        *[f"        {line}" for line in _alb_listener(stack)],
    ]
    for loc in locations(stack):
        if loc.route.origin == "s3":
            continue
        out += ["", f"        # {loc.path}* -> target group {loc.route.origin}", f"        location {loc.path} {{",
                f"            proxy_pass http://{target_group(loc.route.origin)};", "        }"]  # fmt: skip
    out += ["    }", ""]

    # -- the edge's own admin -------------------------------------------------------
    out += [
        "    # ---- the edge's own admin: the container's loopback only",
        "    server {",
        f"        listen 127.0.0.1:{ADMIN_PORT};",
        "        access_log off;",
        "        default_type text/plain;",
        f"        location = {HEALTH_PATH} {{",
        '            return 200 "ok\\n";',
        "        }",
        *[
            line
            for origin in _origins(stack)
            for line in (
                f"        location = {TARGETS_PATH}/{origin} {{",
                f"            include {TARGETS_DIR}/{origin}.registered;",
                "        }",
            )
        ],
        "        location / {",
        "            return 404;",
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(out)
