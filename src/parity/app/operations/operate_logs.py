"""`inv logs --env ENV [--service S] [-f] [--since 10m] [--filter TEXT]`: the
services' CloudWatch log groups, each line prefixed with its service and task,
in time order across tasks (and services); with ``follow`` the groups are
asked again every few seconds, as `aws logs tail --follow` does.

A task's lines are in the stream ``ecs/<container>/<task ID>`` (the task
definition's ``awslogs-stream-prefix`` is ``ecs``). ``--filter`` keeps the
lines that contain TEXT, case-sensitively, as it does locally; CloudWatch is
asked with the same text as a quoted filter term, so only those travel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from parity.app.operations.operate import OpsContext, require_stack, since_seconds
from parity.errors import ParityError
from parity.render.taskdef import log_group
from parity.spec import require_services

TASK_CHARS = 8  # enough of a task ID to tell tasks apart (and for `inv exec --task`)
LATE_MS = 10_000  # a follow asks again this far back: CloudWatch may take seconds to list an event


@dataclass(frozen=True)
class LogLine:
    timestamp: int  # ms since the epoch
    service: str
    task: str
    message: str
    event_id: str

    def text(self) -> str:
        when = datetime.fromtimestamp(self.timestamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        return f"{self.service}/{self.task[:TASK_CHARS]} {when}Z {self.message}"


def stream_task(stream: str) -> str:
    """``ecs/crawler/0123...`` -> ``0123...``; another stream's name as it is."""
    parts = stream.split("/")
    return parts[2] if len(parts) == 3 and parts[0] == "ecs" else stream


def quoted_term(text: str | None) -> str | None:
    """TEXT as a CloudWatch filter term (exact phrase); None when it cannot be
    one (a double quote in it): then every line travels and is filtered here."""
    if not text or '"' in text or "\\" in text:
        return None
    return f'"{text}"'


def log_lines(
    ctx: OpsContext,
    services: list[str] | None = None,
    since: str = "10m",
    text: str | None = None,
    follow: bool = False,
    until: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """The lines of ``services`` (default: all) from ``since`` on; with
    ``follow`` it goes on until interrupted (or ``until()`` says stop)."""
    stack = ctx.stack
    names = services or list(stack.services)
    require_services(stack, names)  # a typo stops before AWS is asked
    start = int(since_seconds(since, ctx.clock()) * 1000)
    require_stack(ctx)
    groups = {name: log_group(stack, name) for name in names}
    for name, group in groups.items():
        if not ctx.logs.exists(group):
            raise ParityError(
                f"{name}: log group {group} does not exist in {ctx.env}",
                hint=f"`inv infra-apply --env {ctx.env}` creates it"
                if not stack.aws.bootstrap
                else f"`inv promote --env {ctx.env}` creates it",
            )
    pattern = quoted_term(text)
    seen: dict[str, int] = {}  # event ID -> timestamp, of the lines shown in the window asked again
    while True:
        batch = [
            LogLine(
                e["timestamp"],
                name,
                stream_task(e.get("logStreamName", "")),
                e.get("message", "").rstrip("\n"),
                e["eventId"],
            )
            for name, group in groups.items()
            for e in ctx.logs.events(group, start, pattern)
            if e.get("eventId") not in seen and (not text or text in e.get("message", ""))
        ]
        batch.sort(key=lambda line: (line.timestamp, line.service, line.task, line.event_id))
        for line in batch:
            seen[line.event_id] = line.timestamp
            yield line.text()
        if not follow or (until is not None and until()):
            return
        if seen:
            start = max(start, max(seen.values()) - LATE_MS)
            seen = {k: v for k, v in seen.items() if v >= start}
        ctx.sleep(ctx.poll_interval)


def local_logs(
    ws: Any, service: str | None, follow: bool, tail: int | None, since: str | None = None, text: str | None = None
):
    """The containers' lines (``since``: as `inv logs --env` takes it; ``text``:
    only the lines whose message contains it, as there). Here, beside the
    ECS logs, as local_exec is beside ECS Exec: both read ``--since`` alike."""
    import time

    from parity.adapters.docker import require_engine
    from parity.app.local.local_stack import compose_for
    from parity.spec import load_stack

    stack = load_stack(ws.root, "local")
    if service:
        require_services(stack, [service], also=[*stack.local.dependencies, "edge"])
    start = str(int(since_seconds(since, time.time()))) if since else None  # docker takes epoch seconds
    require_engine()
    lines = compose_for(ws, stack).logs(service, tail=tail, follow=follow, since=start)
    # compose prefixes each line with its container ("crawler-1  | ..."): TEXT is looked for after it
    return (line for line in lines if not text or text in line.partition(" | ")[2])
