"""The report's plots, drawn by matplotlib into SVG text (pure: data in, SVG out).

matplotlib because it is the well-kept standard, its SVG backend needs no
display and no browser, and it draws what the figures need (twin axes,
reference lines, stacked bars) without code of ours. Text stays text
(``svg.fonttype: none``): the SVG is small, needs no embedded glyphs and its
labels can be read and searched in the page. Every artist the page is checked
by carries an id (``gid``); ids are unique per plot (``svg.hashsalt``), since
several SVGs share one HTML document.
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("svg", force=False)  # no display anywhere

from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

OK, NG, INK, GRID, LIMIT = "#2e7d32", "#c62828", "#37474f", "#eceff1", "#ef6c00"
PHASE_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#2e7d32", "#f9a825", "#ef6c00", "#ad1457", "#4e342e", "#546e7a")
STYLE = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",  # ships with matplotlib (text is measured with it); the page names fallbacks
    "font.size": 9,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "svg.image_inline": True,
}


@dataclass(frozen=True)
class Level:
    """One level of the SSE capacity search, one repeat: what the bench recorded."""

    streams: int
    p99_ms: float | None
    ok: bool
    memory_mib: float | None = None


def _svg(fig: Figure, salt: str) -> str:
    out = io.StringIO()
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": salt}):
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = out.getvalue()
    return text[text.index("<svg") :]  # the XML prolog and doctype do not belong inside HTML


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), dpi=96)


def sse_capacity(name: str, levels: Iterable[Level], limit_ms: float | None, title: str) -> str:
    """Streams (x) against first-event p99 (left axis), each repeat a point
    (held: green dot, not held: red cross), the median per level joined by a
    line, the limit drawn; memory sampled at each level on the right axis.
    Ids: ``{name}-held``, ``{name}-failed``, ``{name}-limit``, ``{name}-memory``."""
    levels = sorted(levels, key=lambda lv: lv.streams)
    with matplotlib.rc_context(STYLE):
        fig = _figure(5.4, 3.1)
        ax = fig.add_subplot()
        ax.set_title(title, loc="left", fontsize=10, color=INK)
        ax.grid(True, color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)
        measured = [lv for lv in levels if lv.p99_ms is not None]
        by_level: dict[int, list[float]] = {}
        for lv in measured:
            by_level.setdefault(lv.streams, []).append(float(lv.p99_ms))  # type: ignore[arg-type]
        xs = sorted(by_level)
        if xs:
            (median,) = ax.plot(
                xs,
                [statistics.median(by_level[x]) for x in xs],
                color=INK,
                linewidth=1,
                label="p99 (median of repeats)",
            )
            median.set_gid(f"{name}-median")
        for ok, gid, marker, colour, label in ((True, "held", "o", OK, "held"), (False, "failed", "x", NG, "not held")):
            pts = [lv for lv in measured if lv.ok is ok]
            (line,) = ax.plot([lv.streams for lv in pts], [lv.p99_ms for lv in pts], linestyle="none", marker=marker,
                              color=colour, markersize=6, label=f"{label} ({len(pts)})")  # fmt: skip
            line.set_gid(f"{name}-{gid}")
        if limit_ms is not None:
            limit = ax.axhline(limit_ms, color=LIMIT, linestyle="--", linewidth=1.2)
            limit.set_gid(f"{name}-limit")
            ax.annotate(f"{limit_ms / 1000:g} s limit", xy=(0.995, limit_ms), xycoords=("axes fraction", "data"),
                        xytext=(0, 3), textcoords="offset points", ha="right", color=LIMIT, fontsize=8)  # fmt: skip
        top = max([limit_ms or 0, *(lv.p99_ms or 0 for lv in measured)]) or 1
        ax.set_ylim(0, top * 1.6)  # room above the points for the legend
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel("first-event p99 (ms)")
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        memory = [lv for lv in levels if lv.memory_mib is not None]
        handles, labels = ax.get_legend_handles_labels()
        if memory:
            mem_ax = ax.twinx()
            mem_by: dict[int, list[float]] = {}
            for lv in memory:
                mem_by.setdefault(lv.streams, []).append(float(lv.memory_mib))  # type: ignore[arg-type]
            mx = sorted(mem_by)
            (mem,) = mem_ax.plot(mx, [max(mem_by[x]) for x in mx], color="#7e57c2", linestyle=":", marker="s",
                                 markersize=3, linewidth=1, label="memory (MiB)")  # fmt: skip
            mem.set_gid(f"{name}-memory")
            mem_ax.set_ylabel("memory (MiB)", color="#7e57c2")
            mem_ax.set_ylim(0, max(max(v) for v in mem_by.values()) * 1.25)
            h2, l2 = mem_ax.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        ax.legend(handles, labels, loc="upper left", frameon=True, framealpha=0.9, edgecolor=GRID, fontsize=7)
        if not measured:
            ax.text(0.5, 0.5, "no level measured", transform=ax.transAxes, ha="center", color=INK)
        return _svg(fig, f"sse-{name}")


def edit_loop(name: str, phases: Mapping[str, Mapping[str, float]], target_s: float | None) -> str:
    """One horizontal bar per service, its phases stacked in order (seconds),
    the total written at the end, the target drawn. ``phases``: service ->
    {phase: seconds} (insertion order is the phases' order). Ids:
    ``{name}-<service>-<phase>`` per bar segment, ``{name}-target``."""
    services = list(phases)
    order: list[str] = []
    for per in phases.values():
        order += [p for p in per if p not in order]
    with matplotlib.rc_context(STYLE):
        fig = _figure(6.4, 0.5 + 0.45 * max(1, len(services)))
        ax = fig.add_subplot()
        ax.grid(True, axis="x", color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)
        left = [0.0] * len(services)
        for i, phase in enumerate(order):
            widths = [float(phases[s].get(phase) or 0.0) for s in services]
            bars = ax.barh(
                services, widths, left=left, color=PHASE_COLOURS[i % len(PHASE_COLOURS)], height=0.55, label=phase
            )
            for service, bar in zip(services, bars, strict=True):
                bar.set_gid(f"{name}-{_slug(service)}-{_slug(phase)}")
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for y, total in enumerate(left):
            ax.text(total, y, f" {total:.1f} s", va="center", fontsize=8, color=INK)
        if target_s is not None:
            line = ax.axvline(target_s, color=LIMIT, linestyle="--", linewidth=1.2)
            line.set_gid(f"{name}-target")
            ax.annotate(f"target {target_s:g} s", xy=(target_s, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(0, 3), textcoords="offset points", ha="center", color=LIMIT, fontsize=8)  # fmt: skip
        ax.set_xlim(0, max([*left, target_s or 0]) * 1.2 or 1)
        ax.invert_yaxis()
        ax.set_xlabel("seconds from save to served through the edge")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
        return _svg(fig, f"edit-{name}")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def levels_from(runs: Iterable[Mapping[str, Any]], ok_key: str) -> list[Level]:
    """The bench's recorded levels (``reports/bench.json`` ``runs.<label>``) as
    plot points; ``ok_key`` is the verdict the search judged by (``held``,
    ``within_p99``). A level without streams is skipped."""
    out = []
    for run in runs:
        if not isinstance(run, Mapping) or not isinstance(run.get("streams"), int | float):
            continue
        p99 = run.get("first_event_p99_ms")
        mem = run.get("memory_mib")
        out.append(Level(int(run["streams"]), float(p99) if isinstance(p99, int | float) else None, bool(run.get(ok_key)),
                         float(mem) if isinstance(mem, int | float) else None))  # fmt: skip
    return out
