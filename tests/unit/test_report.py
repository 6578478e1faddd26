"""`inv report`, without a browser: what the page makes of the runs' records
(judging figures, the edit loop's phases read three ways, missing and broken
records, escaping), and the records the runs write for it."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from parity.app import report as page
from parity.app.checks.parity import ParityReport, ServiceParity, as_record
from parity.render import plots
from parity.render.parity import Difference
from parity.render.report import ReportInputs, edit_phases, first_event_limit_ms, judge, render_report

from .conftest import ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "report"


def inputs(**records) -> ReportInputs:
    return ReportInputs(generated_at="2026-03-30T10:00:00+00:00", commit="abc", **records)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("value", "target", "verdict"),
    [
        (1340, "< 2000 ms", "ok"), (2050, "< 2000 ms", "off"), (2000, "< 2000 ms", "off"),
        (0.43, "<= 1.2x", "ok"), (1.3, "<= 1.2x", "off"), (6000, ">= 10000 for 30 s, all complete", "off"),
        (10000, ">= 10,000 streams", "ok"), (0, "0", "ok"), (1, "0", "off"), (3.0, "<= 3 s", "ok"),
        (1.8, "edge cache", None), (152, "at 6000 streams", None), (439, "of 2048 MiB", None),
        (None, "< 5 s", None), (True, "0", None),
    ],
)  # fmt: skip
def test_a_target_that_states_a_bound_is_judged_other_targets_are_context(value, target, verdict):
    assert judge(value, target) == verdict


def test_edit_loop_phases_are_read_from_figures_named_per_phase():
    phases, target, real = edit_phases(fixture("bench.json")["figures"])
    assert real and target == 3
    assert list(phases) == ["website-agent", "crawler"]
    assert list(phases["website-agent"]) == [
        "detect",
        "build",
        "create",
        "start",
        "healthy",
        "registered",
        "first answer",
    ]
    assert phases["crawler"]["healthy"] == 1.0


def test_edit_loop_phases_from_a_phases_object_or_a_phase_key():
    figures = [
        {"name": "edit_to_served_s", "value": 2.5, "unit": "s", "target": "< 3 s", "note": "website-agent",
         "phases": {"detect": 0.2, "build": 1.1, "first answer": 0.3}},
        {"name": "edit_to_served_s", "value": 2.0, "unit": "s", "target": "< 3 s", "service": "crawler"},
        {"name": "edit_phase_s", "value": 0.9, "unit": "s", "phase": "build", "service": "crawler"},
    ]  # fmt: skip
    phases, target, real = edit_phases(figures)
    assert real and target == 3
    assert phases == {"website-agent": {"detect": 0.2, "build": 1.1, "first answer": 0.3}, "crawler": {"build": 0.9}}


def test_without_phases_the_totals_are_drawn():
    figures = [
        {"name": "edit_to_served_s", "value": 3.9, "unit": "s", "target": "< 5 s", "note": "website-agent"},
        {"name": "edit_to_served_s", "value": None, "unit": "s", "target": "< 5 s", "note": "crawler: not served within 120 s"},
    ]  # fmt: skip
    assert edit_phases(figures) == ({"website-agent": {"total": 3.9}}, 5, False)


def test_every_sse_level_and_repeat_is_a_point_with_its_verdict():
    levels = plots.levels_from(fixture("bench.json")["runs"]["edge"], "held")
    assert [(lv.streams, lv.ok) for lv in levels if lv.streams == 6000] == [(6000, True), (6000, True), (6000, False)]
    svg = plots.sse_capacity("edge", levels, 2000, "through the edge")
    held = re.search(r'<g id="edge-held">(.*?)</g>', svg, re.DOTALL)
    assert held and held.group(1).count("<use") == 5
    assert 'id="edge-limit"' in svg and "2 s limit" in svg
    assert plots.levels_from([{"streams": "x"}, "junk", {"no": 1}], "held") == []


def test_the_first_event_limit_is_the_recorded_one_or_the_one_the_targets_state():
    figures = [{"name": "sse_first_event_p99_ms", "value": 1200, "target": "< 1500 ms"}]
    assert first_event_limit_ms({"run": {"first_event_limit_ms": 2000}}, figures) == 2000
    assert first_event_limit_ms({}, figures) == 1500
    assert first_event_limit_ms({}, []) is None
    assert 'id="edge-limit"' not in plots.sse_capacity("edge", [plots.Level(1000, 900, True)], None, "t")


def test_the_page_says_what_is_missing_and_never_fails():
    html = render_report(inputs())
    for said in ("no e2e run yet", "no bench run yet", "no parity run yet", "no image sizes recorded yet"):
        assert said in html


def test_a_broken_record_is_named_on_the_page(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "bench.json").write_text('{"figures": [')
    (tmp_path / "reports" / "parity.json").write_text("[1, 2]")
    html = page.write_page(tmp_path).read_text()
    assert "reports/bench.json is not a JSON object" in html
    assert "reports/parity.json is not a JSON object" in html
    assert "no e2e run yet" in html


def test_records_with_fields_of_the_wrong_kind_still_render():
    weird = {"figures": [{"name": 3, "value": "fast", "min": "a"}, "junk"], "runs": {"edge": "nope"}, "run": []}
    html = render_report(inputs(bench=weird, e2e_checks={"checks": ["junk", {"outcome": None}]}, parity={"services": "x"},
                                images={"images": [None, {"size_mb": "big"}]}))  # fmt: skip
    assert "bench: the figures" in html and "fast" in html


def test_every_value_from_a_run_is_escaped():
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    e2e = {"checks": [{"nodeid": "t.py::x", "name": hostile, "outcome": "failed", "message": hostile, "area": hostile,
                       "files": {"trace": '"><script>alert(3)</script>', "screenshot": "javascript:alert(4)",
                                 "logs": "../../etc/passwd"}}]}  # fmt: skip
    bench = {"figures": [{"name": hostile, "value": 1, "unit": hostile, "target": hostile, "note": hostile}],
             "run": {"at": hostile, "commit": hostile, "images": {hostile: hostile}}}  # fmt: skip
    parity = {
        "env": hostile,
        "services": [
            {
                "service": hostile,
                "differences": [
                    {
                        "path": hostile,
                        "verdict": "undeclared",
                        "why": hostile,
                        "sides": [hostile, "b"],
                        "values": [hostile, None],
                    }
                ],
            }
        ],
    }
    images = {
        "images": [{"service": hostile, "ref": hostile, "id": hostile, "size_mb": 1, "target_mb": 2, "source": hostile}]
    }
    html = render_report(inputs(e2e_run={"target": hostile}, e2e_checks=e2e, bench=bench, parity=parity, images=images))
    assert "<script>" not in html and "<img src=x" not in html
    assert "javascript:" not in html and "etc/passwd" not in html  # only files beside the page are linked
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 10


def test_a_failed_checks_screenshot_is_inlined_and_nothing_outside_reports_is(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "reports")
    checks = json.loads((tmp_path / "reports" / "e2e" / "checks.json").read_text())
    (tmp_path / "secret.png").write_bytes(b"\x89PNG not for the page")
    checks["checks"][5]["files"]["screenshot"] = "../secret.png"
    (tmp_path / "reports" / "e2e" / "checks.json").write_text(json.dumps(checks))
    shots = page.gather(tmp_path).screenshots
    assert list(shots) == ["e2e/test_page-test_client_renders.png"]  # a passing check's screenshot is only linked
    assert shots["e2e/test_page-test_client_renders.png"].startswith("data:image/png;base64,iVBOR")


def test_a_page_that_cannot_be_written_is_one_line_not_a_failure(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "index.html").mkdir()  # a folder where the page goes
    said = []
    assert page.refresh(tmp_path, said.append) is None
    assert len(said) == 1 and said[0].startswith("reports/index.html not refreshed:")


def test_parity_record_lists_each_difference_with_its_verdict_and_the_running_images():
    diffs = [
        Difference("website-agent", "environment.DEBUG", ("running", "spec local"), ("<set>", "<absent>"), "undeclared", "by hand"),
        Difference("website-agent", "replicas", ("spec local", "spec prod"), (2, 3), "intended", "deploy/prod.yaml"),
        Difference("website-agent", "ingress", ("local net", "infra prod"), ("x" * 500, "y"), "intended", "local-only"),
    ]  # fmt: skip
    views = {"running": {"image": "sha256:aaa", "cpu": 1024, "replicas": 2, "environment.DEBUG": "<set>"},
             "spec local": {"image": "sha256:aaa", "replicas": 2}, "local net": {"ingress": "x"}}  # fmt: skip
    record = as_record(ParityReport("prod", [ServiceParity("website-agent", views, diffs)]), live=False)
    assert record["images"] == {"website-agent": "sha256:aaa"}
    assert record["undeclared"] == 1
    (svc,) = record["services"]
    assert svc["same"] == 2  # image, cpu
    assert [d["verdict"] for d in svc["differences"]] == ["undeclared", "intended", "intended"]
    assert len(svc["differences"][2]["values"][0]) == 200
    html = render_report(inputs(parity={"at": "t", "commit": "c", **record}))
    assert html.index("environment.DEBUG") < html.index("replicas")


def test_the_template_ships_with_the_package():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "*.j2" in data["tool"]["setuptools"]["package-data"]["parity.render"]
    assert (ROOT / "src" / "parity" / "render" / "report.html.j2").is_file()


def test_an_e2e_run_against_another_url_is_recorded_and_shown(tmp_path):
    from parity.app.checks.e2e_run import _record_run

    _record_run(tmp_path, "https://staging.example", False, "smoke", None, True, 12.34, {}, "")
    record = json.loads((tmp_path / page.E2E_RUN).read_text())
    assert record["target"] == "https://staging.example" and record["passed"] is True and record["wall_s"] == 12.3
    assert record["marker"] == "smoke" and record["at"] and "commit" in record
    html = (tmp_path / page.PAGE).read_text()
    assert "against https://staging.example · marker smoke" in html
    assert "passed" in html and "the run wrote no check list" in html
