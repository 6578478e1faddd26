"""Where things are: the repo root, the rendered files, and the mode (offline
or not). Settings are read here, once, when a task starts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from parity.render.compose import dump, render_compose, render_offline_override
from parity.render.edge import render_edge
from parity.render.waf import render_waf_js
from parity.spec import Stack

if TYPE_CHECKING:
    from parity.adapters.aws import AwsTarget

COMPOSE_DIR = "compose"


@dataclass(frozen=True)
class Workspace:
    root: Path
    offline: bool = False
    offline_base: str = "local/debian:trixie"
    localstack_token: bool = False
    localstack_image: str | None = None

    @classmethod
    def from_env(cls, root: Path | str = ".") -> Workspace:
        return cls(
            root=Path(root).resolve(),
            offline=os.environ.get("PARITY_OFFLINE", "") not in ("", "0", "false", "no"),
            offline_base=os.environ.get("PARITY_OFFLINE_BASE", "local/debian:trixie"),
            localstack_token=bool(os.environ.get("LOCALSTACK_AUTH_TOKEN")),
            localstack_image=os.environ.get("PARITY_LOCALSTACK_IMAGE") or None,
        )

    @property
    def compose_file(self) -> Path:
        return self.root / COMPOSE_DIR / "compose.yaml"

    @property
    def offline_file(self) -> Path:
        return self.root / COMPOSE_DIR / "compose.offline.yaml"

    @property
    def edge_file(self) -> Path:
        return self.root / COMPOSE_DIR / "edge" / "nginx.conf"

    @property
    def waf_file(self) -> Path:
        return self.root / COMPOSE_DIR / "edge" / "waf.js"

    def compose_files(self) -> list[Path]:
        return [self.compose_file, self.offline_file] if self.offline else [self.compose_file]


def rendered(stack: Stack, ws: Workspace) -> dict[Path, str]:
    """Every local artefact rendered from the spec, by path."""
    return {
        ws.compose_file: dump(render_compose(stack)),
        ws.offline_file: dump(render_offline_override(stack)),
        ws.edge_file: render_edge(stack),
        ws.waf_file: render_waf_js(stack),
    }


def write_rendered(stack: Stack, ws: Workspace) -> list[Path]:
    """Write the rendered artefacts; only files whose content changed are touched."""
    changed = []
    for path, text in rendered(stack, ws).items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed


def stale(stack: Stack, ws: Workspace) -> list[Path]:
    """Committed artefacts that differ from what the spec renders."""
    return [p for p, text in rendered(stack, ws).items() if not p.exists() or p.read_text() != text]


def urls(stack: Stack) -> dict[str, str]:
    """The stack's addresses on the host."""
    out = {"edge": f"http://127.0.0.1:{stack.edge.port}"}
    schemes = {"localstack": "http", "postgres": "postgresql", "mongo": "mongodb"}
    for name, dep in stack.local.dependencies.items():
        if dep.publish:
            out[name] = f"{schemes.get(dep.kind, 'http')}://127.0.0.1:{dep.publish}"
    return out


def localstack_target(stack: Stack) -> AwsTarget:
    """The local stack's LocalStack, as an AWS target (its published port)."""
    from parity.adapters.aws import AwsTarget  # (boto3 only when asked)

    # the spec guarantees LocalStack publishes a port
    dep = next(d for d in stack.local.dependencies.values() if d.kind == "localstack")
    return AwsTarget(region=stack.region, endpoint_url=f"http://127.0.0.1:{dep.publish}")
