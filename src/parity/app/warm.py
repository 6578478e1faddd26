"""What a warm `inv up` may skip, and how it knows: the inputs of the steps
that cost time, as they were when the last `inv up` succeeded, kept in
``.parity/up-state.json`` (never a secret: only fingerprints and image IDs).

- a service image is not rebuilt while its build context (file mtimes and
  sizes, as `inv up --watch` sees them) and build settings are unchanged and
  the tag still names the image that was built;
- the client is not synced to the bucket again while the images and the
  LocalStack container (by its start time: a LocalStack that restarted has
  lost its bucket) are the ones it was synced from.

Seeding always runs (it is a read per secret) and notices a LocalStack that
restarted empty; so does the start time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

STATE = Path(".parity") / "up-state.json"
# Never part of an image (the Dockerfiles' .dockerignore agrees) or rewritten by tools.
SKIPPED = {"node_modules", "build", ".git", "__pycache__", ".pytest_cache", "coverage", "test", "tests"}


def fingerprint(context: Path) -> dict[str, tuple[int, int]]:
    """Path -> (mtime in ns, size) of every file of a build context that can
    reach the image."""
    out: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(context):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        for name in files:
            if name.endswith((".pyc", ".log")) or name == "server.js":
                continue
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            out[os.path.relpath(path, context)] = (st.st_mtime_ns, st.st_size)
    return out


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def build_key(context: Path, build_settings: Any) -> str:
    """What a service image is built from: its context's files and its build settings."""
    return digest(sorted(fingerprint(context).items()), build_settings)


def load(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(root) / STATE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def save(root: Path, data: dict[str, Any]) -> None:
    path = Path(root) / STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".up-state.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def unchanged_builds(state: dict[str, Any], keys: dict[str, str], images: dict[str, str | None]) -> set[str]:
    """Services whose image need not be built: same inputs as the recorded
    build, and the tag still names the image that build made."""
    built = state.get("builds") or {}
    return {
        s for s, key in keys.items()
        if images.get(s) and built.get(s) == {"key": key, "image": images[s]}
    }
