"""Load the stack spec: ``stack.yaml`` deep-merged with ``deploy/<env>.yaml``,
then validated. Any problem is one ``ConfigError`` line naming the key path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from parity.errors import ConfigError
from parity.spec.models import Stack

SPEC_FILE = "stack.yaml"
OVERLAY_DIR = "deploy"


def deep_merge(base: Any, overlay: Any) -> Any:
    """Merge ``overlay`` onto ``base``: mappings merge key by key, anything else
    (lists included) is replaced; a ``null`` in the overlay removes the key."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = deep_merge(merged[key], value)
            else:
                merged[key] = value
        return merged
    return overlay


def environments(root: Path) -> list[str]:
    """The environments that have an overlay file."""
    return sorted(p.stem for p in (root / OVERLAY_DIR).glob("*.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def load_stack(root: Path | str = ".", env: str = "local") -> Stack:
    """Read, merge and validate the spec for ``env``."""
    root = Path(root)
    data = _read_yaml(root / SPEC_FILE)
    overlay_path = root / OVERLAY_DIR / f"{env}.yaml"
    sources = SPEC_FILE
    if overlay_path.exists():
        data = deep_merge(data, _read_yaml(overlay_path))
        sources = f"{SPEC_FILE} + {OVERLAY_DIR}/{env}.yaml"
    elif env != "local":
        known = ", ".join(environments(root)) or "none"
        raise ConfigError(f"unknown environment {env!r} (known: {known})")
    data["env"] = env
    return validate(data, sources)


def require_services(stack: Stack, names: list[str], also: list[str] | None = None) -> list[str]:
    """``names`` when each is a service of the stack (or one of ``also``);
    otherwise a ConfigError naming the known ones."""
    known = [*stack.services, *(also or [])]
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown service {name!r} (known: {', '.join(known)})")
    return names


def validate(data: dict[str, Any], source: str = SPEC_FILE) -> Stack:
    """Validate raw spec data; the first problem becomes a one-line ConfigError."""
    try:
        return Stack.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_error(exc)}") from None


_SUBPATH = re.compile(r"^([A-Za-z0-9_.\-]+): ")


def format_error(exc: ValidationError) -> str:
    """``services.crawler.cpu: <reason>`` for the first error of a ValidationError."""
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    match = _SUBPATH.match(msg)
    if match:
        sub = match.group(1)
        path = f"{path}.{sub}" if path else sub
        msg = msg[match.end() :]
    return f"{path}: {msg}" if path else msg
