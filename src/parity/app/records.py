"""Which images passed the e2e suite, by image ID.

The key is the local image ID (``sha256:...``, the digest of the image's
config), which is also the config digest inside the manifest that a push
creates: the record therefore names exactly the content promote deploys,
whatever tag or registry it goes through. Kept in ``.parity/e2e-results.json``
(gitignored): one machine's evidence, not a shared database.

CI runs the suite in groups, one job each (``inv e2e --group G``, suite
``e2e:G``); the groups partition the checks, so an image passed e2e when the
whole suite passed with it, or every group did. The jobs' records travel as
artefacts into ``.parity/e2e-results.d/`` (any depth), which is read with the
machine's own file.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(".parity") / "e2e-results.json"
COLLECTED = Path(".parity") / "e2e-results.d"
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


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def load(root: Path) -> dict[str, Any]:
    """This machine's records: ``{image_id: {"service": ..., "passed": [{"suite", "at"}]}}``."""
    return _read(_path(root))


def load_all(root: Path) -> dict[str, Any]:
    """This machine's records merged with those collected from CI jobs."""
    merged = load(root)
    folder = Path(root) / COLLECTED
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        for image_id, entry in _read(path).items():
            if not isinstance(entry, dict):
                continue
            into = merged.setdefault(image_id, {"service": entry.get("service"), "passed": []})
            into["passed"] = [*into.get("passed", []), *entry.get("passed", [])]
    return merged


def record_e2e_pass(root: Path, images: dict[str, str], suite: str) -> None:
    """Record that ``suite`` passed with these images (service -> image ID)."""
    data = load(root)
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for service, image_id in images.items():
        entry = data.setdefault(image_id, {"service": service, "passed": []})
        entry["service"] = service
        entry["passed"].append({"suite": suite, "at": at})
    path = _path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a crash never leaves half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".e2e-results.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def passed_e2e(root: Path, image_id: str) -> bool:
    """True when the whole e2e suite passed with this exact image, in one run
    or group by group."""
    suites = {p.get("suite") for p in load_all(root).get(image_id, {}).get("passed", [])}
    return FULL_SUITE in suites or all(group_suite(g) in suites for g in GROUPS)
