"""Small helpers shared by the renderers."""

from __future__ import annotations

HEADER = "# Rendered from {source} by `inv render-local`. Do not edit: a test fails when it is stale.\n"

OFFLINE_PREFIX = "parity-offline"


def offline_tag(upstream: str) -> str:
    """The stand-in tag for an upstream image: ``localstack/localstack:4.14.0``
    -> ``parity-offline/localstack:4.14.0``."""
    repo, _, tag = upstream.rpartition(":") if ":" in upstream.split("/")[-1] else (upstream, "", "latest")
    return f"{OFFLINE_PREFIX}/{repo.split('/')[-1]}:{tag or 'latest'}"


def rel(path: str) -> str:
    """A repo-relative path as seen from the compose/ folder."""
    return path if path.startswith(("/", "../")) else f"../{path}"
