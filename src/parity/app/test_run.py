"""`inv test`: every suite in order, each a real process; a failed stage does
not hide the others. The stages are the README's promise of what is tested."""

from __future__ import annotations

import sys
from pathlib import Path

from parity.console import console

PY = sys.executable


# Each service's own suite (folder relative to the root, command): what
# `inv test` runs and what CI's per-service job runs (`inv service-test`).
SERVICE_SUITES: dict[str, tuple[str, str]] = {
    "crawler": (".", f"{PY} -m pytest services/crawler/tests -q"),
    "website-agent": ("services/website-agent", "npm ci --no-audit --no-fund --loglevel=error && npm test"),
}


def stages(unit_only: bool) -> list[tuple[str, str, str]]:
    """(name, folder relative to the root, command)."""
    out = [
        # ruff's rules and layout ([tool.ruff] in pyproject.toml): a finding or an unformatted file fails
        ("lint", ".", f"{PY} -m ruff check . && {PY} -m ruff format --check ."),
        ("unit", ".", f"{PY} -m pytest tests/unit -q"),
    ]
    if unit_only:
        return out
    return out + [
        # checkov on every environment's CloudFormation template (checkov lives in its own venv)
        ("infra-scan", ".", f"{PY} -m invoke infra-scan"),
        # the first day of production, offline, as the workflows' roles (an emulator, no Docker)
        ("rehearse", ".", f"{PY} -m invoke rehearse --env staging && {PY} -m invoke rehearse --env prod"),
    ] + [(name, folder, command) for name, (folder, command) in SERVICE_SUITES.items()] + [
        ("integration", ".", f"{PY} -m pytest tests/integration -q -m integration"),
        ("e2e", ".", f"{PY} -m invoke e2e"),
        # the images e2e just passed, by digest, to the local ECS emulator and registry
        ("promote-local", ".", f"{PY} -m invoke promote --env local"),
    ]


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
    failed = []
    for name, folder, command in stages(unit_only):
        console.rule(f"[bold]{name}[/bold]")
        with c.cd(str(root / folder)):
            result = c.run(command, warn=True, pty=False)
        if not result.ok:
            failed.append(name)
    if not unit_only and not keep_stack:
        console.rule("[bold]teardown[/bold]")
        with c.cd(str(root)):
            c.run(f"{PY} -m invoke down", warn=True, pty=False)
    console.rule("[bold]summary[/bold]")
    names = [name for name, _f, _c in stages(unit_only)]
    for name in names:
        console.print(f"  {name:<14} {'FAILED' if name in failed else 'ok'}")
    print(f"stages: {len(names) - len(failed)} passed, {len(failed)} failed", flush=True)
    return failed
