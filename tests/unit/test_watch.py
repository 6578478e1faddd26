"""The watch loop's decisions, on a copy of the spec and stand-in build
contexts, with the Docker-facing steps (``apply``, ``up``) replaced by
recorders: which change leads to what, and that a failure does not end it."""

import shutil
import threading
import time

import pytest

from parity.app.local import watch as watch_mod
from parity.app.workspace import Workspace
from parity.errors import BuildFailed, ConfigError

from .conftest import ROOT


@pytest.fixture
def tree(tmp_path):
    for rel in ("stack.yaml", "deploy", "localstack"):
        src = ROOT / rel
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / rel)
    for context in ("services/website-agent/src", "services/crawler/crawler_app"):
        (tmp_path / context).mkdir(parents=True)
        (tmp_path / context / "main.txt").write_text("one\n")
    return tmp_path


class Run:
    """watch() in a thread, its reports and the steps it took."""

    def __init__(self, root, monkeypatch, fail=None):
        self.lines, self.steps, self.saved = [], [], []
        self.fail = fail or {}

        def apply(session, services, report, saved=None):
            self.steps.append(("apply", tuple(services)))
            self.saved.append(saved)
            if "apply" in self.fail:
                raise self.fail.pop("apply")
            return services

        def up(ws, report):
            self.steps.append(("up",))
            if "up" in self.fail:
                raise self.fail.pop("up")

        monkeypatch.setattr(watch_mod, "apply", apply)
        monkeypatch.setattr(watch_mod.local_stack, "up", up)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=watch_mod.watch,
            args=(Workspace(root),),
            kwargs={"report": self.lines.append, "interval": 0.05, "stop": self.stop},
        )
        self.thread.start()
        self.until(lambda: any(line.startswith("watching") for line in self.lines))

    def until(self, check, bound=10.0):
        deadline = time.monotonic() + bound
        while not check():
            assert time.monotonic() < deadline, f"not within {bound} s: {self.lines}"
            time.sleep(0.02)

    def edit(self, path, text):
        before = len(self.steps)
        time.sleep(0.02)  # a new mtime
        path.write_text(text)
        self.until(lambda: len(self.steps) > before)
        self.until(lambda: self.idle())

    def idle(self):
        n = len(self.lines)
        time.sleep(0.3)
        return len(self.lines) == n

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)


def test_a_source_edit_applies_that_service_only(tree, monkeypatch):
    run = Run(tree, monkeypatch)
    try:
        assert run.lines[0] == (
            "watching services/website-agent, services/crawler, stack.yaml, deploy/local.yaml, localstack/secrets.json (Ctrl-C to stop)"
        )
        run.edit(tree / "services/crawler/crawler_app/main.txt", "two\n")
        assert run.steps == [("apply", ("crawler",))]
        assert "changed: crawler" in run.lines and any(line.startswith("crawler updated in") for line in run.lines)
    finally:
        run.close()


def test_a_spec_edit_is_applied_as_inv_up_and_not_per_service(tree, monkeypatch):
    run = Run(tree, monkeypatch)
    try:
        run.edit(tree / "deploy/local.yaml", (tree / "deploy/local.yaml").read_text() + "\n# touched\n")
        assert run.steps == [("up",)]
        assert "changed: the spec; applying it as `inv up` does" in run.lines
    finally:
        run.close()


def test_failures_are_one_line_with_their_details_and_the_watch_goes_on(tree, monkeypatch):
    build = BuildFailed(["docker", "compose", "build"], 17, "failed to solve")
    build.message = "the build failed at [website-agent build 9/9] RUN npm run build"
    build.details = ["✘ [ERROR] Expected identifier", "    src/app.ts:76:40:"]
    run = Run(
        tree,
        monkeypatch,
        fail={
            "apply": build,
            "up": ConfigError("deploy/local.yaml: services.website-agent.cpu: 333 is no Fargate size"),
        },
    )
    try:
        run.edit(tree / "services/website-agent/src/main.txt", "broken\n")
        assert "not applied: the build failed at [website-agent build 9/9] RUN npm run build" in run.lines
        assert (
            "  ✘ [ERROR] Expected identifier" in run.lines and "      src/app.ts:76:40:" in run.lines
        )  # indented under it
        run.edit(tree / "stack.yaml", (tree / "stack.yaml").read_text() + "\n# touched\n")
        assert any(line.startswith("not applied: deploy/local.yaml: services.website-agent.cpu") for line in run.lines)
        run.edit(tree / "services/website-agent/src/main.txt", "fixed\n")  # still watching: the next edit is applied
        assert run.steps == [("apply", ("website-agent",)), ("up",), ("apply", ("website-agent",))]
        assert any(line.startswith("website-agent updated in") for line in run.lines)
        assert run.thread.is_alive()
    finally:
        run.close()
    assert not run.thread.is_alive()


def test_an_edit_is_timed_from_its_save(tree, monkeypatch):
    """The ``saved`` handed to apply is the changed file's mtime, on the monotonic clock."""
    run = Run(tree, monkeypatch)
    try:
        path = tree / "services/website-agent/src/main.txt"
        before = time.monotonic()
        run.edit(path, "two\n")
        mtime_age = time.time() - path.stat().st_mtime
        assert run.saved[-1] == pytest.approx(time.monotonic() - mtime_age, abs=0.05)
        assert before - 0.05 <= run.saved[-1] <= before + 0.1
    finally:
        run.close()


def test_writes_in_quick_succession_are_one_change(tree, monkeypatch):
    """Writes 0.02 s apart (an editor truncating, then writing; a formatter after the save) for
    longer than the watcher's poll interval: applied once, when they stopped."""
    run = Run(tree, monkeypatch)
    try:
        path = tree / "services/crawler/crawler_app/main.txt"
        for i in range(6):
            path.write_text("x" * i)
            time.sleep(0.02)
        run.edit(path, "two\n")
        assert run.steps == [("apply", ("crawler",))]
    finally:
        run.close()


def test_the_served_line_reads_back_as_its_phases():
    phases = {"detect": 0.06, "build": 0.81, "create": 0.35, "start": 0.2, "healthy": 0.45, "registered": 0.18}
    line = watch_mod.served_line("website-agent", {**phases, "drained": 3.0, "total": 4.2})
    assert line == (
        "website-agent: served 2.05 s after the save: detect 0.06 s, build 0.81 s, create 0.35 s, "
        "start 0.20 s, healthy 0.45 s, registered 0.18 s"
    )
    assert watch_mod.parse_served(line) == ("website-agent", phases)
    assert watch_mod.parse_served(f"• {line}") == ("website-agent", phases)  # as `inv up --watch` prints it
    assert watch_mod.parse_served("website-agent updated in 4.2 s") is None


def test_saved_at_is_the_newest_mtime_of_what_changed():
    before = {"web": {"a.ts": (1_000_000_000, 3), "b.ts": (2_000_000_000, 3)}, "crawler": {"c.py": (9_000_000_000, 1)}}
    after = {
        "web": {"a.ts": (5_000_000_000, 4), "b.ts": (2_000_000_000, 3), "n.ts": (4_000_000_000, 1)},
        "crawler": {"c.py": (9_000_000_000, 1)},
    }
    assert watch_mod.saved_at(before, after, now=99.0) == 5.0  # not the crawler's unchanged, newer file
    assert watch_mod.saved_at(after, {"web": {}, "crawler": after["crawler"]}, now=99.0) == 99.0  # removals only
