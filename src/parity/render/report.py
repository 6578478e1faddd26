"""`inv report`, the pure part: what the last runs recorded, as one static,
self-contained HTML page (``reports/index.html``).

Inputs are the records the runs write (read by ``app.report``): the e2e run
(``reports/e2e-run.json``: when, commit, images, target) and its checks
(``reports/e2e/checks.json``: the OK/NG tree), ``reports/bench.json``,
``reports/parity.json`` and ``reports/images.json``. Each is optional: a
missing one is said on the page, a broken one too (with the file's name),
never an error.

The page loads nothing: CSS inline, plots inline SVG (``render.plots``), a
failed check's screenshot inline as a data URI (its trace and logs are links
next to the page). Every value from a run goes through Jinja2's autoescaping.

The bench section reads figures generically: every figure has ``name``,
``value``, ``unit``, ``target`` and may have ``min``, ``max`` (the spread of
repeats) and ``note``. A target that starts with a comparison (``< 2000 ms``,
``>= 4000 ...``, ``<= 1.2x``) or is a bare number (``0``) is judged; any other
target is context. The edit loop's phases are read from, in this order: a
figure's ``phases`` object (phase -> seconds), figures that carry a ``phase``
key, figures named ``edit_to_served_<phase>_s``; the service from a figure's
``service`` key or its note's first word. Without phases each service's total
``edit_to_served_s`` is drawn as one bar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from parity.render import plots

TEMPLATE = "report.html.j2"
EDIT_TOTAL = "edit_to_served_s"
MARK = {"passed": "OK", "failed": "NG", "skipped": "SKIP", "error": "NG"}
VERDICT_MARK = {"undeclared": "NG", "intended": "ok", "release": "--"}
_PHASE_NAME = re.compile(r"^edit_to_served_(?P<phase>.+)_s$")
_TARGET = re.compile(r"^\s*(?P<op><=|>=|<|>|=|≤|≥)?\s*(?P<num>-?[\d,]*\.?\d+)(?:\s|$|[a-zA-Z%])")


@dataclass
class ReportInputs:
    """What ``app.report`` read; every record optional (None: no such run yet)."""

    generated_at: str
    commit: str | None = None
    e2e_run: Mapping[str, Any] | None = None
    e2e_checks: Mapping[str, Any] | None = None
    bench: Mapping[str, Any] | None = None
    parity: Mapping[str, Any] | None = None
    images: Mapping[str, Any] | None = None
    problems: dict[str, str] = field(default_factory=dict)  # section -> why its record could not be read
    written: dict[str, str] = field(default_factory=dict)  # section -> when its file was written (a fallback time)
    screenshots: dict[str, str] = field(default_factory=dict)  # relative path -> data URI (failed checks only)


# -- judging figures -------------------------------------------------------------------


def judge(value: Any, target: Any) -> str | None:
    """``ok`` / ``off`` for a value against a target that states a bound;
    None when the target is context (``edge cache``, ``at 4000 streams``) or
    there is no value."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not isinstance(target, str):
        return None
    m = _TARGET.match(target)
    if not m:
        return None
    op = {"≤": "<=", "≥": ">="}.get(m["op"] or "=", m["op"] or "=")
    bound = float(m["num"].replace(",", ""))
    ok = {"<": value < bound, "<=": value <= bound, ">": value > bound, ">=": value >= bound, "=": value == bound}[op]
    return "ok" if ok else "off"


def _number(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "" if value is None else str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}".rstrip("0").rstrip(".")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _stamp(record: Mapping[str, Any], written: str | None) -> dict[str, Any]:
    """When, from which commit, on which images: what every section heads with."""
    images = _as_map(record.get("images"))
    return {
        "at": record.get("at")
        or (f"{written} (file written; the run did not record its time)" if written else "not recorded"),
        "commit": record.get("commit") or "not recorded",
        "images": {str(s): str(i) for s, i in images.items()},
    }


# -- e2e ---------------------------------------------------------------------------------


_BESIDE = re.compile(r"^(?!.*\.\.)[\w.-]+(?:/[\w.-]+)*$")


def _beside(path: Any) -> str:
    """A file next to the page (``e2e/...png``) as a link; anything else (a
    scheme, an absolute path, ``..``) is not linked."""
    return path if isinstance(path, str) and _BESIDE.match(path) else ""


def e2e_view(inputs: ReportInputs) -> dict[str, Any] | None:
    run, checks = inputs.e2e_run, inputs.e2e_checks
    if run is None and checks is None:
        return None
    run = run or {}
    rows = []
    for c in _as_list(_as_map(checks).get("checks")):
        if not isinstance(c, Mapping):
            continue
        outcome = str(c.get("outcome") or "")
        given = _as_map(c.get("files"))
        files = {k: _beside(given.get(k)) for k in ("screenshot", "trace", "logs")}
        rows.append({
            "name": str(c.get("name") or c.get("nodeid") or "?"), "nodeid": str(c.get("nodeid") or ""),
            "area": str(c.get("area") or ""), "outcome": outcome, "mark": MARK.get(outcome, outcome.upper() or "?"),
            "duration": c.get("duration") if isinstance(c.get("duration"), int | float) else None,
            "reason": str(c.get("reason") or ""), "message": str(c.get("message") or ""),
            "files": files, "shot": inputs.screenshots.get(files.get("screenshot", "")),
            "order": c.get("order") if isinstance(c.get("order"), int) else 0,
        })  # fmt: skip
    areas: dict[str, list[dict[str, Any]]] = {}
    for row in rows:  # the checklist's order, as the terminal tree
        areas.setdefault(row["area"], []).append(row)
    counts = {k: sum(1 for r in rows if r["outcome"] == k) for k in ("passed", "failed", "skipped")}
    passed = run.get("passed")
    if passed is None and rows:
        passed = counts["failed"] == 0
    return {
        "stamp": _stamp(run, inputs.written.get("e2e")),
        "target": run.get("target") or _as_map(checks).get("target") or "",
        "selection": run.get("group")
        and f"group {run['group']}"
        or run.get("marker")
        and f"marker {run['marker']}"
        or "the whole suite",
        "wall_s": run.get("wall_s") if isinstance(run.get("wall_s"), int | float) else _as_map(checks).get("wall_s"),
        "passed": passed,
        "recorded": run.get("recorded"),
        "failures": [r for r in rows if r["outcome"] == "failed"],
        "areas": areas,
        "counts": counts,
        "total": len(rows),
        "no_checks": checks is None,
    }


# -- bench -------------------------------------------------------------------------------


def _figure_row(f: Mapping[str, Any]) -> dict[str, Any]:
    value, unit = f.get("value"), str(f.get("unit") or "")
    lo, hi = f.get("min"), f.get("max")
    spread = (
        f"{_number(lo)}–{_number(hi)} {unit}".strip()
        if isinstance(lo, int | float) and isinstance(hi, int | float)
        else ""
    )
    shown = f"{_number(value)} {unit}".strip() if value is not None else "not measured"
    return {
        "name": str(f.get("name") or "?"), "value": shown, "measured": value is not None, "target": str(f.get("target") or ""),
        "spread": spread, "note": str(f.get("note") or ""), "verdict": judge(value, f.get("target")),
    }  # fmt: skip


def edit_phases(figures: list[Mapping[str, Any]]) -> tuple[dict[str, dict[str, float]], float | None, bool]:
    """service -> {phase: seconds} for the edit-loop plot, the target in
    seconds, and whether real phases were found (else: totals)."""
    totals = [f for f in figures if f.get("name") == EDIT_TOTAL]
    known = {_service_of(f, set()) for f in totals} - {""}
    phases: dict[str, dict[str, float]] = {}
    for f in totals:  # a phases object on the total itself
        per = {str(k): float(v) for k, v in _as_map(f.get("phases")).items() if isinstance(v, int | float)}
        if per:
            phases.setdefault(_service_of(f, known) or "all", {}).update(per)
    for f in figures:
        if f.get("name") == EDIT_TOTAL or not isinstance(f.get("value"), int | float):
            continue
        m = _PHASE_NAME.match(str(f.get("name") or ""))
        phase = f.get("phase") if isinstance(f.get("phase"), str) else (m["phase"].replace("_", " ") if m else None)
        if phase:
            phases.setdefault(_service_of(f, known) or "all", {})[phase] = float(f["value"])
    target = next((_bound_s(f.get("target")) for f in totals if _bound_s(f.get("target")) is not None), None)
    if phases:
        return phases, target, True
    out = {
        (_service_of(f, known) or "all"): {"total": float(f["value"])}
        for f in totals
        if isinstance(f.get("value"), int | float)
    }
    return out, target, False


def _service_of(f: Mapping[str, Any], known: set[str]) -> str:
    if isinstance(f.get("service"), str):
        return f["service"]
    first = str(f.get("note") or "").split(":")[0].split()
    word = first[0] if first else ""
    return word if (not known or word in known) else ""


def _bound_s(target: Any) -> float | None:
    """The number a target states (``< 5 s`` -> 5), None when it states none."""
    m = _TARGET.match(target) if isinstance(target, str) else None
    return float(m["num"].replace(",", "")) if m else None


def first_event_limit_ms(bench: Mapping[str, Any], figures: list[Mapping[str, Any]]) -> float | None:
    """The first-event limit the SSE levels were judged by: as the bench
    recorded it, else as its first-event figures' target states it."""
    recorded = _as_map(bench.get("run")).get("first_event_limit_ms")
    if isinstance(recorded, int | float) and not isinstance(recorded, bool):
        return float(recorded)
    for name in ("sse_first_event_p99_ms", "sse_first_event_ms"):
        bound = next((_bound_s(f.get("target")) for f in figures if f.get("name") == name), None)
        if bound is not None:
            return bound
    return None


def bench_view(inputs: ReportInputs) -> dict[str, Any] | None:
    bench = inputs.bench
    if bench is None:
        return None
    figures = [f for f in _as_list(bench.get("figures")) if isinstance(f, Mapping)]
    rows = [_figure_row(f) for f in figures]
    runs = _as_map(bench.get("runs"))
    limit = first_event_limit_ms(bench, figures)
    plots_out = []
    for label, key, title in (
        ("edge", "held", "SSE through the edge"),
        ("web_task", "within_p99", "SSE on one web task"),
    ):
        levels = plots.levels_from(_as_list(runs.get(label)), key)
        plots_out.append({
            "id": f"sse-{label.replace('_', '-')}", "title": title, "limit_ms": limit,
            "svg": Markup(plots.sse_capacity(label.replace("_", "-"), levels, limit, title)) if levels else None,
            "levels": len(levels),
            "why_not": "" if levels else ("the SSE search was not run (`inv bench --no-sse`)" if not runs else "no level recorded"),
        })  # fmt: skip
    phases, target, real = edit_phases(figures)
    edit = {
        "id": "edit-loop",
        "svg": Markup(plots.edit_loop("edit-loop", phases, target)) if phases else None,
        "real_phases": real,
    }
    return {
        "stamp": _stamp(_as_map(bench.get("run")), inputs.written.get("bench")),
        "figures": rows,
        "off": [r["name"] for r in rows if r["verdict"] == "off"],
        "unmeasured": sum(1 for r in rows if not r["measured"]),
        "sse": plots_out,
        "edit": edit,
    }


# -- parity, images ----------------------------------------------------------------------


def parity_view(inputs: ReportInputs) -> dict[str, Any] | None:
    parity = inputs.parity
    if parity is None:
        return None
    rows = []
    services = []
    for svc in _as_list(parity.get("services")):
        if not isinstance(svc, Mapping):
            continue
        diffs = [d for d in _as_list(svc.get("differences")) if isinstance(d, Mapping)]
        services.append({"service": str(svc.get("service") or "?"), "differences": len(diffs), "same": svc.get("same"),
                         "sides": [str(s) for s in _as_list(svc.get("sides"))]})  # fmt: skip
        for d in diffs:
            verdict = str(d.get("verdict") or "")
            sides, values = _as_list(d.get("sides")), _as_list(d.get("values"))
            rows.append({
                "service": str(svc.get("service") or "?"), "path": str(d.get("path") or ""), "verdict": verdict,
                "mark": VERDICT_MARK.get(verdict, verdict), "why": str(d.get("why") or ""),
                "sides": [(str(s), "" if v is None else str(v)) for s, v in zip(sides, values, strict=False)],
            })  # fmt: skip
    rows.sort(key=lambda r: (r["verdict"] != "undeclared", r["service"], r["path"]))
    return {
        "stamp": _stamp(parity, inputs.written.get("parity")),
        "env": str(parity.get("env") or ""),
        "live": parity.get("live"),
        "rows": rows,
        "services": services,
        "undeclared": sum(1 for r in rows if r["verdict"] == "undeclared"),
        "declared": sum(1 for r in rows if r["verdict"] != "undeclared"),
    }


def images_view(inputs: ReportInputs) -> dict[str, Any] | None:
    images = inputs.images
    if images is None:
        return None
    rows = []
    for i in _as_list(images.get("images")):
        if not isinstance(i, Mapping):
            continue
        size, target = i.get("size_mb"), i.get("target_mb")
        rows.append({
            "service": str(i.get("service") or "?"), "ref": str(i.get("ref") or ""), "id": str(i.get("id") or "not built"),
            "size": f"{_number(size)} MB" if isinstance(size, int | float) else "not built",
            "target": f"< {_number(target)} MB" if isinstance(target, int | float) else "",
            "verdict": judge(size, f"< {target}") if isinstance(target, int | float) else None,
            "source": str(i.get("source") or ""), "base": str(i.get("base") or ""),
        })  # fmt: skip
    stamp = _stamp(images, inputs.written.get("images"))
    stamp["images"] = {r["service"]: r["id"] for r in rows if r["id"] != "not built"}
    return {"stamp": stamp, "rows": rows, "over": [r["service"] for r in rows if r["verdict"] == "off"]}


# -- the page ----------------------------------------------------------------------------


def render_report(inputs: ReportInputs) -> str:
    """The whole page, as text."""
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,  # every value from a run is escaped; only plot SVG (Markup) passes as it is
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE).render(
        generated_at=inputs.generated_at,
        commit=inputs.commit or "not a git checkout",
        problems=inputs.problems,
        e2e=e2e_view(inputs),
        bench=bench_view(inputs),
        parity=parity_view(inputs),
        images=images_view(inputs),
    )
