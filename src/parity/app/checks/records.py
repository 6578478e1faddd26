"""Which SETS of images passed the e2e suite together, and when.

One passing run records every service's image ID at once: web A tested with
crawler X and crawler Y tested with web B do not add up to a tested pair, so
promote checks the whole set it ships against ONE run. A record expires (after
``aws.e2e_max_age_days``, 7 by default): the services' dependencies and the
suite itself move on.

CI runs the suite in groups, one job each (``inv e2e --group G``, suite
``e2e:G``); the groups partition the checks, so a set passed e2e when the
whole suite passed with it in one run, or every group did (each with exactly
that set, each fresh). The jobs' records travel as artefacts into
``.parity/e2e-results.d/`` (any depth) and are read with the machine's own.

The key is the local image ID (``sha256:...``, the digest of the image's
config), which is also the config digest inside the manifest that a push
creates: a record therefore names exactly the content promote deploys,
whatever tag or registry it goes through. Kept in ``.parity/e2e-results.json``
(gitignored): one machine's evidence, not a shared database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from parity.app.jsonfile import read_json, write_json

RESULTS = Path(".parity") / "e2e-results.json"
COLLECTED = Path(".parity") / "e2e-results.d"
KEEP_RUNS = 50
FULL_SUITE = "e2e"
# The groups of the e2e suite as pytest marker expressions. Each is the
# previous ones' complement, so together they are exactly the whole suite.
GROUPS: dict[str, str] = {
    "smoke": "smoke",
    "container": "container and not smoke",
    "rest": "not smoke and not container",
}


def group_suite(group: str) -> str:
    return f"{FULL_SUITE}:{group}"


def _path(root: Path) -> Path:
    return Path(root) / RESULTS


def _read(path: Path) -> list[dict[str, Any]]:
    """The runs in one file; a file in the old per-image format holds none: it
    cannot say which images were tested together."""
    data = read_json(path)
    runs = data.get("runs") if isinstance(data, dict) else None
    return (
        [r for r in runs if isinstance(r, dict) and isinstance(r.get("images"), dict)] if isinstance(runs, list) else []
    )


def load(root: Path) -> list[dict[str, Any]]:
    """This machine's runs: ``[{"suite", "at", "images": {service: image_id}}]``, oldest first."""
    return _read(_path(root))


def load_all(root: Path) -> list[dict[str, Any]]:
    """This machine's runs and those collected from CI jobs."""
    folder = Path(root) / COLLECTED
    collected = [run for p in sorted(folder.rglob("*.json")) for run in _read(p)] if folder.is_dir() else []
    return [*load(root), *collected]


def record_e2e_pass(root: Path, images: dict[str, str], suite: str, at: datetime | None = None) -> None:
    """Record that ``suite`` passed with exactly this set (service -> image ID)."""
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    runs = [*load(root), {"suite": suite, "at": when, "images": dict(sorted(images.items()))}][-KEEP_RUNS:]
    write_json(_path(root), {"runs": runs})


def _at(run: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(run.get("at")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _whole_suite(runs: list[dict[str, Any]]) -> bool:
    suites = {r.get("suite") for r in runs}
    return FULL_SUITE in suites or all(group_suite(g) in suites for g in GROUPS)


def untested(root: Path, images: dict[str, str], max_age_days: int, now: datetime | None = None) -> str | None:
    """None when the whole suite passed, younger than ``max_age_days``, with
    exactly this set of images (in one run, or group by group); otherwise why
    not, in one line."""
    now = now or datetime.now(UTC)
    runs = load_all(root)
    together = [r for r in runs if all(r["images"].get(s) == i for s, i in images.items())]
    fresh = [r for r in together if now - _at(r) <= timedelta(days=max_age_days)]
    if _whole_suite(fresh):
        return None
    if _whole_suite(together):
        age = (now - max(_at(r) for r in together)).days
        return f"these images passed e2e together {age} days ago; a record expires after {max_age_days} days (aws.e2e_max_age_days)"
    if together:
        missing = [g for g in GROUPS if group_suite(g) not in {r.get("suite") for r in fresh}]
        return f"these images passed only part of e2e together (missing groups: {', '.join(missing)})"
    never = [s for s, i in images.items() if not any(r["images"].get(s) == i for r in runs)]
    if never:
        return f"{never[0]}: image {images[never[0]][:19]} has not passed e2e"
    pairs = ", ".join(f"{s} {i[:19]}" for s, i in images.items())
    return f"these images never passed e2e together ({pairs}): each was tested with other images"
