"""Secrets as ECS injects them: every ``valueFrom`` resolved by secret name
(and JSON key) and handed to the container as an env var.

Locally, LocalStack is first seeded from ``localstack/secrets.json``: local
development values only, with ``{random}`` for anything that is a credential
(generated when the secret is first created, so nothing sensitive is
committed) and ``{NAME:KEY}`` to reuse a value seeded earlier. Values are never
printed or written to a file; errors name the secret and key only.
"""

from __future__ import annotations

import json
import re
import secrets as random_source
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from parity.errors import ConfigError, SecretError
from parity.spec.models import SecretRef, Stack

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class Store(Protocol):
    def get(self, name: str) -> str | None: ...
    def create(self, name: str, value: str) -> None: ...


def refs_of(stack: Stack, member: str) -> dict[str, SecretRef]:
    """The secret env vars of a service or local dependency."""
    if member in stack.services:
        return dict(stack.services[member].secrets)
    dep = stack.local.dependencies.get(member)
    return dict(dep.secrets) if dep else {}


def resolve(stack: Stack, store: Store, members: list[str]) -> dict[str, str]:
    """Resolve the secret env vars of ``members``. Compose hands the environment
    to every container that names a variable, so two members must not give the
    same variable different references."""
    cache: dict[str, str | None] = {}
    values: dict[str, str] = {}
    seen: dict[str, tuple[str, SecretRef]] = {}
    for member in members:
        for var, ref in refs_of(stack, member).items():
            if var in seen and seen[var][1] != ref:
                raise ConfigError(f"{member}: secret variable {var} also comes from another secret in {seen[var][0]}")
            seen[var] = (member, ref)
            values[var] = resolve_one(stack.secret_name(ref), ref.key, store, cache, var)
    return values


def resolve_one(name: str, key: str | None, store: Store, cache: dict[str, str | None], var: str = "") -> str:
    label = f"{var} <- " if var else ""
    if name not in cache:
        cache[name] = store.get(name)
    raw = cache[name]
    if raw is None:
        raise SecretError(f"{label}secret {name} does not exist", hint="is LocalStack seeded? `inv up` seeds it")
    if key is None:
        return raw
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise SecretError(f"{label}secret {name} is not a JSON object, so it has no key {key}") from None
    if not isinstance(data, dict) or key not in data:
        raise SecretError(f"{label}secret {name} has no key {key}")
    return str(data[key])


class VersionedStore(Store, Protocol):
    def previous(self, name: str) -> str | None: ...


def origin_lock_env(stack: Stack, store: VersionedStore) -> dict[str, str]:
    """The edge's origin lock values (what CloudFront sends, and the previous
    value the ALB still accepts during a rotation), as its start command reads
    them. Values are checked, never shown: an error names the secret and key."""
    from parity.render.edge import ORIGIN_VERIFY_ENV, ORIGIN_VERIFY_PREVIOUS_ENV, SECRET_VALUE

    lock = stack.edge.origin_lock
    if lock is None:
        return {}
    name, key = stack.secret_name(lock.secret), lock.secret.key or ""
    current = resolve_one(name, key, store, {}, ORIGIN_VERIFY_ENV)
    raw = store.previous(name)
    previous = ""
    if raw is not None:
        previous = resolve_one(name, key, _Fixed(raw), {}, ORIGIN_VERIFY_PREVIOUS_ENV)
    for which, value in (("current", current), ("previous", previous)):
        if value and not SECRET_VALUE.match(value):
            raise SecretError(f"secret {name}: the {which} value of key {key} must be 16 or more of A-Z a-z 0-9 _ - "
                              "(it goes into a header and the edge's config)")  # fmt: skip
    return {ORIGIN_VERIFY_ENV: current, ORIGIN_VERIFY_PREVIOUS_ENV: previous}


class _Fixed:
    """A store holding one value (a secret's previous version, to resolve its key)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, name: str) -> str | None:
        return self.value


def load_seed(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (the local secret values to seed)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno})") from None
    seed = {k: v for k, v in data.items() if not k.startswith("_")}
    for name, body in seed.items():
        if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
            raise ConfigError(f"{path}: {name}: must map JSON keys to string values")
    return seed


def seed(store: Store, template: Mapping[str, Mapping[str, str]], token: Callable[[], str] | None = None) -> list[str]:
    """Create each secret of ``template`` that does not exist yet; existing
    ones are left alone. Returns the names created."""
    token = token or (lambda: "local-" + random_source.token_urlsafe(24))
    cache: dict[str, str | None] = {}
    created = []
    for name, body in template.items():
        if store.get(name) is not None:
            cache.pop(name, None)
            continue

        def fill(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner == "random":
                return token()
            ref_name, _, ref_key = inner.rpartition(":")
            if not ref_name:
                raise ConfigError(f"seed {name}: placeholder {{{inner}}} is neither {{random}} nor {{SECRET:KEY}}")  # noqa: B023
            return resolve_one(ref_name, ref_key, store, cache)

        value = {key: _PLACEHOLDER.sub(fill, text) for key, text in body.items()}
        store.create(name, json.dumps(value))
        cache.pop(name, None)
        created.append(name)
    return created


def missing_keys(stack: Stack, template: Mapping[str, Mapping[str, str]], members: list[str]) -> list[str]:
    """References the seed would not satisfy, as ``NAME:KEY`` strings."""
    out = []
    for member in members:
        for ref in refs_of(stack, member).values():
            name = stack.secret_name(ref)
            if name not in template or (ref.key and ref.key not in template[name]):
                out.append(f"{name}:{ref.key}" if ref.key else name)
    return out
