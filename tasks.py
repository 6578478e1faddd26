"""Invoke tasks: parse arguments, call the parity package, map its errors to a
clean exit. No logic lives here.

    inv up | down | status | logs | render-local | images | test | e2e
    inv render | diff | promote | rollback --env ENV
"""

from __future__ import annotations

import functools
import json as jsonlib
import os
import sys
from pathlib import Path

from invoke import Exit, task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))

from parity.errors import NotReady, ParityError  # noqa: E402


def cli(fn):
    """Turn ParityError into a one-line message and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ParityError as exc:
            from parity.console import err_console

            if isinstance(exc, NotReady):
                for line in exc.details:
                    err_console.print(line, markup=False, highlight=False)
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper


def _ws():
    from parity.app.workspace import Workspace

    return Workspace.from_env(ROOT)


@task(help={"timeout": "Seconds to wait for each stage to be healthy (default 300)."})
@cli
def up(c, timeout=300):
    """Build, start and wait for the whole local stack (edge, services, LocalStack, databases)."""
    from parity.app.local_stack import up as run_up
    from parity.console import console, status_table, step

    result = run_up(_ws(), timeout=float(timeout), report=step)
    status_table(result.containers, result.urls)
    t = result.timings
    console.print(
        f"ready in {t['total']:.1f} s (build {t['build']:.1f} s, localstack {t['localstack']:.1f} s, "
        f"dependencies {t['dependencies']:.1f} s, services {t['services']:.1f} s)"
    )
    console.print(f"open {result.urls['edge']}")


@task(help={"volumes": "Also delete the database volumes."})
@cli
def down(c, volumes=False):
    """Stop and remove the local stack (data volumes survive unless --volumes)."""
    from parity.app.local_stack import down as run_down
    from parity.console import step

    run_down(_ws(), volumes=volumes)
    step("stack removed" + (" with its volumes" if volumes else "; volumes kept"))


@task(help={"json": "Machine-readable output for scripts and CI."})
@cli
def status(c, json=False):
    """Show every container of the local stack, its health, networks, ports and the URLs."""
    from parity.app.local_stack import status as run_status
    from parity.console import status_json, status_table

    containers, urls = run_status(_ws())
    if json:
        print(jsonlib.dumps(status_json(containers, urls), indent=2))
    else:
        status_table(containers, urls)


@task(help={"service": "One service (default: all).", "follow": "Keep streaming.", "tail": "Lines per service."})
@cli
def logs(c, service=None, follow=False, tail=100):
    """Show the logs of the local stack or of one service."""
    from parity.app.local_stack import logs as run_logs

    for line in run_logs(_ws(), service, follow=follow, tail=int(tail) if tail else None):
        print(line, flush=True)


@task(help={"check": "Do not write; fail if a committed file is stale."})
@cli
def render_local(c, check=False):
    """Render compose/compose.yaml, compose/compose.offline.yaml and compose/edge/nginx.conf from stack.yaml."""
    from parity.app.workspace import stale, write_rendered
    from parity.console import step
    from parity.spec import load_stack

    ws = _ws()
    stack = load_stack(ws.root, "local")
    if check:
        out = stale(stack, ws)
        if out:
            raise Exit("stale: " + ", ".join(str(p.relative_to(ws.root)) for p in out) + " (run `inv render-local`)", 1)
        step("rendered files are up to date")
        return
    changed = write_rendered(stack, ws)
    step("rendered: " + (", ".join(str(p.relative_to(ws.root)) for p in changed) or "nothing changed"))


@task(help={"unit": "Only the unit tests (no Docker).", "keep": "Leave the stack running afterwards."})
@cli
def test(c, unit=False, keep=False):
    """Every test: unit, both services' own suites, the real stack (integration) and the e2e checks."""
    from parity.app.test_run import run_all

    failed = run_all(c, ROOT, unit_only=unit, keep_stack=keep)
    if failed:
        raise Exit(f"failed: {', '.join(failed)}", code=1)


@task
@cli
def images(c):
    """Show the size of each service image against its target."""
    from parity.app.images import image_report
    from parity.console import console

    for line in image_report(_ws()):
        console.print(line)
