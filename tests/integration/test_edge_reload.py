"""The edge reloading under load (the rolling and the gated replacements
switch target groups by graceful reloads): on a real nginx running the
rendered edge in front of a recording origin, requests sent while the edge
reloads again and again are all answered by the origin, none with a 502 of
the edge's own (no shared stack)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from parity.spec import load_stack

from .conftest import ROOT, docker
from .edge_harness import edge_with_recorder, lock_env, raw_request
from .test_edge_test_traffic import TEST_TRAFFIC_ENV, _files

pytestmark = pytest.mark.integration

LOCAL = load_stack(ROOT, "local")
RELOADS = 100


def test_requests_during_graceful_reloads_are_never_answered_502():
    import secrets

    env = {**lock_env(), TEST_TRAFFIC_ENV: secrets.token_urlsafe(24)}
    with edge_with_recorder(LOCAL, _files(), env=env) as edge:
        statuses: Counter[int] = Counter()
        stop = threading.Event()
        lock = threading.Lock()

        def load() -> None:
            while not stop.is_set():
                try:
                    status, _ = raw_request(edge.port, "/healthz", headers={"Connection": "close"}, timeout=10)
                except OSError:
                    status = -1
                with lock:
                    statuses[status] += 1

        workers = [threading.Thread(target=load, daemon=True) for _ in range(16)]
        for w in workers:
            w.start()
        for _ in range(RELOADS):
            docker("exec", edge.container, "nginx", "-s", "reload")
            time.sleep(0.1)
        stop.set()
        for w in workers:
            w.join(timeout=20)
        logs = docker("logs", edge.container, check=False)
        errors = [ln for ln in (logs.stdout + logs.stderr).splitlines() if "[error]" in ln][-5:]
    assert sum(statuses.values()) > 100, statuses
    assert set(statuses) == {200}, f"{dict(statuses)} over {RELOADS} reloads; the edge said: {errors}"
