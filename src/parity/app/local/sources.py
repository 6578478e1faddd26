"""Which source each locally built service image came from, so the tag a
promote pushes says it (``<commit>``, or ``<commit>-dirty`` for a build from
an uncommitted tree), followed by the image's own ID (``push_tag``). The revision of each build context is read BEFORE the
build (the tree may change while it runs) and recorded by image ID after it,
in ``.parity/builds.json`` (gitignored, next to the e2e records). A clean
record is never replaced by a dirty one: the same image ID is the same content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parity.app.jsonfile import read_json, write_json
from parity.spec import Stack

BUILDS = Path(".parity") / "builds.json"
UNKNOWN = "source-unknown"


def _load(root: Path) -> dict[str, Any]:
    data = read_json(Path(root) / BUILDS)
    return data if isinstance(data, dict) else {}


def revisions(
    stack: Stack, root: Path, revision_of: Callable[[Path], str | None], services: Iterable[str] | None = None
) -> dict[str, str | None]:
    """service -> the revision of its build context now (None: not in git), for
    ``services`` (the ones being built; default all): git is asked about those alone."""
    names = list(stack.services) if services is None else list(services)
    return {s: revision_of(Path(root) / stack.services[s].build.context) for s in names}


def record_builds(root: Path, images: dict[str, str], revisions: dict[str, str | None]) -> None:
    """Record the revision each image (service -> image ID) was built from."""
    data = _load(root)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    for service, image_id in images.items():
        revision = revisions.get(service) or UNKNOWN
        old = data.get(image_id, {}).get("revision")
        if old and not old.endswith("-dirty") and old != UNKNOWN and revision != old:
            continue  # the same content was already built from a clean commit
        data[image_id] = {"service": service, "revision": revision, "at": at}
    write_json(Path(root) / BUILDS, data)


def push_tag(root: Path, image_id: str, version: str | None = None) -> str:
    """``<source>-<12 hex of the image ID>`` (``version`` instead of the source
    when given): one tag per image content. The repositories' tags are
    immutable and no tag is ever moved: a tag moved off a digest left it
    untagged, and ECR's lifecycle expired it while a revision still ran it."""
    return f"{version or source_tag(root, image_id)}-{image_id.removeprefix('sha256:')[:12]}"


def source_tag(root: Path, image_id: str) -> str:
    """The tag that says where ``image_id`` came from: its commit, ``-dirty``
    marked; ``source-unknown`` when no build of it was recorded."""
    return _load(root).get(image_id, {}).get("revision") or UNKNOWN
