"""Invoke tasks: parse arguments, call the parity package, map its errors to a
clean exit. No logic lives here.

    inv up | down | status | logs | exec | render-local | images | test | e2e | parity | report
    inv status | logs | exec --env ENV      (the same verbs on ECS)
    inv build | load | service-test          (CI: build once, hand the images on)
    inv render | diff | promote | rollback --env ENV
    inv infra-render | infra-plan | infra-apply | infra-scan --env ENV
    inv infra-bootstrap | rehearse --env ENV
"""

from __future__ import annotations

import functools
import json as jsonlib
import sys
import time
from pathlib import Path

from invoke import Exit, task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))

from parity.errors import ParityError  # noqa: E402


def cli(fn):
    """Turn ParityError into a one-line message and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ParityError as exc:
            from parity.console import err_console

            for line in exc.details:
                err_console.print(line, markup=False, highlight=False)
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
        except Exception as exc:  # an AWS call that escaped aws_call: still one line, never a traceback
            from parity.adapters.aws import aws_error

            err = aws_error("AWS", exc)
            if err is None:
                raise
            raise Exit(f"error: {err}", code=err.exit_code) from None

    return wrapper


def _ws():
    from parity.app.workspace import Workspace

    return Workspace.from_env(ROOT)


@task(
    help={
        "timeout": "Seconds to wait for each stage to be healthy (default 300).",
        "no_build": "Run the service images already here (e.g. from `inv load`); never build.",
        "watch": "Then keep the stack in step with the sources and the spec: a change is rebuilt and rolled out (Ctrl-C stops).",
        "gate_edits": "With --watch: gate a gated service's edits too (the smoke checks but the long ones); else they roll.",
    }
)
@cli
def up(c, timeout=300, no_build=False, watch=False, gate_edits=False):
    """Build, start and wait for the whole local stack (edge, services, LocalStack, databases).
    A service whose image changed is replaced replica by replica, as ECS does."""
    from parity.app.local.warm import fast_up
    from parity.console import console, status_table, step

    if gate_edits and not watch:
        from parity.errors import ConfigError

        raise ConfigError("--gate-edits gates the edits --watch applies: give --watch too")
    t0 = time.monotonic()
    fast = fast_up(_ws()) if not no_build and not watch else None
    if fast:
        _stack, containers, urls = fast
        step("nothing changed since the last `inv up`: the stack is as it left it")
        status_table(containers, urls)
        console.print(f"ready in {time.monotonic() - t0:.1f} s (nothing to do)")
        console.print(f"open {urls['edge']}")
        return
    from parity.app.local.local_stack import up as run_up

    result = run_up(_ws(), timeout=float(timeout), report=step, build=not no_build)
    status_table(result.containers, result.urls)
    t = result.timings
    console.print(
        f"ready in {t['total']:.1f} s (build {t['build']:.1f} s, localstack {t['localstack']:.1f} s, "
        f"dependencies {t['dependencies']:.1f} s, services {t['services']:.1f} s)"
    )
    console.print(f"open {result.urls['edge']}")
    if watch:
        from parity.app.local.watch import watch as run_watch

        run_watch(_ws(), report=step, gate_edits=gate_edits)


@task(help={"volumes": "Also delete the database volumes."})
@cli
def down(c, volumes=False):
    """Stop and remove the local stack (data volumes survive unless --volumes)."""
    from parity.app.local.local_stack import down as run_down
    from parity.console import step

    run_down(_ws(), volumes=volumes)
    step("stack removed" + (" with its volumes" if volumes else "; volumes kept"))


ENV_HELP = "local, staging or prod: ECS in that environment (`local`: the emulator of `inv promote --env local`); default: the local stack."


@task(help={"json": "Machine-readable output for scripts and CI.", "env": ENV_HELP})
@cli
def status(c, json=False, env=None):
    """The local stack's containers, or with --env ENV's ECS services and tasks (rollout, targets, e2e, alarms, URL).

    Locally: each container's state, health, networks, ports; the URLs; a gated replacement in progress, its stage
    and traffic split. With --env: per service the desired,
    running and pending tasks, the revision and image, the last deployment's rollout and events, the target
    group's health, whether the images passed e2e together; per task its state, health and target; the alarms
    in ALARM, the edge URL, and warnings about what `inv parity --env` would call undeclared."""
    from parity.console import console, env_status_table, status_json, status_table

    if env:
        from parity.app.operations.operate import connect
        from parity.app.operations.operate_status import status as env_status

        found = env_status(connect(ROOT, env))
        if json:
            print(jsonlib.dumps(found.as_json(), indent=2))
        else:
            env_status_table(found)
        return
    from parity.app.local.gated import in_progress
    from parity.app.local.local_stack import status as run_status

    containers, urls, warnings = run_status(_ws())
    deployments = in_progress(ROOT)
    if json:
        print(jsonlib.dumps(status_json(containers, urls, warnings, deployments), indent=2))
    else:
        status_table(containers, urls, deployments)
        for warning in warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")


@task(
    help={
        "service": "One service (default: all; locally also a dependency or the edge).",
        "follow": "Keep streaming (Ctrl-C stops).",
        "tail": "Lines per container (local; default 100 without --since).",
        "since": "From this long ago (30s, 10m, 2h, 1d) or this time (2026-05-01T10:00, UTC); with --env default 10m.",
        "filter": "Only the lines that contain TEXT (case-sensitive).",
        "env": ENV_HELP,
    },
)
@cli
def logs(c, service=None, follow=False, tail=None, since=None, filter=None, env=None):
    """Logs of the local stack, or with --env of ENV's CloudWatch log groups (by task, in time order).

    With --env each line is prefixed with its service and task (the first 8 characters of its ID, as
    `inv exec --task` takes it), in time order across tasks; -f asks again every 5 s, as `aws logs tail -f`."""
    if env:
        from parity.app.operations.operate import connect
        from parity.app.operations.operate_logs import log_lines

        lines = log_lines(connect(ROOT, env), [service] if service else None, since or "10m", filter, follow)
    else:
        from parity.app.operations.operate_logs import local_logs as run_logs

        count = int(tail) if tail else (None if since else 100)
        lines = run_logs(_ws(), service, follow=follow, tail=count, since=since, text=filter)
    for line in lines:
        print(line, flush=True)


def _command_words(c) -> list[str]:
    """The words after `--`, as typed (invoke joins them with spaces in c.remainder)."""
    import shlex

    if "--" in sys.argv:
        words = sys.argv[sys.argv.index("--") + 1 :]
        if " ".join(words) == c.remainder:
            return words
    return shlex.split(c.remainder) if c.remainder else []


@task(
    name="exec",
    help={
        "service": "The service to enter.",
        "task": "One task by ID (or a prefix of it; locally a container name); default: the longest-running.",
        "env": ENV_HELP + " On ECS this is ECS Exec (aws.execute_command, the Session Manager plugin).",
    },
)
@cli
def exec_(c, service, task=None, env=None):
    """A shell (or `-- CMD ARGS`) in one running replica of a service: docker exec, or ECS Exec with --env.

    `inv exec --service S -- CMD ARGS` runs CMD instead of /bin/sh. With --env the environment must have
    aws.execute_command on, and AWS's Session Manager plugin must be installed."""
    import shlex

    words = _command_words(c)
    if env:
        from parity.app.operations.operate import connect
        from parity.app.operations.operate_exec import ecs_exec

        code = ecs_exec(connect(ROOT, env), service, task, shlex.join(words) if words else None)
    else:
        from parity.app.operations.operate_exec import local_exec

        code = local_exec(_ws(), service, task, words or None)
    if code:
        raise Exit(code=code)


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
    from parity.app.checks.test_run import run_all

    failed = run_all(c, ROOT, unit_only=unit, keep_stack=keep)
    if failed:
        raise Exit(f"failed: {', '.join(failed)}", code=1)


@task(
    help={
        "service": "Only this service (default: all).",
        "context": "Build the service from this checkout instead of the spec's build.context (needs --service).",
        "save": "Also save each image to DIR/<service>.tar with DIR/images.json (their IDs), for CI artefacts.",
    }
)
@cli
def build(c, service=None, context=None, save=None):
    """Build the service images exactly as `inv up` does, under the tags the stack runs."""
    from parity.app.local.images import build as run_build
    from parity.app.local.images import save as run_save
    from parity.console import step

    ws = _ws()
    images = run_build(ws, service, Path(context).resolve() if context else None, report=step)
    for name, image_id in images.items():
        step(f"built {name}: {image_id}")
    if save:
        for path in run_save(ws, images, Path(save)):
            step(f"saved {path}")


@task(help={"dir": "A folder (any depth) with <service>.tar and images.json from `inv build --save`."})
@cli
def load(c, dir):
    """Load saved service images and check each has the ID its build recorded."""
    from parity.app.local.images import load as run_load
    from parity.console import step

    for name, image_id in run_load(_ws(), Path(dir)).items():
        step(f"loaded {name}: {image_id}")


@task(
    help={
        "service": "The service whose own suite to run.",
        "context": "Run it in this checkout of the service instead of services/<service>.",
    }
)
@cli
def service_test(c, service, context=None):
    """One service's own test suite (the same command `inv test` runs for it)."""
    from parity.app.checks.test_run import run_service_suite

    if not run_service_suite(c, ROOT, service, Path(context).resolve() if context else None):
        raise Exit(f"{service}: its own suite failed", code=1)


@task(
    help={
        "requests": "Requests per latency figure (default 50).",
        "sse-only": "Only the SSE capacity (written to reports/bench-sse.json).",
        "levels": "Only these levels through the edge, in order, no search (e.g. 10000,10000); implies --sse-only.",
    }
)
@cli
def bench(c, requests=50, sse=True, edge_cap=16000, web_cap=16000, sse_only=False, levels=""):
    """Measure and print the figures the targets are judged by; also write reports/bench.json.

    The SSE capacity search (--no-sse skips it) opens up to --edge-cap streams through
    the edge and --web-cap on one website-agent container, from a load generator in a
    container (on the edge's allow-list), every level bounded in streams and time.
    --sse-only runs that alone; --levels N[,N...] runs just those levels through the edge.
    """
    from parity.app.benchmarks.bench import bench as run_bench
    from parity.app.benchmarks.bench_sse import parse_levels
    from parity.console import console

    ws = _ws()
    figures, path = run_bench(
        ws, requests=int(requests), sse=sse, edge_cap=int(edge_cap), web_cap=int(web_cap), report=console.print,
        sse_only=sse_only, levels=parse_levels(levels) if levels else None,
    )  # fmt: skip
    for fig in figures:
        console.print(f"  {fig.name:<36} {fig.shown:<28}" + (f" [dim]({fig.target})[/dim]" if fig.target else ""))
    console.print(f"written {path.relative_to(ws.root)}")


@task
@cli
def images(c):
    """Show the size of each service image against its target (also reports/images.json, for `inv report`)."""
    from parity.app.local.images import image_report
    from parity.console import console

    for line in image_report(_ws()):
        console.print(line)


@task
@cli
def report(c):
    """Write reports/index.html: what the last e2e, bench, parity and images runs proved, on one page that loads nothing."""
    from parity.app.report import write_page
    from parity.console import step

    step(f"written {write_page(ROOT).relative_to(ROOT)}")


# -- the deploy layer: the tested images, by digest, to ECS (`--env local` is the emulator) --


def _deploy(env):
    from parity.app.deploy.context import connect
    from parity.console import say

    return connect(ROOT, env, report=say)


@task(
    help={
        "env": "Compare with ENV: its rendered task definitions and infrastructure template and, with credentials, what ECS runs."
    }
)
@cli
def parity(c, env=None):
    """Local, rendered and live side by side, per service; fails on a difference the spec does not declare."""
    from parity.app.checks.parity import connect_live, connect_local, run, show
    from parity.console import console, say

    live = None
    if env:
        live, note = connect_live(ROOT, env)
        say(note)
    report = run(ROOT, connect_local(ROOT), env, live, report=say)
    show(report, say)
    if report.undeclared:
        raise Exit(f"parity: {len(report.undeclared)} undeclared differences", code=1)
    console.print(f"parity: every difference is declared ({report.env})")


ACCOUNT_HELP = "The AWS account ID the ARNs name (default: the credentials'; without AWS: a placeholder)."


@task(help={"env": "local, staging or prod (deploy/<env>.yaml).", "account": ACCOUNT_HELP})
@cli
def render(c, env, account=None):
    """Print the ECS task definitions for ENV, rendered from the spec, images pinned by digest."""
    from parity.app.deploy.changes import report_not_compared
    from parity.app.deploy.release import render as run_render
    from parity.console import err_console

    release = run_render(_deploy(env), account=account, offline_ok=True)
    print(jsonlib.dumps(release.taskdefs, indent=2))
    report_not_compared(lambda m: err_console.print(m, markup=False, highlight=False), release)


@task(help={"env": "local, staging or prod (deploy/<env>.yaml).", "account": ACCOUNT_HELP})
@cli
def diff(c, env, account=None):
    """Show what a promote would change in ENV: task definitions and services, normalised."""
    from parity.app.deploy.changes import diff as run_diff
    from parity.app.deploy.changes import report_not_compared, show
    from parity.app.deploy.release import render as run_render

    ctx = _deploy(env)
    release = run_render(ctx, account=account, offline_ok=True)
    show(ctx, run_diff(ctx, release, offline_ok=True))
    report_not_compared(ctx.report, release)


@task(
    help={
        "env": "local, staging or prod (deploy/<env>.yaml).",
        "dry_run": "Stop after the diff: push, register and update nothing.",
        "force": "Promote even images that have not passed e2e.",
        "account": ACCOUNT_HELP + " A promote checks it against the credentials'.",
    }
)
@cli
def promote(c, env, dry_run=False, force=False, account=None):
    """Deploy the images that passed e2e, by digest: push, register, update, wait, sync, smoke."""
    from parity.app.deploy.promote import promote as run_promote
    from parity.console import step

    result = run_promote(_deploy(env), force=force, dry_run=dry_run, account=account)
    if not result.dry_run:
        step(f"promoted to {env}: " + ", ".join(result.release.refs.values()))


@task(help={"env": "local, staging or prod.", "service": "Only this service (default: all)."})
@cli
def rollback(c, env, service=None):
    """Put the services of ENV back on their previous task definition revision."""
    from parity.app.deploy.rollback import rollback as run_rollback
    from parity.console import step
    from parity.spec import load_stack, require_services

    require_services(load_stack(ROOT, env), [service] if service else [])  # before Docker or AWS is asked
    done = run_rollback(_deploy(env), [service] if service else None)
    step("rolled back: " + ", ".join(f"{s} -> {a.rsplit('/', 1)[-1]}" for s, a in done.items()))


# -- the environment itself: one CloudFormation stack per environment (README "Who owns what in AWS") --


def _infra(env):
    from parity.app.infrastructure.infra import connect
    from parity.console import say

    return connect(ROOT, env, report=say)


@task(
    help={
        "env": "local, staging or prod (deploy/<env>.yaml).",
        "edge": "The us-east-1 companion stack's template (the web ACL).",
    }
)
@cli
def infra_render(c, env, edge=False):
    """Print ENV's CloudFormation template (JSON), rendered from the spec. No AWS call, no credentials."""
    from parity.app.infrastructure.infra import render as run_render
    from parity.console import err_console
    from parity.spec import load_stack

    warnings = lambda m: err_console.print(m, markup=False, highlight=False)  # noqa: E731 (stdout holds the template)
    print(run_render(load_stack(ROOT, env), edge=edge, report=warnings))


@task(
    help={
        "env": "local, staging or prod (deploy/<env>.yaml).",
        "keep": "Keep the change sets (.parity/infra-plan-ENV.json) for `inv infra-apply --planned`.",
    }
)
@cli
def infra_plan(c, env, keep=False):
    """Show what an infra-apply would change in ENV's stack (a change set, deleted again unless --keep)."""
    from parity.app.infrastructure.infra import plan_all

    plan_all(_infra(env), keep=keep, root=ROOT)


@task(
    help={
        "env": "local, staging or prod (deploy/<env>.yaml).",
        "planned": "Execute exactly the change sets `inv infra-plan --keep` made (refused if what it read has moved).",
    }
)
@cli
def infra_apply(c, env, planned=False):
    """Create or update ENV's stack through a change set, wait, print its outputs."""
    from parity.app.infrastructure.infra import apply, apply_planned
    from parity.console import step

    ctx = _infra(env)
    for key, value in (apply_planned(ctx, ROOT) if planned else apply(ctx)).items():
        step(f"{key}: {value}")


@task(help={"env": "staging or prod: the environment whose deploy identities to create or update."})
@cli
def infra_bootstrap(c, env):
    """Once per environment, as an administrator: the stack of its deploy identities
    (GitHub's OIDC provider and roles, CloudFormation's service role); prints what to set in GitHub."""
    from parity.app.infrastructure.infra import bootstrap_context, execute, outputs, plan, show
    from parity.console import say
    from parity.spec import load_stack

    stack = load_stack(ROOT, env)
    ctx = bootstrap_context(stack, report=say, endpoint_url=stack.aws.endpoint_url)
    result = plan(ctx, keep=True)
    show(ctx, result)
    execute(ctx, result)
    for key, value in outputs(ctx).items():
        say(f"{key}: {value}")
    say(
        "next: README 'Bootstrap a fresh account' (GitHub: the environments' protection and the variable AWS_ACCOUNT_ID)"
    )


@task(help={"env": "staging or prod (the environment whose first day to rehearse)."})
@cli
def rehearse(c, env):
    """The first day of production, offline: bootstrap, then every workflow job's AWS steps
    as the role it assumes, against an emulator that enforces IAM; a tree of checks, non-zero on NG."""
    from parity.app.rehearsal.rehearse import rehearse as run_rehearse
    from parity.console import say

    report = run_rehearse(ROOT, env, say)
    if report.failed:
        raise Exit(f"rehearse {env}: {len(report.failed)} check(s) NG (marked in the tree above)", code=1)


@task
@cli
def infra_scan(c):
    """checkov on every environment's template (reports/infra-*.json); fails on a finding the spec does not accept."""
    import os

    from parity.app.infrastructure.infra_scan import INSTALL_HINT, checkov_path, scan
    from parity.console import console

    checkov = checkov_path()
    if checkov is None:
        if os.environ.get("CI"):
            raise ParityError("checkov is not installed", hint=INSTALL_HINT)
        console.print(f"checkov is not installed: infra-scan skipped ({INSTALL_HINT})")
        return
    unexplained = 0
    for result in scan(ROOT, checkov, ROOT / "reports"):
        console.print(
            f"{result.env}: {result.passed} passed, {len(result.accepted)} accepted, {len(result.unexplained)} unexplained"
        )
        for f in result.unexplained:
            console.print(f"  {f.check} {f.resource}: {f.name}", markup=False)
        unexplained += len(result.unexplained)
    if unexplained:
        raise Exit(
            f"infra-scan: {unexplained} finding(s) neither fixed nor accepted in infra.accepted_findings", code=1
        )


@task(
    help={
        "base_url": "Check this URL (a deployed environment) instead of the local stack; container checks are skipped.",
        "marker": "Only the checks with this marker: smoke, container or browser.",
        "group": "One group of the suite (smoke, container, rest: together the whole suite); recorded for promote.",
    }
)
@cli
def e2e(c, base_url=None, marker=None, group=None):
    """The plan's validation checklist, end to end: page isolation, SSE, auth, crawler, caching, WAF, health."""
    from parity.app.checks.e2e_run import run_e2e
    from parity.app.local.images import record_sizes

    if not run_e2e(ROOT, base_url, marker, group, record_images=lambda: record_sizes(_ws())):
        raise Exit("e2e failed (reports/e2e-junit.xml; screenshots, traces and service logs in reports/e2e/)", code=1)
