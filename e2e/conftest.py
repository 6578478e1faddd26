"""The e2e suite: the plan's validation checklist (section 12) as checks that
run against the local stack (`inv e2e`) or any deployed environment
(`inv e2e --base-url URL`).

What this file provides:
- options: --base-url, --stream-seconds, --edge-container, --reports-dir;
- fixtures: ``base_url``, ``spec`` (stack.yaml), ``http`` (a plain client),
  ``local`` (the local stack's containers, or a skip with the reason),
  ``browser`` / ``page`` (Chromium through Playwright; a screenshot of every
  browser check, a trace when it fails);
- on any failure: the last log lines of each service, in the report and in
  reports/e2e/;
- the one-screen summary tree (check, result, time) and the wall time;
  the same tree as reports/e2e/checks.json (with each check's screenshot,
  trace and log files) for `inv report`'s page.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from itertools import zip_longest
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from e2elib import ROOT  # noqa: E402
from e2elib import local as local_access  # noqa: E402
from e2elib.report import CheckResult, render_tree, tree_order  # noqa: E402

from parity.spec import load_stack  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_STREAM_SECONDS = 35
MESSAGE_LINES = 20  # of a failure's report, kept in checks.json for the report page


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("e2e")
    try:  # pytest-base-url (from pytest-playwright) may already define it
        group.addoption("--base-url", default=None, help="where to run the checks (default: the local edge)")
    except ValueError:
        pass
    group.addoption(
        "--stream-seconds", type=int, default=DEFAULT_STREAM_SECONDS, help="length of the SSE check (default 35)"
    )
    group.addoption(
        "--edge-container",
        default=None,
        help="the container standing for the edge in container checks (default: the stack's edge service)",
    )
    group.addoption("--reports-dir", default=str(ROOT / "reports" / "e2e"), help="screenshots, traces, service logs")


_CONFIG: pytest.Config | None = None  # this process's config, for hooks that are not given it


def pytest_configure(config: pytest.Config) -> None:
    global _CONFIG
    _CONFIG = config
    stack = load_stack(ROOT, "local")
    base_url = (config.getoption("base_url") or f"http://127.0.0.1:{stack.edge.port}").rstrip("/")
    config.option.base_url = base_url
    config._e2e_stack = stack  # type: ignore[attr-defined]
    found, why = local_access.access(base_url, stack.project, stack.edge.port, config.getoption("edge_container"))
    config._e2e_local = found  # type: ignore[attr-defined]
    config._e2e_local_reason = why  # type: ignore[attr-defined]
    config._e2e_results = {}  # type: ignore[attr-defined]
    Path(config.getoption("reports_dir")).mkdir(parents=True, exist_ok=True)


# ---- scheduling, names, skips ------------------------------------------------


def _check_name(item: pytest.Item) -> str:
    doc = (getattr(item, "obj", None).__doc__ or "").strip() if getattr(item, "obj", None) else ""
    name = doc.splitlines()[0].rstrip(".") if doc else item.name
    if getattr(item, "callspec", None):
        name += f" [{item.callspec.id}]"
    return name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for index, item in enumerate(items):
        item.user_properties += [("check", _check_name(item)), ("order", index)]
    # Long checks first, one in every pair: xdist's load scheduler hands each
    # worker two consecutive tests to start with, so the long ones start at
    # once on separate workers and the run ends soon after the longest.
    long = [i for i in items if i.get_closest_marker("long")]
    short = [i for i in items if not i.get_closest_marker("long")]
    items[:] = [x for pair in zip_longest(long, short[: len(long)]) for x in pair if x is not None] + short[len(long) :]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("container") and item.config._e2e_local is None:  # type: ignore[attr-defined]
        pytest.skip(item.config._e2e_local_reason)  # type: ignore[attr-defined]


def _file_stem(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid.replace(".py::", "-")).strip("-")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
    stack = item.config._e2e_local  # type: ignore[attr-defined]
    if rep.failed and stack is not None and not getattr(item, "_e2e_logs_taken", False):
        item._e2e_logs_taken = True  # type: ignore[attr-defined]
        try:
            logs = stack.last_log_lines(15)
        except Exception as exc:  # noqa: BLE001 - logs are a help, never a second failure
            logs = f"(could not read service logs: {exc})"
        rep.sections.append(("Captured stdout (last log lines of each service)", logs + "\n"))
        out = Path(item.config.getoption("reports_dir")) / f"{_file_stem(item.nodeid)}-service-logs.txt"
        out.write_text(logs + "\n")


# ---- summary -----------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._e2e_started = time.monotonic()  # type: ignore[attr-defined]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _CONFIG
    if config is None:
        return
    results: dict[str, CheckResult] = config._e2e_results  # type: ignore[attr-defined]
    r = results.setdefault(report.nodeid, CheckResult(report.nodeid))
    props = dict(report.user_properties)
    r.name = r.name or props.get("check", "")
    r.order = props.get("order", r.order)
    reason = message = ""
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
    elif report.failed:
        message = "\n".join(report.longreprtext.strip().splitlines()[-MESSAGE_LINES:])
    r.add_phase(report.when, report.outcome, report.duration, reason, message)


CHECK_FILES = {"screenshot": ".png", "trace": "-trace.zip", "logs": "-service-logs.txt"}


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """The checks as reports/e2e/checks.json (controller only), each with the
    files the run left for it, relative to reports/."""
    config = session.config
    if hasattr(config, "workerinput") or not hasattr(config, "_e2e_results"):
        return
    folder = Path(config.getoption("reports_dir"))
    checks = []
    for r in tree_order(list(config._e2e_results.values())):  # type: ignore[attr-defined]
        stem = _file_stem(r.nodeid)
        files = {
            k: f"{folder.name}/{stem}{suffix}"
            for k, suffix in CHECK_FILES.items()
            if (folder / f"{stem}{suffix}").is_file()
        }
        checks.append({**r.as_dict(), "files": files})
    started = getattr(config, "_e2e_started", None)
    body = {
        "target": config.option.base_url + (" (local stack)" if config._e2e_local else ""),  # type: ignore[attr-defined]
        "wall_s": round(time.monotonic() - started, 1) if started else None,
        "exit_status": int(exitstatus),
        "checks": checks,
    }
    (folder / "checks.json").write_text(json.dumps(body, indent=2) + "\n")


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    results = list(config._e2e_results.values())  # type: ignore[attr-defined]
    if not results:
        return
    wall = time.monotonic() - config._e2e_started  # type: ignore[attr-defined]
    target = config.option.base_url + (" (local stack)" if config._e2e_local else "")  # type: ignore[attr-defined]
    terminalreporter.write_sep("=", "e2e summary")
    for line in render_tree(results, target, wall):
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        f"reports: {config.getoption('reports_dir')}"
        + (f", {config.option.xmlpath}" if getattr(config.option, "xmlpath", None) else "")
    )


# ---- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str:
    return pytestconfig.option.base_url


@pytest.fixture(scope="session")
def spec(pytestconfig: pytest.Config):
    """The stack spec (stack.yaml): ports, rate limits, bucket, project name."""
    return pytestconfig._e2e_stack  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def local(pytestconfig: pytest.Config) -> local_access.LocalStack:
    """The local stack's containers; skips (with the reason) elsewhere."""
    found = pytestconfig._e2e_local  # type: ignore[attr-defined]
    if found is None:
        pytest.skip(pytestconfig._e2e_local_reason)  # type: ignore[attr-defined]
    return found


@pytest.fixture(scope="session")
def is_https(base_url: str) -> bool:
    return base_url.startswith("https://")


@pytest.fixture
def http(base_url: str):
    """A plain HTTP client on the base URL (no cookies kept, no redirects followed)."""
    with httpx.Client(
        base_url=base_url, timeout=20, follow_redirects=False, headers={"user-agent": "huskit-e2e"}
    ) as client:
        yield client


@pytest.fixture(scope="session")
def reports_dir(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig.getoption("reports_dir"))


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium when present (no browser download here), else Playwright's own."""
    from playwright.sync_api import Error, sync_playwright

    pw = sync_playwright().start()
    exe = os.environ.get("PARITY_E2E_CHROMIUM") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    kwargs = {"args": CHROMIUM_ARGS, **({"executable_path": exe} if exe else {})}
    try:
        launched = pw.chromium.launch(**kwargs)
    except Error as exc:
        pw.stop()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.fail(
            f"cannot start Chromium ({exe or 'Playwright default'}): {first} "
            "(hint: `apt-get install chromium`, or `playwright install chromium` where downloads work)",
            pytrace=False,
        )
    yield launched
    launched.close()
    pw.stop()


@pytest.fixture
def page(browser, base_url: str, request: pytest.FixtureRequest, reports_dir: Path):
    """A fresh page on the base URL. Saves a screenshot always, a trace on failure.

    The page asks `/api/auth/me` on load; that answer is stubbed here so the
    browser checks do not spend the WAF's auth budget (20 per 300 s per client
    address, shared by the run's checks), which belongs to the auth checks."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 1000})
    context.tracing.start(screenshots=True, snapshots=True)
    pg = context.new_page()
    pg.route("**/api/auth/me", lambda route: route.fulfill(status=401, json={"error": "unauthenticated"}))
    yield pg
    stem = _file_stem(request.node.nodeid)
    try:
        pg.screenshot(path=str(reports_dir / f"{stem}.png"), full_page=True)
    except Exception:  # noqa: BLE001 - a screenshot is a help, never a second failure
        pass
    failed = any(
        getattr(request.node, f"rep_{w}", None) is not None and getattr(request.node, f"rep_{w}").failed
        for w in ("setup", "call")
    )
    context.tracing.stop(path=str(reports_dir / f"{stem}-trace.zip") if failed else None)
    context.close()
