"""After `inv e2e` on the real stack, `reports/index.html` shows that run: its
checks as the run's tree wrote them and the image IDs the containers run
(marker integration; the smoke checks, about 15 s after `inv up`)."""

from __future__ import annotations

import html
import json
import re

import pytest

from .conftest import ROOT, containers_of, inspect, inv

pytestmark = pytest.mark.integration


def test_page_after_e2e_shows_its_checks_and_the_running_image_ids(stack):
    before = (ROOT / "reports" / "index.html").stat().st_mtime if (ROOT / "reports" / "index.html").exists() else 0
    proc = inv("e2e", "--marker", "smoke", check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "report: reports/index.html" in proc.stdout
    page = ROOT / "reports" / "index.html"
    assert page.stat().st_mtime > before
    text = html.unescape(re.sub(r"<[^>]+>", " ", page.read_text()))
    checks = json.loads((ROOT / "reports" / "e2e" / "checks.json").read_text())["checks"]
    assert checks and all(c["outcome"] == "passed" for c in checks)
    for check in checks:
        assert check["name"] in text, check["name"]
    assert f"{len(checks)} checks, {len(checks)} OK, 0 NG" in " ".join(text.split())
    run = json.loads((ROOT / "reports" / "e2e-run.json").read_text())
    for service in ("website-agent", "crawler"):
        running = {inspect(c)["Image"] for c in containers_of(service)}
        assert running == {run["images"][service]}
        assert run["images"][service] in text
