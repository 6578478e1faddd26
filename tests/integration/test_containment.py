"""Issue 18 on the real stack: the crawler's containment and its per-user limits.

* the browser runs as its own user, holds none of the crawler's secrets and
  cannot read the app's (or the container's) environment;
* the crawler's networks have no route out of the stack (no UDP anywhere else);
* per user: one crawl rendering, one waiting, a third refused (429) while
  another user is served; a crawl whose caller leaves stops there;
* a hostile keep-alive origin on the crawler's egress network sees only its
  own requests.

Requests go to website-agent inside its container (127.0.0.1:5171), so the
module spends none of the host's WAF budget. The hostile origin is a
throwaway container (the crawler's image, its Python) on the crawler's egress
network, removed in a ``finally``. Every wait is bounded.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import subprocess
import time
import uuid

import pytest

from parity.spec import load_stack

from .conftest import PROJECT, ROOT, containers_of, docker, inspect

pytestmark = pytest.mark.integration

SLOW_SECONDS = 25  # the origin's /slow answers after this long (the crawl timeout is 30 s)

ORIGIN_PY = r"""
import socket, sys, threading, time
follow = sys.argv[1]
page = ("<!doctype html><html><head><title>Keep-alive</title></head><body><p>kept alive</p><script>"
        "setTimeout(() => fetch('" + follow + "', {mode: 'no-cors'}).catch(() => {}), 300);</script></body></html>").encode()
def serve(conn):
    buf = b""
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                head, buf = buf.split(b"\r\n\r\n", 1)
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                print("REQUEST " + line, flush=True)
                if " /slow" in line:
                    time.sleep(SLOW_SECONDS)
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: keep-alive\r\n"
                                 b"Content-Length: " + str(len(page)).encode() + b"\r\n\r\n" + page)
                except OSError:
                    return
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8000))
s.listen(32)
print("LISTENING", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
""".replace("SLOW_SECONDS", str(SLOW_SECONDS))

# Run by Node inside a website-agent container: two users; alice sends three slow crawls
# at once, bob one of the fixture site meanwhile; alice's are abandoned after 4 s.
LIMITS_JS = r"""
const [base, fixture, origin] = process.argv.slice(1);
const post = (path, body, cookie, signal) => fetch(base + path, {method: 'POST', signal,
  headers: {'content-type': 'application/json', ...(cookie ? {cookie} : {})}, body: JSON.stringify(body)});
async function user(name) {
  const creds = {email: `containment-${name}-${Date.now()}-${Math.random().toString(16).slice(2)}@example.test`,
                 password: 'containment tests password'};
  if ((await post('/api/auth/signup', creds)).status !== 201) throw new Error('sign-up');
  const login = await post('/api/auth/login', creds);
  return login.headers.get('set-cookie').split(';')[0];
}
const alice = await user('alice'), bob = await user('bob');
const leave = new AbortController();
const t0 = Date.now();
const slow = [];
for (let i = 0; i < 3; i++) {
  slow.push(post('/api/crawl', {url: `${origin}/slow?i=${i}`}, alice, leave.signal)
    .then(async (r) => ({status: r.status, error: (await r.json()).error, ms: Date.now() - t0}), () => ({status: 'left'})));
  await new Promise((r) => setTimeout(r, 150));
}
const b = await post('/api/crawl', {url: fixture}, bob).then(async (r) => ({status: r.status, ms: Date.now() - t0}));
await new Promise((r) => setTimeout(r, Math.max(0, 4000 - (Date.now() - t0))));
leave.abort();
console.log(JSON.stringify({alice: await Promise.all(slow), bob: b, left_at: Date.now() - t0}));
"""


def exec_out(container: str, *argv: str, user: str | None = None, timeout: float = 60):
    return docker("exec", *(["-u", user] if user else []), container, *argv, check=False, timeout=timeout)


@pytest.fixture(scope="module")
def crawler(stack):
    return containers_of("crawler")[0]


@pytest.fixture(scope="module")
def origin(stack):
    """The hostile origin: a name on the crawler's egress network, and its container."""
    tag = uuid.uuid4().hex[:10]
    name = f"parity-i18-origin-{tag}"
    secret = uuid.uuid4().hex
    image = inspect(containers_of("crawler")[0])["Image"]
    docker("run", "-d", "--name", name, "--network", f"{PROJECT}_crawler-egress", "--entrypoint", "python",
           image, "-c", ORIGIN_PY, f"http://fixture-site/menu.html?secret={secret}")  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while "LISTENING" not in docker("logs", name, check=False).stdout:
            assert time.monotonic() < deadline, (
                f"the origin did not start: {docker('logs', name, check=False).stderr[-500:]}"
            )
            time.sleep(0.2)
        yield name, secret
    finally:
        docker("rm", "-f", name, check=False)


def crawl_inside(path_url: str, timeout: float = 90) -> dict:
    """One logged-in crawl through website-agent, from inside its container."""
    js = r"""
const [base, url] = process.argv.slice(1);
const creds = {email: `containment-${Date.now()}-${Math.random().toString(16).slice(2)}@example.test`, password: 'containment tests password'};
const post = (p, body, cookie) => fetch(base + p, {method: 'POST', headers: {'content-type': 'application/json', ...(cookie ? {cookie} : {})}, body: JSON.stringify(body)});
await post('/api/auth/signup', creds);
const cookie = (await post('/api/auth/login', creds)).headers.get('set-cookie').split(';')[0];
const r = await post('/api/crawl', {url}, cookie);
console.log(JSON.stringify({status: r.status, body: await r.json()}));
"""
    web = containers_of("website-agent")[0]
    proc = exec_out(web, "node", "--input-type=module", "-e", js, "http://127.0.0.1:5171", path_url, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-500:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def uid_of(crawler: str, user: str) -> int:
    return int(exec_out(crawler, "id", "-u", user).stdout.strip())


def host_processes(container: str) -> list[dict]:
    """The container's processes seen from the host (root here reads every environ,
    Chromium's non-dumpable ones included): host pid, uid, command line, environment."""
    out = []
    for line in docker("top", container, "-eo", "pid,uid,args").stdout.splitlines()[1:]:
        pid, uid, args = line.split(None, 2)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        out.append({"pid": pid, "uid": int(uid), "args": args, "environ": environ})
    return out


def test_the_browser_runs_as_its_own_user_without_the_crawlers_secrets(crawler):
    result = crawl_inside("http://fixture-site/")
    assert result["status"] == 200, result
    browser, app_user = uid_of(crawler, "browser"), uid_of(crawler, "crawler")
    procs = host_processes(crawler)
    chromium = [p for p in procs if "/chromium" in p["args"]]
    assert chromium and {p["uid"] for p in chromium} == {browser}, [(p["uid"], p["args"][:60]) for p in chromium]
    app = [p for p in procs if "bin/uvicorn" in p["args"]]
    assert [p["uid"] for p in app] == [app_user], [(p["uid"], p["args"][:60]) for p in app]
    assert [p["uid"] for p in procs if "run-server" in p["args"]] == [browser]

    spec = load_stack(ROOT, "local")
    env = dict(e.split("=", 1) for e in inspect(crawler)["Config"]["Env"])
    secrets = {name: env[name] for name in spec.services["crawler"].secrets if env.get(name)}
    assert "MONGODB_URI" in secrets, sorted(secrets)  # the check below compares real values
    assert secrets["MONGODB_URI"] in app[0]["environ"]  # the app has them: the check can see them
    browsers = [p for p in procs if p["uid"] == browser]
    assert len(browsers) >= 5, [p["args"][:60] for p in browsers]
    leaked = sorted(
        {
            name
            for p in browsers
            for name, value in secrets.items()
            if value in p["environ"] or f"{name}=" in p["environ"]
        }
    )
    assert not leaked, f"the browser user's processes hold the crawler's secrets: {leaked}"  # names only
    # From inside, as `browser` (an empty environment: `docker exec` would hand it the
    # container's): the app's and the container's (PID 1, tini) environments are out of reach.
    app_pid = exec_out(crawler, "sh", "-c", "for p in /proc/[0-9]*; do grep -qa bin/uvicorn $p/cmdline 2>/dev/null "
                       "&& [ $(stat -c %u $p) = " + str(app_user) + " ] && basename $p; done").stdout.split()  # fmt: skip
    assert len(app_pid) == 1, app_pid
    for pid in (app_pid[0], "1"):
        peek = exec_out(crawler, "env", "-i", "cat", f"/proc/{pid}/environ", user="browser")
        assert peek.returncode != 0 and not peek.stdout, f"`browser` reads /proc/{pid}/environ"
    logs = docker("logs", crawler, check=False)
    assert re.search(r"browser launched \(.*browser server, sandbox (on|off: .+)\)", logs.stdout + logs.stderr)


def test_the_crawlers_networks_lead_nowhere_outside_the_stack(crawler):
    """No UDP (or anything) leaves the stack: both of the crawler's networks are
    internal, and the host holds no address on their bridges, so the gateway of the
    container's default route is nobody. Read from the running networks, the
    container's routes and the host's addresses, without sending a packet."""
    networks = inspect(crawler)["NetworkSettings"]["Networks"]
    assert networks
    for name in networks:
        info = json.loads(docker("network", "inspect", name).stdout)[0]
        assert info["Internal"] is True, name
        assert (info.get("Options") or {}).get("com.docker.network.bridge.inhibit_ipv4") == "true", name
    routes = [line.split() for line in exec_out(crawler, "cat", "/proc/net/route").stdout.splitlines()[1:]]
    gateways = {socket.inet_ntoa(struct.pack("<L", int(r[2], 16))) for r in routes if r[1] == "00000000"}
    host = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    held = {
        field.split("/")[0]
        for line in host.splitlines()
        for field in line.split()
        if "/" in field and field[0].isdigit()
    }
    assert gateways and not gateways & held, (gateways, sorted(held))


def test_per_user_limits_and_a_crawl_stops_when_its_caller_leaves(crawler, origin):
    name, _ = origin
    since = str(int(time.time()) - 1)
    web = containers_of("website-agent")[0]
    proc = exec_out(web, "node", "--input-type=module", "-e", LIMITS_JS,
                    "http://127.0.0.1:5171", "http://fixture-site/", f"http://{name}:8000", timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-800:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    refused = [a for a in out["alice"] if a["status"] == 429]
    assert len(refused) == 1 and refused[0]["error"] == "too_many_crawls" and refused[0]["ms"] < 3000, out
    assert sum(a["status"] == "left" for a in out["alice"]) == 2, out
    assert out["bob"]["status"] == 200 and out["bob"]["ms"] < out["left_at"], out  # served while alice's were held
    # both of alice's crawls (one rendering, one waiting) ended when she left, not at the origin's 25 s
    deadline = time.monotonic() + 15
    while True:
        logs = docker("logs", "--since", since, crawler, check=False)
        gone = re.findall(rf"crawl url=http://{name}:8000/slow status=499 ms=(\d+)", logs.stdout + logs.stderr)
        if len(gone) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(gone) == 2 and all(int(ms) < 10_000 for ms in gone), gone


def test_a_keep_alive_origin_sees_only_its_own_requests(crawler, origin):
    name, secret = origin
    result = crawl_inside(f"http://{name}:8000/keepalive")
    assert result["status"] == 200, result
    fixture = containers_of("fixture-site")[0]
    deadline = time.monotonic() + 10
    while secret not in docker("logs", fixture, check=False).stdout and time.monotonic() < deadline:
        time.sleep(0.3)
    assert secret in docker("logs", fixture, check=False).stdout, "the page's follow-up never reached the fixture site"
    seen = [line for line in docker("logs", name, check=False).stdout.splitlines() if line.startswith("REQUEST ")]
    assert seen and not any(secret in line or "fixture-site" in line for line in seen), seen
