"""Offline mode: build a stand-in for every upstream image from the local
Debian base (ci/images/<name>), tagged parity-offline/<name>:<tag>. A stand-in
is rebuilt only when its folder or the base image changed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from parity.adapters.docker import Docker
from parity.errors import ParityError
from parity.render.common import offline_tag
from parity.spec import Stack

IMAGES_DIR = Path("ci/images")
INPUTS_LABEL = "parity.inputs"


def inputs_digest(folder: Path, base_id: str) -> str:
    h = hashlib.sha256(base_id.encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def build_standins(
    stack: Stack, root: Path, base: str, docker: Docker, report: Callable[[str], None] = lambda _m: None
) -> dict[str, str]:
    """Make sure every stand-in exists and is current; returns upstream -> stand-in tag."""
    folders = {name: root / IMAGES_DIR / name for name in stack.local.images}
    facts = docker.image_facts([base, *(offline_tag(u) for u in stack.local.images.values())], INPUTS_LABEL)
    base_id = facts[base][0] if base in facts else None
    if base_id is None:
        raise ParityError(
            f"offline mode needs the base image {base}, which is not here",
            hint="build it from the Debian mirror: ../shared/sandbox/base-image.sh (or set PARITY_OFFLINE_BASE)",
        )
    tags = {}
    for name, upstream in stack.local.images.items():
        folder = folders[name]
        if not (folder / "Dockerfile").exists():
            raise ParityError(f"no offline stand-in for {upstream}: {folder / 'Dockerfile'} is missing")
        tag = offline_tag(upstream)
        digest = inputs_digest(folder, base_id)
        if facts.get(tag, ("", None))[1] != digest:
            report(f"building stand-in {tag} for {upstream}")
            docker.build(folder, tag, build_args={"BASE": base}, labels={INPUTS_LABEL: digest})
        tags[upstream] = tag
    return tags
