"""Invoke tasks: parse arguments, call the parity package, map its errors to a
clean exit. No logic lives here.

    inv up | down | status | logs | render-local | images | test | e2e
    inv render | diff | promote | rollback --env ENV    inv bootstrap --env local
"""

from __future__ import annotations

import functools
import json as jsonlib
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


@task(
    help={
        "timeout": "Seconds to wait for each stage to be healthy (default 300).",
        "watch": "Then keep the stack in step with the sources: a change is rebuilt and rolled out (Ctrl-C stops).",
    }
)
@cli
def up(c, timeout=300, watch=False):
    """Build, start and wait for the whole local stack (edge, services, LocalStack, databases).
    A service whose image changed is replaced replica by replica, as ECS does."""
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
    if watch:
        from parity.app.watch import watch as run_watch

        run_watch(_ws(), report=step)


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
    from parity.console import console, status_json, status_table

    containers, urls, warnings = run_status(_ws())
    if json:
        print(jsonlib.dumps(status_json(containers, urls, warnings), indent=2))
    else:
        status_table(containers, urls)
        for warning in warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")


@task(
    positional=["service"],
    optional=["service"],
    help={"service": "One service (default: all).", "follow": "Keep streaming.", "tail": "Lines per service."},
)
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


@task(help={"requests": "Requests per latency figure (default 50)."})
@cli
def bench(c, requests=50):
    """Measure and print the figures the targets are judged by (the stack must be up)."""
    from parity.app.bench import bench as run_bench
    from parity.console import console

    for fig in run_bench(_ws(), requests=int(requests)):
        console.print(f"  {fig.name:<78} {fig.value}" + (f"   [dim]({fig.target})[/dim]" if fig.target else ""))


@task
@cli
def images(c):
    """Show the size of each service image against its target."""
    from parity.app.images import image_report
    from parity.console import console

    for line in image_report(_ws()):
        console.print(line)


# -- the deploy layer: the tested images, by digest, to ECS (`--env local` is the emulator) --


def _deploy(env):
    from parity.app.context import connect
    from parity.console import console

    return connect(ROOT, env, report=lambda m: console.print(m, markup=False, highlight=False, soft_wrap=True))


@task(help={"env": "local, staging or prod (deploy/<env>.yaml)."})
@cli
def render(c, env):
    """Print the ECS task definitions for ENV, rendered from the spec, images pinned by digest."""
    from parity.app.release import render as run_render

    print(jsonlib.dumps(run_render(_deploy(env)).taskdefs, indent=2))


@task(help={"env": "local, staging or prod (deploy/<env>.yaml)."})
@cli
def diff(c, env):
    """Show what a promote would change in ENV: task definitions and services, normalised."""
    from parity.app.changes import diff as run_diff
    from parity.app.changes import show
    from parity.app.release import render as run_render

    ctx = _deploy(env)
    show(ctx, run_diff(ctx, run_render(ctx)))


@task(
    help={
        "env": "local, staging or prod (deploy/<env>.yaml).",
        "dry_run": "Stop after the diff: push, register and update nothing.",
        "force": "Promote even images that have not passed e2e.",
    }
)
@cli
def promote(c, env, dry_run=False, force=False):
    """Deploy the images that passed e2e, by digest: push, register, update, wait, sync, smoke."""
    from parity.adapters.git import head_sha
    from parity.app.promote import promote as run_promote
    from parity.console import step

    result = run_promote(_deploy(env), version=head_sha(ROOT), force=force, dry_run=dry_run)
    if not result.dry_run:
        step(f"promoted to {env}: " + ", ".join(result.release.refs.values()))


@task(help={"env": "local, staging or prod.", "service": "Only this service (default: all)."})
@cli
def rollback(c, env, service=None):
    """Put the services of ENV back on their previous task definition revision."""
    from parity.app.rollback import rollback as run_rollback
    from parity.console import step

    done = run_rollback(_deploy(env), [service] if service else None)
    step("rolled back: " + ", ".join(f"{s} -> {a.rsplit('/', 1)[-1]}" for s, a in done.items()))


@task(help={"env": "An emulator environment (default: local)."})
@cli
def bootstrap(c, env="local"):
    """Create the ECS side (cluster, repositories, services...) in the local AWS emulator."""
    from parity.app.bootstrap import bootstrap as run_bootstrap
    from parity.console import step

    created = run_bootstrap(_deploy(env))
    step("created: " + ", ".join(created) if created else "the emulator already has everything")


@task(
    help={
        "base_url": "Check this URL (a deployed environment) instead of the local stack; container checks are skipped.",
        "marker": "Only the checks with this marker: smoke, container or browser.",
    }
)
@cli
def e2e(c, base_url=None, marker=None):
    """The plan's validation checklist, end to end: page isolation, SSE, auth, crawler, caching, WAF, health."""
    from parity.app.e2e_run import run_e2e

    if not run_e2e(ROOT, base_url, marker):
        raise Exit("e2e failed (reports/e2e-junit.xml; screenshots, traces and service logs in reports/e2e/)", code=1)
