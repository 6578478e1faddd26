"""Plan §12: "Auth flow (sign up, login, logout) works", through the edge.

The WAF allows 20 /api/auth/* requests per 300 s per client address. `inv e2e`
gives each run an address of its own (app/e2e_client.py), shared by the run's
checks: this one spends 8, the crawl check 2, the mixed-case check 1."""

import uuid
from http.cookies import SimpleCookie

import httpx
import pytest

AUTH_REQUESTS = 8


def _session_cookie(response: httpx.Response) -> tuple[str, dict[str, str], str]:
    """(value, attributes lower-cased, raw header) of the `session` Set-Cookie."""
    for raw in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(raw)
        if "session" in jar:
            morsel = jar["session"]
            attrs = {k: str(v) for k, v in morsel.items() if v}
            flags = {part.strip().lower() for part in raw.split(";")[1:]}
            for flag in ("httponly", "secure"):
                if flag in flags:
                    attrs[flag] = "true"
            return morsel.value, attrs, raw
    raise AssertionError(f"no `session` Set-Cookie in {response.headers.get_list('set-cookie')}")


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
    """Sign up, log in, /api/auth/me, log out; cookie flags; 400/409/401 where due"""
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    creds = {"email": email, "password": password}
    with httpx.Client(base_url=base_url, timeout=20) as c:  # cookies are sent by hand below
        _expect(c.post("/api/auth/signup", json={"email": "not-an-email", "password": password}), 400, "sign-up with a bad e-mail")
        r = c.post("/api/auth/signup", json=creds)
        _expect(r, 201, "sign-up")
        assert r.json().get("email") == email
        _expect(c.post("/api/auth/signup", json=creds), 409, "duplicate sign-up")

        r = c.post("/api/auth/login", json={"email": email, "password": password + "x"})
        _expect(r, 401, "log-in with a wrong password")
        assert not any(h.startswith("session=") and "Max-Age=0" not in h for h in r.headers.get_list("set-cookie"))

        r = c.post("/api/auth/login", json=creds)
        _expect(r, 200, "log-in")
        value, attrs, raw = _session_cookie(r)
        assert value, f"empty session cookie: {raw}"
        assert attrs.get("httponly") == "true", f"session cookie not HttpOnly: {raw}"
        assert attrs.get("samesite", "").lower() == "lax", f"session cookie SameSite is not Lax: {raw}"
        assert attrs.get("path") == "/", f"session cookie Path is not /: {raw}"
        assert "domain" not in attrs, f"session cookie sets a Domain: {raw}"
        assert ("secure" in attrs) == is_https, f"Secure flag {'missing' if is_https else 'set'} on {'https' if is_https else 'http'}: {raw}"
        session = {"cookie": f"session={value}"}

        r = c.get("/api/auth/me", headers=session)
        _expect(r, 200, "/api/auth/me while logged in")
        assert r.json().get("email") == email
        assert "no-store" in r.headers.get("cache-control", ""), "/api/auth/me may be cached"

        r = c.post("/api/auth/logout", headers=session)
        _expect(r, (200, 204), "log-out")
        cleared, cleared_attrs, raw = _session_cookie(r)
        assert cleared == "" or cleared_attrs.get("max-age") == "0", f"log-out does not clear the cookie: {raw}"

        _expect(c.get("/api/auth/me", headers=session), 401, "/api/auth/me with the logged-out session")


def test_mixed_case_auth_path_is_served_as_waf_lets_it_through(http):
    """/API/Auth/me is served as /api/auth/me (WAF counts it against the auth rule; the rate check proves that)"""
    r = http.get("/API/Auth/me")
    assert r.status_code == 401, f"/API/Auth/me: HTTP {r.status_code} {r.text[:200]}"
    assert r.json().get("error") == "unauthenticated", r.text[:200]
