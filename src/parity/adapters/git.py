"""The one git fact the deploy layer needs: the commit being promoted."""

from __future__ import annotations

import subprocess
from pathlib import Path

from parity.errors import ParityError


def head_sha(root: Path) -> str:
    """The full SHA of HEAD: the tag pushed images get, for people to read."""
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ParityError(f"git rev-parse HEAD: {exc}") from None
    if proc.returncode != 0:
        raise ParityError(f"{root} is not a git checkout with a commit", hint="promote tags images with the git SHA")
    return proc.stdout.strip()
