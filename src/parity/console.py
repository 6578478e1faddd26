"""What a person sees: progress lines, the status table, timings. Plain
rich output on a terminal, no colour codes when piped."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from parity.adapters.docker import ContainerState

# Piped output (CI logs, `| tee`) gets a wide fixed width so tables are not cut.
console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, emoji=False, width=None if sys.stderr.isatty() else 160)


def step(message: str) -> None:
    """One progress line. The message is text, never markup: it can carry a
    tool's output (a failed build prints ``[stage 3/9]``)."""
    console.print(f"[dim]•[/dim] {escape(message)}")


def say(message: str) -> None:
    """One line as it is (ARNs, digests, AWS messages): no markup, no highlighting, never cut."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


_STYLE = {"healthy": "green", "unhealthy": "red", "starting": "yellow", "none": "dim"}


def status_table(containers: list[ContainerState], urls: dict[str, str]) -> None:
    if not containers:
        console.print("The local stack is not running (`inv up` starts it).")
        return
    table = Table(title="local stack", title_justify="left")
    for col in ("service", "container", "state", "health", "networks", "published"):
        table.add_column(col, overflow="fold")
    for c in containers:
        health = f"[{_STYLE.get(c.health, 'white')}]{c.health}[/]"
        table.add_row(c.service, c.name, c.state, health, ", ".join(c.networks), ", ".join(c.published_ports) or "-")
    console.print(table)
    for name, url in urls.items():
        console.print(f"  {name:<12} {url}")


def status_json(containers: list[ContainerState], urls: dict[str, str], warnings: list[str]) -> dict:
    return {
        "env": None,  # no --env: the local stack (`--env local` is the ECS emulator)
        "services": [
            {
                "name": c.service,
                "container": c.name,
                "state": c.state,
                "health": c.health,
                "networks": c.networks,
                "published_ports": c.published_ports,
            }
            for c in containers
        ],
        "urls": urls,
        "warnings": warnings,
    }


def _short_image(image: str | None) -> str:
    """``HOST/huskit/crawler@sha256:<64 hex>`` -> ``huskit/crawler@sha256:<12 hex>``."""
    if not image:
        return "-"
    repo, at, digest = image.partition("@")
    first, slash, rest = repo.partition("/")
    if slash and ("." in first or ":" in first):  # a registry's host
        repo = rest
    return f"{repo}@{digest[:19]}" if at else repo


def env_status_table(status) -> None:
    """`inv status --env`: the deployments, then the tasks in local `inv status`'s
    columns, the e2e verdict, the URL, alarms and warnings (``status``: app.operate_status.EnvStatus)."""
    console.print(f"{status.env}: cluster {status.cluster} in {status.region}", markup=False)
    table = Table(title="deployments", title_justify="left")
    for col in ("service", "desired", "running", "pending", "revision", "image", "rollout", "exec"):
        table.add_column(col, overflow="fold")
    for d in status.deployments:
        table.add_row(
            d.name, str(d.desired), str(d.running), str(d.pending), d.revision or "-", _short_image(d.image),
            d.rollout.get("state") or "-", "on" if d.execute_command else "off",
        )  # fmt: skip
    console.print(table)
    for d in status.deployments:
        r = d.rollout
        say(
            f"  {d.name}: deployment {r.get('id')} of {r.get('revision')} {r.get('state')}"
            + (f": {r['reason']}" if r.get("reason") else "")
        )
        for event in d.events:
            say(f"    {event}")
        for t in d.targets:
            say(f"    target {t['id']}: {t['state']}" + (f" ({t['reason']})" if t["reason"] else ""))
    tasks = Table(title="tasks", title_justify="left")
    for col in ("service", "task", "state", "health", "networks", "target", "exec", "revision"):
        tasks.add_column(col, overflow="fold")
    for t in status.tasks:
        health = f"[{_STYLE.get(t.health, 'white')}]{escape(t.health)}[/]"
        tasks.add_row(
            t.name, t.container, t.state, health, ", ".join(t.networks) or "-", t.target or "-", t.execute_command, t.revision or "-"
        )  # fmt: skip
    if status.tasks:
        console.print(tasks)
    else:
        say("  no task runs" + (" (an emulator runs none; it only reports counts)" if status.env == "local" else ""))
    say(f"  e2e          {status.e2e.get('detail')}")
    for name, url in status.urls.items():
        say(f"  {name:<12} {url}")
    for alarm in status.alarms:
        console.print(f"[red]alarm:[/red] {escape(alarm['name'])}: {escape(alarm['reason'])}")
    for warning in status.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
