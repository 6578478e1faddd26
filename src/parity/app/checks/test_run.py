"""`inv test`: every suite in order, each a real process; a failed stage does
not hide the others. The stages are the README's promise of what is tested."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from parity.console import console

PY = sys.executable


# Each service's own suite (folder relative to the root, command): what
# `inv test` runs and what CI's per-service job runs (`inv service-test`).
SERVICE_SUITES: dict[str, tuple[str, str]] = {
    "crawler": (".", f"{PY} -m pytest services/crawler/tests -q"),
    "website-agent": ("services/website-agent", "npm ci --no-audit --no-fund --loglevel=error && npm test"),
}


# Stages that use no part of the local stack (no Docker, their own ports) and time
# nothing: they run beside the stack's stages, which take turns on the one stack
# (``run_all``). The services' suites stay in line: their timing checks (a crawl's
# concurrency at the target, SSE ticks) met a loaded machine there.
BESIDE_THE_STACK = ("infra-scan", "rehearse")  # the services' suites time browsers and streams: not beside


def stages(unit_only: bool) -> list[tuple[str, str, str]]:
    """(name, folder relative to the root, command)."""
    out = [
        # ruff's rules and layout ([tool.ruff] in pyproject.toml): a finding or an unformatted file fails
        ("lint", ".", f"{PY} -m ruff check . && {PY} -m ruff format --check ."),
        ("unit", ".", f"{PY} -m pytest tests/unit -q"),
    ]
    if unit_only:
        return out
    return (
        out
        + [
            # checkov on every environment's CloudFormation template (checkov lives in its own venv)
            ("infra-scan", ".", f"{PY} -m invoke infra-scan"),
            # the first day of production, offline, as the workflows' roles (an emulator, no Docker)
            ("rehearse", ".", f"{PY} -m invoke rehearse --env staging && {PY} -m invoke rehearse --env prod"),
        ]
        + [(name, folder, command) for name, (folder, command) in SERVICE_SUITES.items()]
        + [
            ("integration", ".", f"{PY} -m pytest tests/integration -q -m integration"),
            ("e2e", ".", f"{PY} -m invoke e2e"),
            # the images e2e just passed, by digest, to the local ECS emulator and registry
            ("promote-local", ".", f"{PY} -m invoke promote --env local"),
        ]
    )


def run_service_suite(c, root: Path, service: str, context: Path | None = None) -> bool:
    """One service's own suite; ``context`` runs it in another checkout of the
    service (its folder stands for ``services/<service>``)."""
    from parity.errors import ConfigError

    if service not in SERVICE_SUITES:
        raise ConfigError(f"--service: {service!r} has no suite here (one of {', '.join(SERVICE_SUITES)})")
    folder, command = SERVICE_SUITES[service]
    cwd = root / folder
    if context is not None:
        cwd = context if folder != "." else root
        command = command.replace(f"services/{service}", str(context))
    with c.cd(str(cwd)):
        return c.run(command, warn=True, pty=False).ok


def run_all(c, root: Path, unit_only: bool = False, keep_stack: bool = False) -> list[str]:
    """Every stage; a failed one does not stop the others. After ``unit``, the
    stages that need no stack run one after another in the background (their
    output kept under ``.parity/test-logs/`` and shown when they end), while the
    stack's stages run here: the machine mostly waits on the stack's tests."""
    failed: list[str] = []
    took: dict[str, float] = {}
    planned = stages(unit_only)
    beside = [st for st in planned if st[0] in BESIDE_THE_STACK]
    side = _Beside(root, beside) if beside else None
    for name, folder, command in planned:
        if name in BESIDE_THE_STACK:
            continue
        console.rule(f"[bold]{name}[/bold]")
        t = time.monotonic()
        with c.cd(str(root / folder)):
            result = c.run(command, warn=True, pty=False)
        took[name] = time.monotonic() - t
        if not result.ok:
            failed.append(name)
        if name == "unit" and side is not None:
            side.start()
    if side is not None:
        for name, ok, seconds, log in side.wait():
            console.rule(f"[bold]{name}[/bold] (ran beside the stack; {log.relative_to(root)})")
            print(log.read_text(errors="replace"), end="", flush=True)
            took[name] = seconds
            if not ok:
                failed.append(name)
    if not unit_only and not keep_stack:
        console.rule("[bold]teardown[/bold]")
        with c.cd(str(root)):
            c.run(f"{PY} -m invoke down", warn=True, pty=False)
    console.rule("[bold]summary[/bold]")
    names = [name for name, _f, _c in planned]
    for name in names:
        console.print(f"  {name:<14} {'FAILED' if name in failed else 'ok':<7} {took.get(name, 0):7.1f} s")
    print(f"stages: {len(names) - len(failed)} passed, {len(failed)} failed", flush=True)
    return failed


class _Beside:
    """The no-stack stages, one after another in a background thread, each a process."""

    def __init__(self, root: Path, planned: list[tuple[str, str, str]]) -> None:
        self.root, self.planned = root, planned
        self.logs = root / ".parity" / "test-logs"
        self.done: list[tuple[str, bool, float, Path]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.thread.start()

    def _run(self) -> None:
        for name, folder, command in self.planned:
            log = self.logs / f"{name}.log"
            started = time.monotonic()
            with log.open("w") as out:
                code = subprocess.run(
                    command, shell=True, cwd=self.root / folder, stdout=out, stderr=subprocess.STDOUT
                ).returncode
            self.done.append((name, code == 0, time.monotonic() - started, log))

    def wait(self) -> list[tuple[str, bool, float, Path]]:
        if not self.thread.is_alive() and not self.done:
            self.start()
        self.thread.join()
        return self.done
