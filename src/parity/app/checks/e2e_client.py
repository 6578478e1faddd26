"""A client address of the e2e run's own, so a run never finds a WAF budget
spent by earlier runs (or by anything else on this host).

Everything on the host reaches the local edge through 127.0.0.1:<edge port>,
and the edge sees all of it from one address (the bridge gateway): one WAF
budget for every run, test and tool. Instead, `inv e2e` sends the suite's
traffic through a throwaway TCP forwarder that sits on a fresh network with a
random subnet and address, which the edge joins for the run. The edge (and
its WAF) sees a client it has never seen, exactly as strict as for anyone:
nothing is exempted, and the budget is spent only by this run. Plain TCP, so
the requests, their Host header and their timing reach the edge unchanged.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator

import httpx

from parity.adapters.docker import Compose, Docker
from parity.errors import NotReady
from parity.render.compose import CLIENTS_NETWORK, image_name
from parity.spec import Stack

PREFIX = "parity-e2e-client-"
LABELS = [
    "parity.role=e2e-client",
    "com.docker.compose.project=parity-e2e-client",
    "com.docker.compose.service=forwarder",
]
FORWARD_PORT = 8080
READY_WITHIN = 20.0
HEALTH_PROBE = "/healthz"  # the website-agent's, answered through the whole edge
LEFTOVER_AFTER = 1800  # seconds: a run takes minutes, so older forwarders are an interrupted run's
# A TCP forwarder in Node (the website-agent image is always there when the stack runs).
FORWARD_JS = (
    "const net = require('net'); const host = process.argv[1];"
    "net.createServer((c) => { const u = net.connect(80, host);"
    " c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); c.pipe(u).pipe(c); })"
    f".listen({FORWARD_PORT}, '0.0.0.0', () => console.log('forwarding to ' + host));"
)


def subnet_candidates(rng: random.Random, tries: int = 8) -> list[tuple[str, str]]:
    """(subnet, client address) pairs to try: 10.233.X.0/24, a random host in it."""
    thirds = rng.sample(range(256), tries)
    return [(f"10.233.{t}.0/24", f"10.233.{t}.{rng.randrange(10, 250)}") for t in thirds]


def edge_container(stack: Stack, compose: Compose) -> str:
    running = [c.name for c in compose.containers() if c.service == "edge" and c.state == "running"]
    if not running:
        raise NotReady("the local edge is not running", hint="start the local stack with `inv up`")
    return running[0]


@contextlib.contextmanager
def own_client_address(stack: Stack, compose: Compose, docker: Docker | None = None) -> Iterator[tuple[str, str]]:
    """(base URL on 127.0.0.1 that reaches the edge from a fresh address, the edge container's name)."""
    docker = docker or Docker()
    edge = edge_container(stack, compose)
    _remove_leftovers(docker, edge)
    tag = uuid.uuid4().hex[:8]
    net = name = PREFIX + tag
    for subnet, ip in subnet_candidates(random.Random()):  # noqa: B007 - the one that worked is used below
        if docker.create_network(net, subnet):
            break
    else:
        raise NotReady(
            "no free subnet for the e2e client network (10.233.X.0/24)", hint=f"docker network ls | grep {PREFIX}"
        )
    try:
        docker.connect(net, edge)
        docker.run_detached(
            image_name(stack, next(iter(stack.public_services()))),
            name,
            net,
            ip,
            "node",
            ["-e", FORWARD_JS, edge],
            FORWARD_PORT,
            LABELS,
        )
        url = f"http://127.0.0.1:{docker.host_port(name, FORWARD_PORT)}"
        _wait_forwarding(url)
        yield url, edge
    finally:
        docker.remove_quietly(container=name, network=net, disconnect=edge)


@contextlib.contextmanager
def allow_listed_client(stack: Stack, compose: Compose, docker: Docker | None = None) -> Iterator[str]:
    """A base URL on 127.0.0.1 that reaches the edge from the ``allow-listed-clients``
    network (the WAF's IP-set allow rule: never rate-limited), for a tool's
    measuring traffic (`inv bench`). The same throwaway forwarder, on that network."""
    docker = docker or Docker()
    edge = edge_container(stack, compose)
    _remove_leftovers(docker, edge)
    name = PREFIX + uuid.uuid4().hex[:8]
    try:
        docker.run_detached(
            image_name(stack, next(iter(stack.public_services()))),
            name,
            f"{stack.project}_{CLIENTS_NETWORK}",
            None,
            "node",
            ["-e", FORWARD_JS, edge],
            FORWARD_PORT,
            LABELS,
        )
        url = f"http://127.0.0.1:{docker.host_port(name, FORWARD_PORT)}"
        _wait_forwarding(url)
        yield url
    finally:
        docker.remove_quietly(container=name)


def _remove_leftovers(docker: Docker, edge: str) -> None:
    """Forwarders and networks that a killed run left behind (never a running run's)."""
    containers, networks = docker.labelled_leftovers(LABELS[0], LEFTOVER_AFTER)
    for name in containers:
        docker.remove_quietly(container=name)
    for net in networks:
        docker.remove_quietly(network=net, disconnect=edge)


def _wait_forwarding(url: str) -> None:
    deadline = time.monotonic() + READY_WITHIN
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            # through the edge to a service's health path (the edge's own is not on the viewer's port)
            r = httpx.get(url + HEALTH_PROBE, timeout=2, headers={"user-agent": "parity-e2e-client"})
            if r.status_code == 200 and '"ok"' in r.text:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise NotReady(
        f"the e2e client forwarder at {url} does not reach the edge ({last})",
        hint=f"docker logs {PREFIX}<id>; docker network ls | grep {PREFIX}",
    )
