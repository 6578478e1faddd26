"""The service images: built once (by compose, or from another checkout),
saved with their IDs so CI jobs can hand them on, loaded and checked; and
their sizes against the targets the plan's images should beat."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from parity.adapters.docker import Compose, Docker, require_engine
from parity.adapters.git import source_revision
from parity.app.local import sources
from parity.app.local.offline import build_standins
from parity.app.workspace import Workspace
from parity.errors import ConfigError, ParityError
from parity.render.compose import image_name, render_compose, render_offline_override
from parity.spec import Stack, load_stack

MANIFEST = "images.json"
SOURCES = "sources.json"  # service -> the commit it was built from, so the tag travels with the image


def _services(stack: Stack, service: str | None) -> list[str]:
    if service is None:
        return list(stack.services)
    if service not in stack.services:
        raise ConfigError(f"--service: {service!r} is not a service of the spec (one of {', '.join(stack.services)})")
    return [service]


def build_args(stack: Stack, service: str, offline: bool) -> dict[str, str]:
    """The build arguments compose would pass (the offline base swapped in when offline)."""
    args = dict(render_compose(stack)["services"][service]["build"].get("args") or {})
    if offline:
        override = render_offline_override(stack)["services"].get(service, {})
        args.update(override.get("build", {}).get("args") or {})
    return args


def build(
    ws: Workspace, service: str | None = None, context: Path | None = None, report: Callable[[str], None] = print
) -> dict[str, str]:
    """Build service images exactly as `inv up` does, under the tags the stack
    runs; ``context`` builds one service from another checkout (a service
    repository's CI). Returns service -> image ID."""
    stack = load_stack(ws.root, "local")
    names = _services(stack, service)
    if context is not None and service is None:
        raise ConfigError("--context needs --service: it is one service's checkout")
    require_engine()
    docker = Docker()
    if ws.offline:
        build_standins(stack, ws.root, ws.offline_base, docker, report)
    # before the build (the tree may change); only what is built; another checkout's own revision
    if context is not None:
        built_from = {names[0]: source_revision(context)}
    else:
        built_from = sources.revisions(stack, ws.root, source_revision, names)
    if context is None:
        Compose(ws.compose_files(), stack.project).build(names)
    else:
        svc = stack.services[names[0]]
        if not (context / svc.build.dockerfile).is_file():
            raise ConfigError(f"--context: {context} has no {svc.build.dockerfile}")
        report(f"building {names[0]} from {context}")
        docker.build(context, image_name(stack, names[0]), build_args(stack, names[0], ws.offline),
                     target=svc.build.target, dockerfile=svc.build.dockerfile)  # fmt: skip
    out = {}
    for name in names:
        image_id = docker.image_id(image_name(stack, name))
        if image_id is None:
            raise ParityError(f"{name}: the build left no image {image_name(stack, name)}")
        out[name] = image_id
    sources.record_builds(ws.root, out, built_from)
    return out


def save(ws: Workspace, images: dict[str, str], folder: Path) -> list[Path]:
    """Each image to ``folder/<service>.tar``, and ``folder/images.json`` with
    the IDs, so whoever loads them can check they got exactly these."""
    stack = load_stack(ws.root, "local")
    folder.mkdir(parents=True, exist_ok=True)
    docker = Docker()
    written = []
    for service in images:
        path = folder / f"{service}.tar"
        docker.save([image_name(stack, service)], path)
        written.append(path)
    manifest = folder / MANIFEST
    known = json.loads(manifest.read_text()) if manifest.exists() else {}
    manifest.write_text(json.dumps({**known, **images}, indent=2, sort_keys=True) + "\n")
    source_file = folder / SOURCES
    known = json.loads(source_file.read_text()) if source_file.exists() else {}
    revisions = {s: sources.source_tag(ws.root, i) for s, i in images.items()}
    source_file.write_text(json.dumps({**known, **revisions}, indent=2, sort_keys=True) + "\n")
    return [*written, manifest, source_file]


def load(ws: Workspace, folder: Path) -> dict[str, str]:
    """Load every ``<service>.tar`` under ``folder`` (any depth, as artefacts
    arrive) and check each image has the ID its ``images.json`` recorded."""
    stack = load_stack(ws.root, "local")
    manifests = sorted(folder.rglob(MANIFEST))
    if not manifests:
        raise ConfigError(f"--dir: no {MANIFEST} under {folder}", hint="`inv build --save DIR` writes one")
    require_engine()
    docker = Docker()
    loaded: dict[str, str] = {}
    for manifest in manifests:
        for service, want in json.loads(manifest.read_text()).items():
            docker.load(manifest.parent / f"{service}.tar")
            have = docker.image_id(image_name(stack, service))
            if have != want:
                raise ParityError(
                    f"{service}: loaded image {image_name(stack, service)} is {have}, the build recorded {want}"
                )
            loaded[service] = have
        source_file = manifest.parent / SOURCES
        if source_file.exists():
            revisions = json.loads(source_file.read_text())
            sources.record_builds(ws.root, {s: i for s, i in loaded.items() if s in revisions}, revisions)
    missing = [s for s in stack.services if s not in loaded]
    if missing:
        raise ParityError(f"no saved image for {', '.join(missing)} under {folder}")
    return loaded


# Targets from the services issue; the plan's images were ~800 MB and ~2-2.5 GB.
TARGET_MB = {"website-agent": 250, "crawler": 1000}


def record_sizes(ws: Workspace) -> list[dict]:
    """Each service image's ID and size against its target, also written to
    ``reports/images.json`` (with when and from which commit) for the report page."""
    from parity.app import report
    from parity.app.jsonfile import write_json

    stack = load_stack(ws.root, "local")
    require_engine()
    docker = Docker()
    rows = []
    for name in stack.services:
        ref = image_name(stack, name)
        size = docker.image_size(ref)
        image_id = docker.image_id(ref) if size is not None else None
        rows.append({
            "service": name, "ref": ref, "id": image_id, "size_mb": round(size / 1_000_000, 1) if size is not None else None,
            "target_mb": TARGET_MB.get(name), "source": sources.source_tag(ws.root, image_id) if image_id else None,
            "base": "offline stand-in base" if ws.offline else (stack.services[name].build.base_image or "?"),
        })  # fmt: skip
    write_json(ws.root / report.IMAGES, {**report.stamp(ws.root), "images": rows})
    return rows


def image_report(ws: Workspace) -> list[str]:
    lines = []
    for row in record_sizes(ws):
        ref, mb, target = row["ref"], row["size_mb"], row["target_mb"]
        if mb is None:
            lines.append(f"{ref:<32} not built (`inv up` builds it)")
            continue
        verdict = "" if target is None else (f"  target < {target} MB: " + ("ok" if mb < target else "OVER"))
        lines.append(f"{ref:<32} {mb:7.1f} MB  ({row['base']}){verdict}")
    return lines
