"""Parsing of `docker inspect` output, tested on saved real output (env values
scrubbed) so it needs no Docker engine."""

import json

from python_on_whales.components.container.models import ContainerInspectResult

from parity.adapters.docker import build_failure, container_state

from .conftest import ROOT

SAVED = ROOT / "tests" / "unit" / "fixtures" / "docker-inspect-crawler-edge.json"


def states():
    return [container_state(ContainerInspectResult(**c), "huskit") for c in json.loads(SAVED.read_text())]


def test_container_state_from_real_inspect_output():
    crawler, edge = states()
    assert (crawler.name, crawler.service, crawler.state, crawler.health) == (
        "huskit-crawler-1",
        "crawler",
        "running",
        "healthy",
    )
    assert crawler.networks == ["crawler-egress", "internal"]
    assert crawler.published_ports == []
    assert crawler.image_id.startswith("sha256:")
    assert edge.service == "edge"
    assert edge.networks == ["aws", "public"]
    assert edge.published_ports == ["127.0.0.1:8080->80/tcp"]
    assert sorted(edge.addresses) == ["aws", "public"] and all(a.count(".") == 3 for a in edge.addresses.values())


def test_a_failed_build_is_named_by_its_step_and_shows_the_compilers_message():
    """Saved BuildKit plain output of a website-agent build with a syntax error."""
    log = (ROOT / "tests" / "unit" / "fixtures" / "buildkit-failed-esbuild.log").read_text()
    step, lines = build_failure(log)
    assert step == "[website-agent build 9/9] RUN npm run build"
    assert lines[0] == '✘ [ERROR] Expected identifier but found ","'
    assert lines[1].strip() == "src/app.ts:76:40:"  # the location comes with it
    assert len(lines) == 8 and not any(line.startswith(("#", "0.")) for line in lines)


def test_a_build_log_without_a_failed_step_names_none():
    assert build_failure("#1 [internal] load build definition\n#1 DONE 0.0s\n") == ("", [])


def test_a_failed_step_that_prints_no_error_word_shows_its_last_lines():
    log = '#5 [app 2/3] RUN ./make\n#5 0.10 one\n#5 0.20 two\n#5 ERROR: process "./make" did not complete\n'
    assert build_failure(log, keep=1) == ("[app 2/3] RUN ./make", ["two"])
