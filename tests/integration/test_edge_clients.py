"""The WAF's IP-set allow rule on the local edge: clients on the allow-listed
``allow-listed-clients`` network (the bench's load generator) are never rate-counted;
everyone else still is, loopback clients included."""

import ipaddress
import json
import uuid

import httpx
import pytest

from parity.render.compose import CLIENTS_NETWORK, image_name
from parity.spec import load_stack

from .conftest import PROJECT, ROOT, containers_of, docker

pytestmark = pytest.mark.integration

REQUESTS = 110  # above the /api/ rule's 100 per 5 minutes
COUNT_STATUSES = (  # JavaScript: its braces stay as they are
    "(async()=>{const c={};for(let i=0;i<"
    + str(REQUESTS)
    + ";i++){const r=await fetch('http://edge/api/no-such-endpoint');"
    "c[r.status]=(c[r.status]||0)+1}console.log(JSON.stringify(c))})()"
)


def statuses_from(network: str) -> dict[str, int]:
    """Status counts of REQUESTS /api/ requests from a throwaway container on ``network``."""
    stack = load_stack(ROOT, "local")
    out = docker(
        "run", "--rm", "--name", f"{PROJECT}-edge-client-{uuid.uuid4().hex[:8]}", "--network", network,
        "--entrypoint", "node", image_name(stack, "website-agent"), "-e", COUNT_STATUSES, timeout=120,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def test_allow_listed_clients_are_not_rate_limited(stack):
    assert statuses_from(f"{PROJECT}_{CLIENTS_NETWORK}") == {"404": REQUESTS}


def test_other_clients_still_are(stack):
    counts = statuses_from(f"{PROJECT}_public")
    assert counts == {"404": 100, "429": REQUESTS - 100}


def test_loopback_clients_are_not_on_the_allow_list(stack):
    allow = [ipaddress.ip_network(c) for c in load_stack(ROOT, "local").edge.allow_list]
    marker = f"/healthz?probe={uuid.uuid4().hex}"
    assert httpx.get(f"http://127.0.0.1:8080{marker}", timeout=10).status_code == 200
    lines = docker("logs", "--tail", "200", containers_of("edge")[0]).stdout.splitlines()
    seen = next(line for line in reversed(lines) if marker in line)
    address = ipaddress.ip_address(seen.split()[0])
    assert not any(address in net for net in allow), seen
