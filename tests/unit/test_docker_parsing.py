"""Parsing of `docker inspect` output, tested on saved real output (env values
scrubbed) so it needs no Docker engine."""

import json

from python_on_whales.components.container.models import ContainerInspectResult

from parity.adapters.docker import container_state

from .conftest import ROOT

SAVED = ROOT / "tests" / "unit" / "fixtures" / "docker-inspect-crawler-edge.json"


def states():
    return [container_state(ContainerInspectResult(**c), "huskit") for c in json.loads(SAVED.read_text())]


def test_container_state_from_real_inspect_output():
    crawler, edge = states()
    assert (crawler.name, crawler.service, crawler.state, crawler.health) == ("huskit-crawler-1", "crawler", "running", "healthy")
    assert crawler.networks == ["crawler-egress", "internal"]
    assert crawler.published_ports == []
    assert crawler.image_id.startswith("sha256:")
    assert edge.service == "edge"
    assert edge.networks == ["aws", "public"]
    assert edge.published_ports == ["127.0.0.1:8080->80/tcp"]
