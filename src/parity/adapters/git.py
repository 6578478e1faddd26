"""The git facts the toolkit needs: which commit a folder's content is."""

from __future__ import annotations

import subprocess
from pathlib import Path

from parity.errors import ParityError


def _git(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ParityError(f"git {' '.join(args)} in {path}: {exc}") from None


def head_sha(root: Path) -> str:
    """The full SHA of HEAD."""
    proc = _git(Path(root), "rev-parse", "HEAD")
    if proc.returncode != 0:
        raise ParityError(f"{root} is not a git checkout with a commit")
    return proc.stdout.strip()


def source_revision(path: Path) -> str | None:
    """What ``path`` (a build context) holds: the SHA of its checkout's HEAD
    (its own repository where it is one, e.g. the real service dropped in),
    with ``-dirty`` when anything under ``path`` differs from that commit
    (untracked files included); None when it is not in a git checkout."""
    path = Path(path)
    if not path.is_dir():
        return None
    proc = _git(path, "rev-parse", "HEAD")
    if proc.returncode != 0:
        return None
    sha = proc.stdout.strip()
    status = _git(path, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    if status.returncode != 0:
        return None
    return f"{sha}-dirty" if status.stdout.strip() else sha
