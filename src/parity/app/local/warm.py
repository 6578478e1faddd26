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
import subprocess
from pathlib import Path
from typing import Any

from parity.app.jsonfile import read_json, write_json

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


def fingerprints(ws: Any, stack: Any) -> dict[str, dict[str, tuple[int, int]]]:
    """service -> its build context's fingerprint: each context walked once, for
    both the stack's key and the services' build keys."""
    return {s: fingerprint(ws.root / svc.build.context) for s, svc in stack.services.items()}


def build_key(context: Path, build_settings: Any, files: dict[str, tuple[int, int]] | None = None) -> str:
    """What a service image is built from: its context's files (``files``: its
    fingerprint, already taken) and its build settings."""
    return digest(sorted((fingerprint(context) if files is None else files).items()), build_settings)


def load(root: Path) -> dict[str, Any]:
    data = read_json(Path(root) / STATE)
    return data if isinstance(data, dict) else {}


def save(root: Path, data: dict[str, Any]) -> None:
    write_json(Path(root) / STATE, data)


def unchanged_builds(state: dict[str, Any], keys: dict[str, str], images: dict[str, str | None]) -> set[str]:
    """Services whose image need not be built: same inputs as the recorded
    build, and the tag still names the image that build made."""
    built = state.get("builds") or {}
    return {s for s, key in keys.items() if images.get(s) and built.get(s) == {"key": key, "image": images[s]}}


# -- the fast path: nothing changed at all -------------------------------------
#
# A full `inv up` records what it started from and what it left running (the
# "fast" entry). The next one first compares, with two docker calls and no
# compose: the rendered files and the build contexts (the key),
# the images (stand-ins and services, by ID) and every container of the project
# (by ID and start time, all running and healthy), and the secret values
# compose would hand them (read from LocalStack, kept as a digest). If everything is as
# recorded, compose would change nothing either: the stack is reported as it
# is. Anything else (a touched file, a rebuilt image, a restarted LocalStack, a
# stopped container) takes the full path.


def _docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False)


def inputs_key(ws: Any, stack: Any, prints: dict[str, dict[str, tuple[int, int]]] | None = None) -> str:
    """The rendered files, the mode, and the files of every build context
    (``prints``: their ``fingerprints``, already taken) and stand-in."""
    from parity.app.local.offline import IMAGES_DIR
    from parity.app.workspace import rendered

    prints = fingerprints(ws, stack) if prints is None else prints
    contexts = {s: sorted(prints[s].items()) for s in stack.services}
    standins = sorted(fingerprint(ws.root / IMAGES_DIR).items()) if ws.offline else []
    return digest(
        {str(p): text for p, text in rendered(stack, ws).items()},
        [ws.offline, ws.offline_base, ws.localstack_token, ws.localstack_image],
        contexts,
        standins,
    )


def image_refs(ws: Any, stack: Any) -> list[str]:
    from parity.render.common import offline_tag
    from parity.render.compose import image_name

    refs = [image_name(stack, s) for s in stack.services]
    if ws.offline:
        refs += [ws.offline_base, *(offline_tag(u) for u in stack.local.images.values())]
    return sorted(refs)


def image_ids(refs: list[str]) -> dict[str, str] | None:
    """ref -> image ID, in one call; None if any is missing."""
    proc = _docker("image", "inspect", "--format", "{{.Id}}", *refs)
    lines = proc.stdout.split()
    if proc.returncode != 0 or len(lines) != len(refs):
        return None
    return dict(zip(refs, lines, strict=True))


def project_containers(project: str) -> list[dict[str, Any]] | None:
    """The docker inspect of every container of the project (two calls)."""
    ids = _docker("ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}")
    if ids.returncode != 0:
        return None
    if not ids.stdout.split():
        return []
    proc = _docker("inspect", *ids.stdout.split())
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _summary(containers: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {c["Name"].lstrip("/"): [c["Id"], c["State"].get("StartedAt", ""), c["Image"]] for c in containers}


def _healthy(c: dict[str, Any]) -> bool:
    return (
        c["State"].get("Status") == "running" and (c["State"].get("Health") or {}).get("Status", "healthy") == "healthy"
    )


def secrets_digest(stack: Any, values: dict[str, str] | None = None) -> str | None:
    """A digest of every secret value compose hands the containers, as
    LocalStack has them now (a changed secret must reach its containers);
    None when they cannot be read. ``values``: those values, as just read."""
    if values is not None:
        return digest(sorted(values.items()))
    from parity.adapters.aws import SecretStore
    from parity.app.local import secrets
    from parity.app.workspace import localstack_target
    from parity.errors import ParityError

    try:
        store = SecretStore(localstack_target(stack))
        values = secrets.resolve(stack, store, [*stack.services, *stack.local.dependencies])
        values.update(secrets.origin_lock_env(stack, store))  # the edge's (a rotation must reach it)
    except ParityError:
        return None
    return digest(sorted(values.items()))


def record(ws: Any, stack: Any, key: str, secret_values: dict[str, str] | None = None) -> dict[str, Any] | None:
    """What the next `inv up` compares (None: nothing to compare against).
    ``secret_values``: what compose was handed (else read from LocalStack again)."""
    images = image_ids(image_refs(ws, stack))
    containers = project_containers(stack.project)
    if images is None or not containers or not all(_healthy(c) for c in containers):
        return None
    return {
        "key": key,
        "images": images,
        "containers": _summary(containers),
        "secrets": secrets_digest(stack, secret_values),
    }


def fast_up(ws: Any) -> tuple[Any, list[Any], dict[str, str]] | None:
    """(stack, containers, urls) when nothing changed since the last `inv up`, else None."""
    recorded = load(ws.root).get("fast")
    if not recorded:
        return None
    from parity.spec import load_stack

    stack = load_stack(ws.root, "local")
    if inputs_key(ws, stack) != recorded.get("key"):
        return None
    from parity.app.workspace import stale

    if stale(stack, ws):
        return None
    if image_ids(image_refs(ws, stack)) != recorded.get("images"):
        return None
    containers = project_containers(stack.project)
    if not containers or _summary(containers) != recorded.get("containers") or not all(_healthy(c) for c in containers):
        return None
    if recorded.get("secrets") is None or secrets_digest(stack) != recorded["secrets"]:
        return None
    from parity.adapters.docker import inspected_state
    from parity.app.workspace import urls

    return stack, sorted((inspected_state(c, stack.project) for c in containers), key=lambda s: s.name), urls(stack)
