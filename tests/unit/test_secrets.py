"""Secret seeding and resolution against an in-memory store (the real
LocalStack is exercised by the integration tests)."""

import json

import pytest

from parity.app.local import secrets
from parity.errors import ConfigError, SecretError
from parity.spec.load import load_stack

from .conftest import ROOT


class MemoryStore:
    def __init__(self, data=None):
        self.data = dict(data or {})
        self.gets = 0

    def get(self, name):
        self.gets += 1
        return self.data.get(name)

    def create(self, name, value):
        assert name not in self.data
        self.data[name] = value


def counter():
    n = iter(range(1000))
    return lambda: f"tok{next(n)}"


def test_seed_creates_missing_and_keeps_existing():
    store = MemoryStore({"b": json.dumps({"K": "kept"})})
    template = {"a": {"PW": "{random}"}, "b": {"K": "{random}"}, "c": {"URL": "pg://u:{a:PW}@db", "X": "plain"}}
    created = secrets.seed(store, template, token=counter())
    assert created == ["a", "c"]
    assert json.loads(store.data["a"]) == {"PW": "tok0"}
    assert json.loads(store.data["b"]) == {"K": "kept"}
    assert json.loads(store.data["c"]) == {"URL": "pg://u:tok0@db", "X": "plain"}
    assert secrets.seed(store, template, token=counter()) == []


def test_seed_rejects_unknown_placeholder():
    with pytest.raises(ConfigError, match=r"placeholder \{oops\}"):
        secrets.seed(MemoryStore(), {"a": {"K": "{oops}"}})


def test_resolve_by_json_key_and_whole_secret_fetches_each_secret_once():
    stack = load_stack(ROOT)
    store = MemoryStore({"huskit/prod/crawler": json.dumps({k: f"v-{k}" for k in stack.services["crawler"].secrets})})
    env = secrets.resolve(stack, store, ["crawler"])
    assert env["MONGODB_URI"] == "v-MONGODB_URI"
    assert set(env) == set(stack.services["crawler"].secrets)
    assert store.gets == 1
    assert secrets.resolve_one("huskit/prod/crawler", None, store, {}) == store.data["huskit/prod/crawler"]


def test_missing_secret_and_key_are_named_without_values():
    stack = load_stack(ROOT)
    with pytest.raises(SecretError) as exc:
        secrets.resolve(stack, MemoryStore(), ["crawler"])
    assert str(exc.value).startswith("SERPAPI_API_KEY <- secret huskit/prod/crawler does not exist")
    store = MemoryStore({"huskit/prod/crawler": json.dumps({"SERPAPI_API_KEY": "hunter2-value"})})
    with pytest.raises(SecretError) as exc:
        secrets.resolve(stack, store, ["crawler"])
    assert str(exc.value) == "GOOGLE_VISION_API_KEY <- secret huskit/prod/crawler has no key GOOGLE_VISION_API_KEY"
    assert "hunter2" not in str(exc.value)


def test_committed_seed_satisfies_every_reference():
    stack = load_stack(ROOT)
    template = secrets.load_seed(ROOT / stack.local.seed)
    members = [*stack.services, *stack.local.dependencies]
    assert secrets.missing_keys(stack, template, members) == []


def test_committed_seed_holds_no_credential():
    """Credentials in the seed are generated ({random}); only local addresses and names are literal."""
    template = secrets.load_seed(ROOT / "localstack/secrets.json")
    for name, body in template.items():
        for key, value in body.items():
            if any(w in key for w in ("KEY", "SECRET", "TOKEN", "PASSWORD")):
                assert value == "{random}", f"{name}:{key} must be generated"


def test_the_edge_gets_the_origin_locks_current_and_previous_values_never_a_bad_one():
    import pytest

    from parity.app.local.secrets import origin_lock_env
    from parity.errors import SecretError
    from parity.spec import load_stack

    from .conftest import ROOT

    stack = load_stack(ROOT, "local")

    class Store:
        def __init__(self, current, previous=None):
            self.values = {"huskit/prod/edge-origin": json.dumps({"value": current})}
            self.prev = json.dumps({"value": previous}) if previous else None

        def get(self, name):
            return self.values.get(name)

        def previous(self, name):
            return self.prev

    now, before = "a" * 20 + "-_B9", "b" * 24
    assert origin_lock_env(stack, Store(now)) == {"EDGE_ORIGIN_VERIFY": now, "EDGE_ORIGIN_VERIFY_PREVIOUS": ""}
    assert origin_lock_env(stack, Store(now, before))["EDGE_ORIGIN_VERIFY_PREVIOUS"] == before
    for bad in ('with "quote" and space', "short"):
        with pytest.raises(SecretError) as err:
            origin_lock_env(stack, Store(bad))
        assert bad not in str(err.value) and "huskit/prod/edge-origin" in str(err.value)
