"""Plan §12: "Auth flow (sign up, login, logout) works", through the edge; and
issue 18: per-account backoff that holds even for an allow-listed client.

The WAF allows 20 /api/auth/* requests per 300 s per client address. `inv e2e`
gives each run an address of its own (app/checks/e2e_client.py), shared by the run's
checks: this one spends 9, the crawl checks 2 each, the mixed-case check 1.
The backoff check sends its log-ins from the allow-listed range, which the WAF
never counts."""

import json
import uuid
from http.cookies import SimpleCookie

import httpx
import pytest

AUTH_REQUESTS = 9


def cookie_name(is_https: bool) -> str:
    """`__Host-session` over https; a browser refuses that prefix on plain http (the local edge)."""
    return "__Host-session" if is_https else "session"


def _session_cookie(response: httpx.Response, name: str = "session") -> tuple[str, dict[str, str], str]:
    """(value, attributes lower-cased, raw header) of the session Set-Cookie called ``name``."""
    for raw in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(raw)
        if name in jar:
            morsel = jar[name]
            attrs = {k: str(v) for k, v in morsel.items() if v}
            flags = {part.strip().lower() for part in raw.split(";")[1:]}
            for flag in ("httponly", "secure"):
                if flag in flags:
                    attrs[flag] = "true"
            return morsel.value, attrs, raw
    raise AssertionError(f"no `{name}` Set-Cookie in {response.headers.get_list('set-cookie')}")


def _expect(response: httpx.Response, status: int | tuple[int, ...], what: str) -> None:
    if response.status_code == 429:
        pytest.fail(
            f"{what}: 429 from the WAF: this client's /api/auth/* budget (20 per 300 s) is spent "
            f"(this check needs {AUTH_REQUESTS}); run through `inv e2e`, which gives each run an address of its own",
            pytrace=False,
        )
    wanted = status if isinstance(status, tuple) else (status,)
    assert response.status_code in wanted, f"{what}: HTTP {response.status_code} {response.text[:200]}, wanted {status}"


def test_auth_flow(base_url, is_https):
    """Sign up, log in, /api/auth/me, log out (JSON only); cookie name and flags; 400/401 where due; sign-up tells nothing"""
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    creds = {"email": email, "password": password}
    with httpx.Client(base_url=base_url, timeout=20) as c:  # cookies are sent by hand below
        _expect(
            c.post("/api/auth/signup", json={"email": "not-an-email", "password": password}),
            400,
            "sign-up with a bad e-mail",
        )
        r = c.post("/api/auth/signup", json=creds)
        _expect(r, 201, "sign-up")
        assert r.json().get("email") == email
        again = c.post("/api/auth/signup", json={"email": email, "password": password + "-other"})
        _expect(again, 201, "sign-up with a taken e-mail")
        assert again.json() == r.json(), "sign-up answers differently for a taken e-mail"

        r = c.post("/api/auth/login", json={"email": email, "password": password + "x"})
        _expect(r, 401, "log-in with a wrong password")
        assert not any(h.startswith("session=") and "Max-Age=0" not in h for h in r.headers.get_list("set-cookie"))

        r = c.post("/api/auth/login", json=creds)
        _expect(r, 200, "log-in")
        name = cookie_name(is_https)
        value, attrs, raw = _session_cookie(r, name)
        assert value, f"empty session cookie: {raw}"
        assert attrs.get("httponly") == "true", f"session cookie not HttpOnly: {raw}"
        assert attrs.get("samesite", "").lower() == "lax", f"session cookie SameSite is not Lax: {raw}"
        assert attrs.get("path") == "/", f"session cookie Path is not /: {raw}"
        assert "domain" not in attrs, f"session cookie sets a Domain: {raw}"
        assert ("secure" in attrs) == is_https, (
            f"Secure flag {'missing' if is_https else 'set'} on {'https' if is_https else 'http'}: {raw}"
        )
        session = {"cookie": f"{name}={value}"}

        r = c.get("/api/auth/me", headers=session)
        _expect(r, 200, "/api/auth/me while logged in")
        assert r.json().get("email") == email
        assert "no-store" in r.headers.get("cache-control", ""), "/api/auth/me may be cached"

        r = c.post(
            "/api/auth/logout", headers={**session, "content-type": "application/x-www-form-urlencoded"}, content=b"x=1"
        )
        _expect(r, 415, "log-out as a cross-site form would send it")
        r = c.post("/api/auth/logout", headers=session, json={})
        _expect(r, (200, 204), "log-out")
        cleared, cleared_attrs, raw = _session_cookie(r, name)
        assert cleared == "" or cleared_attrs.get("max-age") == "0", f"log-out does not clear the cookie: {raw}"

        _expect(c.get("/api/auth/me", headers=session), 401, "/api/auth/me with the logged-out session")


def test_mixed_case_auth_path_is_served_as_waf_lets_it_through(http):
    """/API/Auth/me is served as /api/auth/me (WAF counts it against the auth rule; the rate check proves that)"""
    r = http.get("/API/Auth/me")
    assert r.status_code == 401, f"/API/Auth/me: HTTP {r.status_code} {r.text[:200]}"
    assert r.json().get("error") == "unauthenticated", r.text[:200]


# Sent from a throwaway container on the allow-listed range (the WAF's allow-list: never
# rate-limited), with the web image's Node: sign up two accounts, twenty wrong log-ins for
# one, then its right password, then the other's.
BRUTE_FORCE_JS = r"""
const [base, a, b, password] = process.argv.slice(1);
const post = (path, body) => fetch(base + path, {method: 'POST', headers: {'content-type': 'application/json'},
  body: JSON.stringify(body)}).then(async (r) => ({status: r.status, error: (await r.json().catch(() => ({}))).error,
  retryAfter: r.headers.get('retry-after')}));
const out = {signup: [], wrong: []};
for (const email of [a, b]) out.signup.push((await post('/api/auth/signup', {email, password})).status);
for (let i = 0; i < 20; i++) out.wrong.push(await post('/api/auth/login', {email: a, password: 'wrong ' + i}));
out.right = await post('/api/auth/login', {email: a, password});
out.other = await post('/api/auth/login', {email: b, password});
console.log(JSON.stringify(out));
"""


@pytest.mark.container
def test_failed_logins_back_off_per_account_even_from_an_allow_listed_client(local, spec):
    """Twenty wrong log-ins for one account from an allow-listed client: refused (429) after five, its right password too; another account unaffected"""
    from e2elib.local import docker

    from parity.render.compose import CLIENTS_NETWORK

    if not spec.local.allow_listed_clients:
        pytest.skip("the spec declares no allow-listed clients (local.allow_listed_clients)")
    web = local.containers("website-agent")
    assert web, "no running website-agent container"
    tag = uuid.uuid4().hex[:12]
    a, b = f"e2e-brute-{tag}@example.com", f"e2e-other-{tag}@example.com"
    name = f"parity-e2e-brute-{tag}"
    try:
        proc = docker(
            # the image carries compose's labels: overridden, so this client is not counted as the stack's
            "run",
            "--rm",
            "--name",
            name,
            "--label",
            "com.docker.compose.project=parity-e2e-client",
            "--no-healthcheck",
            "--network",
            local.network(CLIENTS_NETWORK),
            "--entrypoint",
            "node",
            web[0]["Image"],
            "--input-type=module",
            "-e",
            BRUTE_FORCE_JS,
            f"http://{local.edge_container}",
            a,
            b,
            f"pw-{uuid.uuid4().hex}",
            timeout=180,
        )
    finally:
        docker("rm", "-f", name, check=False)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["signup"] == [201, 201], out["signup"]
    codes = [w["status"] for w in out["wrong"]]
    assert codes[:5] == [401] * 5, codes
    refused = [w for w in out["wrong"] if w["status"] == 429]
    # the web app's own lock (JSON too_many_attempts), not the WAF: this client is allow-listed
    assert len(refused) >= 14 and all(w["error"] == "too_many_attempts" and w["retryAfter"] for w in refused), codes
    assert out["right"]["status"] == 429 and out["right"]["error"] == "too_many_attempts", out["right"]
    assert out["other"]["status"] == 200, out["other"]
