"""Health: the service's health endpoint through the edge, and every
container of the local stack running and healthy."""

import pytest


@pytest.mark.smoke
def test_healthz_through_the_edge(http):
    """/healthz answers 200 {"status": "ok"} through the edge, uncached"""
    r = http.get("/healthz")
    assert r.status_code == 200, f"/healthz: HTTP {r.status_code} {r.text[:200]}"
    assert r.json().get("status") == "ok", r.text[:200]
    assert "no-store" in r.headers.get("cache-control", "")


@pytest.mark.container
def test_every_container_is_healthy(local, spec):
    """Every container of the stack is running and healthy"""
    containers = local.containers()
    seen = {c["Config"]["Labels"].get("com.docker.compose.service") for c in containers}
    missing = {*spec.services, *spec.local.dependencies, "edge"} - seen
    assert not missing, f"not running: {sorted(missing)}"
    bad = []
    for c in containers:
        state = c["State"]
        health = (state.get("Health") or {}).get("Status", "none")
        if state["Status"] != "running" or health not in ("healthy", "none"):
            bad.append(f"{c['Name'].lstrip('/')}: {state['Status']}/{health}")
    assert not bad, "; ".join(bad)
