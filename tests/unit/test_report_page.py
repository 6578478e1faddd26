"""`inv report`'s page in a real Chromium: rendered from saved inputs
(tests/unit/fixtures/report, as the runs write them), every section and plot
there, and not one request beyond the page itself. The screenshot is kept in
reports/report-page.png."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from parity.app.report import write_page

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "report"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "reports" / "report-page.png"
W = "sha256:7f3c0a5e1b2d4c6e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6e7"
C = "sha256:0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    pw = sync_api.sync_playwright().start()
    kwargs = {"executable_path": CHROMIUM} if Path(CHROMIUM).exists() else {}
    launched = pw.chromium.launch(args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"], **kwargs)
    yield launched
    launched.close()
    pw.stop()


def open_offline(browser, path: Path):
    """Open ``path`` from disk with every other request refused and recorded;
    (page, the other requests, console errors)."""
    own = path.resolve().as_uri()
    others: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def gate(route):
        if route.request.url == own:
            route.continue_()
        else:
            others.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(own, wait_until="load")
    page.wait_for_timeout(300)  # anything lazy would have asked by now
    return page, others, errors


@pytest.fixture
def rendered(tmp_path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "reports")
    return write_page(tmp_path)


def test_the_gate_sees_every_kind_of_request(browser, tmp_path):
    # the check below can fail: a page that loads anything is caught, file:// included
    page_path = tmp_path / "loads.html"
    page_path.write_text(
        '<img src="http://198.51.100.7/x.png"><img src="beside.png"><link rel="stylesheet" href="https://fonts.example/a.css">'
    )
    page, others, _ = open_offline(browser, page_path)
    page.context.close()
    assert any(u.startswith("http://198.51.100.7/") for u in others)
    assert any(u.endswith("/beside.png") for u in others)
    assert any(u.startswith("https://fonts.example/") for u in others)


def test_page_from_saved_inputs_shows_every_section_and_plot_and_loads_nothing(browser, rendered):
    html = rendered.read_text()
    assert 'http-equiv="Content-Security-Policy"' in html
    # without the CSP too: the page itself asks for nothing (the CSP is a second fence, not the reason)
    bare = rendered.with_name("bare.html")
    bare.write_text(re.sub(r"<meta http-equiv=\"Content-Security-Policy\"[^>]*>", "", html))
    for path in (bare, rendered):  # the page as written stays open for the checks below
        page, others, errors = open_offline(browser, path)
        assert others == [], f"{path.name} made requests: {others}"
        assert errors == [], f"{path.name}: {errors}"
        if path == bare:
            page.context.close()
    # the page as written: every section with its stamp
    for section in ("e2e", "bench", "parity", "images"):
        assert page.locator(f"section#{section} .stamp").is_visible(), section
    # e2e: failures first, each with its message and its screenshot inline; the whole tree after
    failures = page.locator("#e2e .failure")
    assert failures.count() == 2
    assert (
        page.evaluate(
            "document.querySelector('#e2e-failures').compareDocumentPosition(document.querySelector('#e2e-tree')) & 4"
        )
        == 4
    )
    first = failures.nth(0)
    assert "the built client renders" in first.inner_text()
    assert first.locator("img").evaluate("i => i.complete && i.naturalWidth > 0")  # the data URI decoded
    assert first.locator("a", has_text="trace").get_attribute("href") == "e2e/test_page-test_client_renders-trace.zip"
    assert page.locator("#e2e-tree li.check").count() == 10
    assert page.locator("#e2e-tree li.check.failed").count() == 2
    # a hostile value from a run is text, not markup
    assert "<script>alert('x')</script>" in first.locator("pre").inner_text()
    assert page.locator("#e2e script, #e2e pre img").count() == 0
    # bench: the SSE searches (each repeat a point, the 2 s limit drawn) and the edit loop's phases
    for plot, held, failed in (("edge", 5, 2), ("web-task", 7, 2)):
        svg = page.locator(f"#sse-{plot} svg")
        assert svg.is_visible()
        assert svg.locator(f"#{plot}-held use").count() == held
        assert svg.locator(f"#{plot}-failed use").count() == failed
        assert svg.locator(f"#{plot}-limit").count() == 1
        assert "2 s limit" in svg.text_content()
    edit = page.locator("#edit-loop svg")
    assert edit.is_visible()
    assert edit.locator("[id^='edit-loop-website-agent-']").count() == 7
    assert edit.locator("#edit-loop-crawler-first-answer").count() == 1
    assert edit.locator("#edit-loop-target").count() == 1
    assert page.locator("#bench-figures tbody tr").count() == 39
    assert page.locator("#bench-figures tr.off").count() == 2
    # parity: the undeclared difference first, then the declared ones
    rows = page.locator("#parity-differences tbody tr")
    assert rows.count() == 6
    assert rows.nth(0).get_attribute("class") == "undeclared"
    assert "environment.DEBUG_TOKEN" in rows.nth(0).inner_text()
    # images: sizes against targets, the one over marked; the IDs the runs ran against
    assert page.locator("#image-sizes tr.off").inner_text().startswith("crawler")
    text = page.inner_text("body")
    assert W in text and C in text
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.context.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_page_without_any_run_says_so(browser, tmp_path):
    page, others, errors = open_offline(browser, write_page(tmp_path))
    assert (others, errors) == ([], [])
    text = page.inner_text("main")
    for said in ("no e2e run yet", "no bench run yet", "no parity run yet", "no image sizes recorded yet"):
        assert said in text
    page.context.close()
