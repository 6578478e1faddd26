"""What a warm `inv up` may skip: decided from recorded inputs, never assumed."""

import os

from parity.adapters.docker import ContainerState
from parity.app import warm
from parity.app.local_stack import all_healthy


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
