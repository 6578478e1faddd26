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
