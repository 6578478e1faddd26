"""`inv report`: one page, ``reports/index.html``, with what the last runs
proved (e2e, bench, parity, images), each with its time, commit and image IDs.
``inv e2e``, ``inv bench`` and ``inv parity`` refresh it when they finish.

This module reads the runs' records (and stamps them: ``stamp``); the page
itself is drawn by ``render.report``. A record that is missing or broken is
said on the page, never an error: the page is evidence, not a gate.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.adapters.git import source_revision
from parity.app.jsonfile import read_json
from parity.errors import ParityError

if TYPE_CHECKING:
    from parity.render.report import ReportInputs

REPORTS = Path("reports")
PAGE = REPORTS / "index.html"
E2E_RUN = REPORTS / "e2e-run.json"  # written by app.e2e_run
E2E_CHECKS = REPORTS / "e2e" / "checks.json"  # written by the e2e suite (e2e/conftest.py)
BENCH = REPORTS / "bench.json"
PARITY = REPORTS / "parity.json"
IMAGES = REPORTS / "images.json"
INLINE_SCREENSHOT_MAX = 3_000_000  # bytes; a larger screenshot is linked, not inlined


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def stamp(root: Path) -> dict[str, Any]:
    """When and from which toolkit commit a run ran (``-dirty``: uncommitted changes)."""
    try:
        commit = source_revision(Path(root))
    except ParityError:
        commit = None
    return {"at": now(), "commit": commit}


def _record(
    root: Path, rel: Path, section: str, problems: dict[str, str], written: dict[str, str]
) -> dict[str, Any] | None:
    path = Path(root) / rel
    if not path.exists():
        return None
    written[section] = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    data = read_json(path)
    if not isinstance(data, dict):
        problems[section] = f"{rel} is not a JSON object: its run was cut short or the file was edited (run it again)"
        return None
    return data


def _screenshots(root: Path, checks: dict[str, Any] | None) -> dict[str, str]:
    """Failed checks' screenshots as data URIs, so the page shows them with nothing beside it."""
    out: dict[str, str] = {}
    reports = (Path(root) / REPORTS).resolve()
    for check in (checks or {}).get("checks") or []:
        if not isinstance(check, dict) or check.get("outcome") != "failed":
            continue
        rel = ((check.get("files") or {}) if isinstance(check.get("files"), dict) else {}).get("screenshot")
        if not isinstance(rel, str) or not rel.endswith(".png"):
            continue
        path = (reports / rel).resolve()
        if not path.is_relative_to(reports) or not path.is_file() or path.stat().st_size > INLINE_SCREENSHOT_MAX:
            continue
        out[rel] = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    return out


def gather(root: Path) -> ReportInputs:
    """Every record there is, read."""
    from parity.render.report import ReportInputs

    problems: dict[str, str] = {}
    written: dict[str, str] = {}
    e2e_run = _record(root, E2E_RUN, "e2e", problems, written)
    e2e_checks = _record(root, E2E_CHECKS, "e2e", problems, written)
    return ReportInputs(
        generated_at=now(),
        commit=stamp(root)["commit"],
        e2e_run=e2e_run,
        e2e_checks=e2e_checks,
        bench=_record(root, BENCH, "bench", problems, written),
        parity=_record(root, PARITY, "parity", problems, written),
        images=_record(root, IMAGES, "images", problems, written),
        problems=problems,
        written=written,
        screenshots=_screenshots(root, e2e_checks),
    )


def write_page(root: Path) -> Path:
    """Write ``reports/index.html`` from the records there are; its path."""
    try:
        from parity.render.report import render_report
    except ImportError as exc:  # the `report` extra is not installed
        raise ParityError(
            f"inv report needs {exc.name}, which is not installed", hint="pip install -e '.[report]' (or '.[dev]')"
        ) from None
    path = Path(root) / PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(gather(root)), encoding="utf-8")
    tmp.replace(path)
    return path


def refresh(root: Path, report: Callable[[str], None] = print) -> Path | None:
    """Rewrite the page after a run. The run's own outcome is what counts: a
    page that cannot be written is one line, never the run's failure."""
    try:
        path = write_page(root)
    except Exception as exc:  # noqa: BLE001 - the page is a view of the run, not part of it
        report(f"reports/index.html not refreshed: {type(exc).__name__}: {exc} (`inv report` says more)")
        return None
    report(f"report: {PAGE}")
    return path
