"""Which SETS of images passed the e2e suite together, and when.

One passing run records every service's image ID at once: web A tested with
crawler X and crawler Y tested with web B do not add up to a tested pair, so
promote checks the whole set it ships against ONE run. A record expires (after
``aws.e2e_max_age_days``, 7 by default): the services' dependencies and the
suite itself move on.

The key is the local image ID (``sha256:...``, the digest of the image's
config), which is also the config digest inside the manifest that a push
creates: a record therefore names exactly the content promote deploys,
whatever tag or registry it goes through. Kept in ``.parity/e2e-results.json``
(gitignored): one machine's evidence, not a shared database.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(".parity") / "e2e-results.json"
KEEP_RUNS = 50


def _path(root: Path) -> Path:
    return Path(root) / RESULTS


def load(root: Path) -> list[dict[str, Any]]:
    """Every recorded run: ``[{"suite", "at", "images": {service: image_id}}]``,
    oldest first. A file in the old per-image format holds no run: it cannot
    say which images were tested together."""
    try:
        data = json.loads(_path(root).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    runs = data.get("runs") if isinstance(data, dict) else None
    return [r for r in runs if isinstance(r, dict) and isinstance(r.get("images"), dict)] if isinstance(runs, list) else []


def record_e2e_pass(root: Path, images: dict[str, str], suite: str, at: datetime | None = None) -> None:
    """Record that ``suite`` passed with exactly this set (service -> image ID)."""
    when = (at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    runs = [*load(root), {"suite": suite, "at": when, "images": dict(sorted(images.items()))}][-KEEP_RUNS:]
    path = _path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a crash never leaves half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".e2e-results.")
    with os.fdopen(fd, "w") as fh:
        json.dump({"runs": runs}, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def _at(run: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(run.get("at")))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def untested(root: Path, images: dict[str, str], max_age_days: int, now: datetime | None = None) -> str | None:
    """None when one passing run, younger than ``max_age_days``, tested exactly
    this set of images; otherwise why not, in one line."""
    now = now or datetime.now(timezone.utc)
    runs = load(root)
    together = [r for r in runs if all(r["images"].get(s) == i for s, i in images.items())]
    fresh = [r for r in together if now - _at(r) <= timedelta(days=max_age_days)]
    if fresh:
        return None
    if together:
        age = (now - max(_at(r) for r in together)).days
        return f"these images passed e2e together {age} days ago; a record expires after {max_age_days} days (aws.e2e_max_age_days)"
    never = [s for s, i in images.items() if not any(r["images"].get(s) == i for r in runs)]
    if never:
        return f"{never[0]}: image {images[never[0]][:19]} has not passed e2e"
    pairs = ", ".join(f"{s} {i[:19]}" for s, i in images.items())
    return f"these images never passed e2e together ({pairs}): each was tested with other images"
