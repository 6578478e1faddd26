"""What a warm `inv up` may skip: decided from recorded inputs, never assumed."""

import os

from parity.adapters.docker import ContainerState
from parity.app.local import warm
from parity.app.local.local_stack import all_healthy


def test_a_build_is_skipped_only_for_the_same_inputs_and_the_same_image(tmp_path):
    ctx = tmp_path / "svc"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "app.ts").write_text("a")
    (ctx / "node_modules").mkdir()
    key = warm.build_key(ctx, {"target": "production"})
    state = {"builds": {"web": {"key": key, "image": "sha256:1"}}}
    assert warm.unchanged_builds(state, {"web": key}, {"web": "sha256:1"}) == {"web"}
    # the tag now names another image (built elsewhere, or removed)
    assert warm.unchanged_builds(state, {"web": key}, {"web": "sha256:2"}) == set()
    assert warm.unchanged_builds(state, {"web": key}, {"web": None}) == set()
    # other build settings
    assert warm.build_key(ctx, {"target": "dev"}) != key
    # a touched source file, even with the same content
    st = os.stat(ctx / "src" / "app.ts")
    os.utime(ctx / "src" / "app.ts", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert warm.build_key(ctx, {"target": "production"}) != key
    # what never reaches the image does not count
    key = warm.build_key(ctx, {"target": "production"})
    (ctx / "node_modules" / "x.js").write_text("x")
    assert warm.build_key(ctx, {"target": "production"}) == key


def test_state_round_trips_and_a_broken_file_is_no_state(tmp_path):
    warm.save(tmp_path, {"static": "abc"})
    assert warm.load(tmp_path) == {"static": "abc"}
    (tmp_path / warm.STATE).write_text("{not json")
    assert warm.load(tmp_path) == {}


def test_all_healthy_needs_every_service_present_and_healthy():
    def c(service, state="running", health="healthy"):
        return ContainerState(name=service + "-1", service=service, state=state, health=health)

    assert all_healthy([c("localstack"), c("mongo")], ["localstack"])
    assert not all_healthy([c("mongo")], ["localstack"])
    assert not all_healthy([c("localstack", health="starting")], ["localstack"])
    assert not all_healthy([c("localstack", state="exited")], ["localstack"])


def _container(name, started="2026-12-04T09:00:00.123456789Z", status="running", health="healthy"):
    return {
        "Name": "/" + name,
        "Id": name + "-id",
        "Image": "sha256:img",
        "State": {"Status": status, "StartedAt": started, **({"Health": {"Status": health}} if health else {})},
        "Config": {"Labels": {"com.docker.compose.service": name.split("-")[1]}},
        "NetworkSettings": {"Ports": {}, "Networks": {"huskit_public": {}}},
    }


def test_fast_path_only_when_everything_is_as_recorded(monkeypatch):

    from parity.app.workspace import Workspace
    from parity.spec import load_stack

    from .conftest import ROOT

    ws = Workspace.from_env(ROOT)
    stack = load_stack(ROOT, "local")
    images = {ref: "sha256:" + ref for ref in warm.image_refs(ws, stack)}
    running = [_container("huskit-localstack-1"), _container("huskit-edge-1", health=None)]
    recorded = {
        "fast": {
            "key": warm.inputs_key(ws, stack),
            "images": images,
            "containers": warm._summary(running),
            "secrets": "s1",
        }
    }
    now = {"images": dict(images), "containers": list(running), "secrets": "s1"}
    monkeypatch.setattr(warm, "secrets_digest", lambda stack: now["secrets"])
    monkeypatch.setattr(warm, "load", lambda root: recorded)
    monkeypatch.setattr(warm, "image_ids", lambda refs: now["images"])
    monkeypatch.setattr(warm, "project_containers", lambda project: now["containers"])
    fast = warm.fast_up(ws)
    assert fast is not None
    assert [(c.name, c.service, c.health) for c in fast[1]] == [
        ("huskit-edge-1", "edge", "none"),
        ("huskit-localstack-1", "localstack", "healthy"),
    ]
    # LocalStack restarted (and lost its secrets): the full path, which seeds it again
    now["containers"] = [_container("huskit-localstack-1", started="2026-12-04T09:05:00.5Z"), running[1]]
    assert warm.fast_up(ws) is None
    # a container stopped, or turned unhealthy
    now["containers"] = [_container("huskit-localstack-1", health="unhealthy"), running[1]]
    assert warm.fast_up(ws) is None
    # an image rebuilt elsewhere
    now["containers"] = list(running)
    now["images"] = {**images, next(iter(images)): "sha256:other"}
    assert warm.fast_up(ws) is None
    # a secret changed in LocalStack: its containers must get it
    now["images"] = dict(images)
    now["secrets"] = "s2"
    assert warm.fast_up(ws) is None
    now["secrets"] = None  # unreadable
    assert warm.fast_up(ws) is None
    now["secrets"] = "s1"
    assert warm.fast_up(ws) is not None
    # a changed input
    now["images"] = dict(images)
    recorded["fast"]["key"] = "older"
    assert warm.fast_up(ws) is None


def test_a_slow_up_walks_each_build_context_once_and_reads_the_secrets_once(monkeypatch):
    """The review's finding: the stack's key and each build key walked every
    context again, and the record read every secret from LocalStack again.
    The keys stay what they were (a warm state recorded before still counts)."""
    from parity.app.workspace import Workspace
    from parity.spec import load_stack

    from .conftest import ROOT

    ws = Workspace.from_env(ROOT)
    stack = load_stack(ROOT, "local")
    before = warm.inputs_key(ws, stack)
    build_before = {s: warm.build_key(ROOT / svc.build.context, None) for s, svc in stack.services.items()}
    walked = []
    real = warm.fingerprint
    monkeypatch.setattr(warm, "fingerprint", lambda context: walked.append(context) or real(context))
    prints = warm.fingerprints(ws, stack)
    assert warm.inputs_key(ws, stack, prints) == before
    assert {
        s: warm.build_key(ROOT / svc.build.context, None, prints[s]) for s, svc in stack.services.items()
    } == build_before
    contexts = [c for c in walked if c.name != "images"]  # (the offline stand-ins are walked for the key alone)
    assert sorted(contexts) == sorted(ROOT / svc.build.context for svc in stack.services.values())

    values = {"DB_PASSWORD": "x", "ORIGIN_LOCK": "y"}
    monkeypatch.setattr(warm, "image_ids", lambda refs: {r: "sha256:1" for r in refs})
    monkeypatch.setattr(warm, "project_containers", lambda project: [_container("huskit-localstack-1")])

    def no_localstack(target):
        raise AssertionError("the secrets were read from LocalStack again")

    monkeypatch.setattr("parity.adapters.aws.SecretStore", no_localstack)
    recorded = warm.record(ws, stack, before, values)
    assert recorded["secrets"] == warm.digest(sorted(values.items()))
