"""The one-screen summary: a tree of named checks marked OK / NG / SKIP with
their time (like ecspresso's verify), then the wall time of the whole run."""

from __future__ import annotations

from dataclasses import dataclass

REASON_WIDTH = 60  # pytest's -ra lines show skip reasons in full
MARK = {"passed": "OK  ", "failed": "NG  ", "skipped": "SKIP"}
AREAS = {
    "test_page": "page and cross-origin isolation",
    "test_stream": "streaming (SSE) through the edge",
    "test_auth": "auth",
    "test_crawler": "crawler isolation and pipeline",
    "test_static": "static assets and caching",
    "test_security": "security headers and WAF",
    "test_health": "health",
}


@dataclass
class CheckResult:
    """One check, its phases folded together."""

    nodeid: str
    name: str = ""
    outcome: str = "passed"
    duration: float = 0.0
    reason: str = ""
    order: int = 0  # position in the source, for a stable tree whatever ran first
    message: str = ""  # a failure's last lines, for the report page

    def as_dict(self) -> dict:
        return {
            "nodeid": self.nodeid,
            "name": self.name,
            "area": self.area,
            "outcome": self.outcome,
            "duration": round(self.duration, 2),
            "reason": self.reason,
            "message": self.message,
            "order": self.order,
        }

    @property
    def area(self) -> str:
        module = self.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        return AREAS.get(module, module.removeprefix("test_"))

    def add_phase(self, when: str, outcome: str, duration: float, reason: str = "", message: str = "") -> None:
        self.duration += duration
        if outcome == "failed":
            self.outcome = "failed"
            self.message = self.message or message
            if when != "call":
                self.reason = f"error in {when}"
        elif outcome == "skipped" and self.outcome != "failed":
            self.outcome = "skipped"
            self.reason = reason


def tree_order(results: list[CheckResult]) -> list[CheckResult]:
    """By area (in the checklist's order), then in source order."""
    rank = {name: i for i, name in enumerate(AREAS.values())}
    return sorted(results, key=lambda r: (rank.get(r.area, len(rank)), r.order, r.nodeid))


def render_tree(results: list[CheckResult], target: str, wall: float) -> list[str]:
    """Lines of the summary, grouped by area (in the checklist's order), checks in source order."""
    lines = [f"e2e checks against {target}"]
    areas: dict[str, list[CheckResult]] = {}
    for r in tree_order(results):
        areas.setdefault(r.area, []).append(r)
    for a_i, (area, checks) in enumerate(areas.items()):
        last_area = a_i == len(areas) - 1
        lines.append(("└── " if last_area else "├── ") + area)
        stem = "    " if last_area else "│   "
        for c_i, c in enumerate(checks):
            branch = "└── " if c_i == len(checks) - 1 else "├── "
            time = f"{c.duration:6.1f}s" if c.outcome != "skipped" else "       "
            line = f"{stem}{branch}{MARK[c.outcome]} {time}  {c.name or c.nodeid.split('::')[-1]}"
            if c.reason:
                reason = c.reason if len(c.reason) <= REASON_WIDTH else c.reason[: REASON_WIDTH - 1] + "…"
                line += f"  ({reason})"
            lines.append(line)
    counts = {k: sum(1 for r in results if r.outcome == k) for k in MARK}
    longest = max((r.duration for r in results), default=0.0)
    lines.append(
        f"{len(results)} checks: {counts['passed']} OK, {counts['failed']} NG, {counts['skipped']} SKIP"
        f" · wall time {wall:.1f} s (longest check {longest:.1f} s)"
    )
    return lines
