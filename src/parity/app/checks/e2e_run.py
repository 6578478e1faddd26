"""`inv e2e`: run the e2e suite (or a marked subset of it) against the local
stack or any base URL, as a real pytest process, and say whether it passed.

Independent checks run in parallel (pytest-xdist), so the run takes little
more than its longest check. Reports: the summary tree on the terminal,
JUnit XML in reports/e2e-junit.xml, screenshots, traces and service logs in
reports/e2e/, the run's record in reports/e2e-run.json (when, commit, images),
and the report page (reports/index.html) refreshed. A local run of the whole suite, or of one of its groups (CI runs
them as parallel jobs), that passes records the images it tested, by image ID,
for `inv promote`. Against the local stack, the suite reaches the edge from an
address of the run's own (app/checks/e2e_client.py): rate budgets spent by earlier
runs, or by anything else on the host, never fail it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from parity.adapters.docker import Compose
from parity.app.checks.e2e_client import own_client_address
from parity.app.checks.records import FULL_SUITE, GROUPS, group_suite, record_e2e_pass
from parity.app.jsonfile import write_json
from parity.app.workspace import Workspace
from parity.console import console, step
from parity.errors import ConfigError, NotReady, ParityError
from parity.spec import Stack, load_stack

NO_TESTS_COLLECTED = 5  # pytest's exit code
WORKERS = 4
JUNIT = Path("reports") / "e2e-junit.xml"
REPORTS = Path("reports") / "e2e"


def local_edge_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.edge.port}"


def e2e_command(
    base_url: str, marker: str | None = None, workers: int = WORKERS, edge_container: str | None = None
) -> list[str]:
    """The pytest command line (pure, so it is tested without running it).
    ``edge_container``: the local edge, when ``base_url`` reaches it another way
    than its published port (the run's own client address)."""
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        "e2e/pytest.ini",
        "e2e",
        "--base-url",
        base_url,
        "-n",
        str(workers),
        "--dist",
        "load",
        f"--junitxml={JUNIT}",
        f"--reports-dir={REPORTS}",
        "-q",
        "--tb=short",
    ]
    if edge_container:
        argv += ["--edge-container", edge_container]
    if marker:
        argv += ["-m", marker]
    return argv


def _require_edge(url: str) -> None:
    try:
        httpx.get(f"{url}/healthz", timeout=5)
    except httpx.HTTPError:
        raise NotReady(f"nothing answers at {url}", hint="start the local stack with `inv up`") from None


def _clear_reports(root: Path) -> None:
    folder = root / REPORTS
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _skipped(junit: Path) -> int:
    """How many checks the JUnit report marks skipped (0 if there is no report)."""
    import xml.etree.ElementTree as ET

    try:
        suites = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return 0
    return sum(int(s.get("skipped", 0)) for s in suites.iter("testsuite"))


def tested_images(root: Path, stack: Stack) -> dict[str, str]:
    """Service -> image ID of the running containers (every replica must agree)."""
    ws = Workspace.from_env(root)
    found: dict[str, set[str]] = {}
    for c in Compose(ws.compose_files(), stack.project).containers():
        if c.service in stack.services and c.state == "running":
            found.setdefault(c.service, set()).add(c.image_id)
    mixed = [s for s, ids in found.items() if len(ids) != 1]
    if mixed or set(found) != set(stack.services):
        raise NotReady(
            f"cannot tell which images were tested: {', '.join(mixed) or 'some services'} run mixed or no images",
            hint="`inv up` again, then `inv e2e`",
        )
    return {s: ids.pop() for s, ids in found.items()}


def run_e2e(root: Path, base_url: str | None, marker: str | None = None, group: str | None = None, *,
            extra_env: dict[str, str] | None = None, record_images: Callable[[], object] | None = None) -> bool:  # fmt: skip
    """True when the selected e2e checks pass against ``base_url`` (default:
    the local edge). ``group`` (one of records.GROUPS) selects a part of the
    suite that is recorded as such. Finding no check at all is a failure: an
    empty smoke run proves nothing. ``extra_env``: added to the suite's
    environment only (e.g. ``PARITY_E2E_HEADERS`` with a secret header: never
    on its command line). ``record_images``: records the local images' sizes
    beside the run's record (`inv e2e` passes app.local.images.record_sizes:
    this package does not import the local stack's)."""
    if group is not None:
        if group not in GROUPS:
            raise ConfigError(f"--group: {group!r} is not an e2e group (one of {', '.join(GROUPS)})")
        if marker is not None:
            raise ConfigError("--group and --marker select checks two ways; give one")
        marker = GROUPS[group]
    stack = load_stack(root, "local")
    local = local_edge_url(stack)
    url = (base_url or local).rstrip("/")
    is_local = url in (local, local.replace("127.0.0.1", "localhost"))
    if is_local:
        _require_edge(url)
    _clear_reports(root)
    started = time.monotonic()
    with contextlib.ExitStack() as run:
        argv = e2e_command(url, marker)
        if is_local:
            # The suite talks to the local edge from an address of this run's own, so its
            # WAF budgets are never found spent by earlier runs (see app/checks/e2e_client.py).
            compose = Compose(Workspace.from_env(root).compose_files(), stack.project)
            via, edge = run.enter_context(own_client_address(stack, compose))
            step(f"e2e clients reach the edge from an address of this run's own, through {via}")
            argv = e2e_command(via, marker, edge_container=edge)
        env = {**os.environ, **extra_env} if extra_env else None
        proc = subprocess.run(argv, cwd=root, check=False, env=env)
    wall = time.monotonic() - started
    console.print(f"e2e finished in {wall:.1f} s (wall time, with pytest's start-up)")
    if proc.returncode == NO_TESTS_COLLECTED:
        console.print(f"no e2e checks{' marked ' + marker if marker else ''} were collected")
    passed = proc.returncode == 0
    skipped = _skipped(root / JUNIT) if passed else 0
    recordable = is_local and (marker is None or group is not None)
    images = _running_images(root, stack) if is_local else {}
    recorded = ""
    try:
        if passed and recordable and skipped:
            recorded = f"not recorded as tested: {skipped} checks were skipped"
            step(recorded)
        elif passed and recordable:
            images = images or tested_images(root, stack)  # raises, saying why they cannot be told
            record_e2e_pass(root, images, group_suite(group) if group else FULL_SUITE)
            recorded = "recorded as tested (`inv promote` may ship these images)"
            step("recorded as tested: " + ", ".join(f"{s} {i[:19]}" for s, i in sorted(images.items())))
    finally:
        _record_run(root, url, is_local, marker, group, passed, wall, images, recorded,
                    record_images if is_local else None)  # fmt: skip
    return passed


def _running_images(root: Path, stack: Stack) -> dict[str, str]:
    """The images the run was against, for its record (empty when they cannot be told)."""
    try:
        return tested_images(root, stack)
    except NotReady:
        return {}


def _record_run(root: Path, url: str, is_local: bool, marker: str | None, group: str | None, passed: bool,
                wall: float, images: dict[str, str], recorded: str,
                record_images: Callable[[], object] | None = None) -> None:  # fmt: skip
    """``reports/e2e-run.json`` (when, commit, target, images, outcome), the
    image sizes when local, then the report page refreshed."""
    from parity.app import report

    record = {
        **report.stamp(root), "target": url + (" (local stack)" if is_local else ""), "local": is_local,
        "marker": marker, "group": group, "passed": passed, "wall_s": round(wall, 1), "images": images, "recorded": recorded,
    }  # fmt: skip
    write_json(root / report.E2E_RUN, record)
    if record_images is not None:
        try:
            record_images()
        except ParityError as exc:
            step(f"image sizes not recorded: {exc}")
    report.refresh(root, step)


def failed_checks(root: Path) -> list[str]:
    """The names of the checks the last run failed (reports/e2e/checks.json;
    [] when there is no such file)."""
    import json

    try:
        body = json.loads((root / REPORTS / "checks.json").read_text())
    except (OSError, ValueError):
        return []
    return [c.get("name") or c.get("nodeid", "?") for c in body.get("checks", []) if c.get("outcome") == "failed"]
