"""Server-Sent Events: a small parser and the timing check shared by the HTTP
client and the browser variant of the stream check.

The property under test is "no buffering between the service and the
viewer": every ``tick`` must reach the client about when the service sent it
(one a second), not in batches. A buffering proxy shows up as a late first
event and as events that arrive together."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

FIRST_EVENT_WITHIN = 2.0  # seconds from the request to the first tick (sent at 1 s)
ON_TIME_WITHIN = 1.5  # how far a tick may drift from first tick + (n - 1) s
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class Event:
    """One SSE event and when it arrived (seconds since the request started)."""

    at: float
    name: str
    id: str = ""
    data: str = ""


def parse(lines: Iterable[tuple[float, str]]) -> Iterator[Event]:
    """Events from (arrival time, line) pairs; an event is complete at its blank line."""
    name, eid, data = "message", "", []
    seen_field = False
    for at, raw in lines:
        line = raw.rstrip("\r")
        if line == "":
            if seen_field:
                yield Event(at=at, name=name, id=eid, data="\n".join(data))
            name, eid, data, seen_field = "message", "", [], False
            continue
        if line.startswith(":"):
            continue  # a comment (the stream's opening line, keep-alives)
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        seen_field = True
        if field == "event":
            name = value
        elif field == "id":
            eid = value
        elif field == "data":
            data.append(value)


def timing_problems(events: list[Event], seconds: int) -> list[str]:
    """What is wrong with a stream of ``seconds`` ticks then ``done``; empty when all is well."""
    ticks = [e for e in events if e.name == "tick"]
    problems: list[str] = []
    ids = [e.id for e in ticks]
    wanted = [str(n) for n in range(1, seconds + 1)]
    if ids != wanted:
        shown = ids if len(ids) <= 12 else ids[:6] + ["..."] + ids[-6:]
        problems.append(f"tick ids {shown} (len {len(ids)}), wanted 1..{seconds} in order")
    if not events or events[-1].name != "done":
        problems.append(f"the stream did not end with `done` (last event: {events[-1].name if events else 'none'})")
    if not ticks:
        return problems + ["no tick arrived"]
    first = ticks[0].at
    if first > FIRST_EVENT_WITHIN:
        problems.append(f"first tick after {first:.2f} s (limit {FIRST_EVENT_WITHIN:.0f} s): the response is buffered")
    late = [
        (n, e.at - (first + (n - 1) * TICK_SECONDS))
        for n, e in enumerate(ticks, start=1)
        if abs(e.at - (first + (n - 1) * TICK_SECONDS)) > ON_TIME_WITHIN
    ]
    if late:
        worst = max(late, key=lambda x: abs(x[1]))
        problems.append(
            f"{len(late)} of {len(ticks)} ticks off schedule by more than {ON_TIME_WITHIN} s "
            f"(worst: tick {worst[0]} by {worst[1]:+.2f} s): events arrive in batches"
        )
    span = ticks[-1].at
    if len(ticks) == seconds and span < (seconds - 1) * TICK_SECONDS:
        problems.append(f"all {seconds} ticks within {span:.1f} s: not a live stream")
    return problems


def describe(events: list[Event]) -> str:
    """A compact arrival log for failure messages: `id@seconds`."""
    return " ".join(f"{e.id or e.name}@{e.at:.2f}" for e in events)
