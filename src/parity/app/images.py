"""Image sizes against the targets the plan's images should beat."""

from __future__ import annotations

from parity.adapters.docker import Docker, require_engine
from parity.app.workspace import Workspace
from parity.render.compose import image_name
from parity.spec import load_stack

# Targets from the services issue; the plan's images were ~800 MB and ~2-2.5 GB.
TARGET_MB = {"website-agent": 250, "crawler": 1000}


def image_report(ws: Workspace) -> list[str]:
    stack = load_stack(ws.root, "local")
    require_engine()
    docker = Docker()
    lines = []
    for name in stack.services:
        ref = image_name(stack, name)
        size = docker.image_size(ref)
        target = TARGET_MB.get(name)
        if size is None:
            lines.append(f"{ref:<32} not built (`inv up` builds it)")
            continue
        mb = size / 1_000_000
        verdict = "" if target is None else (f"  target < {target} MB: " + ("ok" if mb < target else "OVER"))
        base = stack.services[name].build.base_image or "?"
        mode = "offline stand-in base" if ws.offline else base
        lines.append(f"{ref:<32} {mb:7.1f} MB  ({mode}){verdict}")
    return lines
