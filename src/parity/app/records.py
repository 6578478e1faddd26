"""Which images passed the e2e suite, by image ID.

The key is the local image ID (``sha256:...``, the digest of the image's
config), which is also the config digest inside the manifest that a push
creates: the record therefore names exactly the content promote deploys,
whatever tag or registry it goes through. Kept in ``.parity/e2e-results.json``
(gitignored): one machine's evidence, not a shared database.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(".parity") / "e2e-results.json"


def _path(root: Path) -> Path:
    return Path(root) / RESULTS


def load(root: Path) -> dict[str, Any]:
    """All records: ``{image_id: {"service": ..., "passed": [{"suite", "at"}]}}``."""
    try:
        data = json.loads(_path(root).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


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
    """True when some e2e suite passed with this exact image."""
    return bool(load(root).get(image_id, {}).get("passed"))
