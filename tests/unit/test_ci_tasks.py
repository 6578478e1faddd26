"""What CI relies on between jobs, without Docker: the e2e groups partition the
suite, promote accepts an image only when the whole suite passed with it (in
one run or group by group, records collected from other jobs), saved images
are checked by ID when loaded, and each service's own suite runs the same
command in `inv test` and in CI."""

import json
import re
import shutil

import pytest
from invoke import MockContext, Result

from parity.app.checks import records
from parity.app.checks.e2e_run import run_e2e
from parity.app.checks.test_run import SERVICE_SUITES, run_service_suite, stages
from parity.app.local import images
from parity.app.workspace import Workspace
from parity.errors import ConfigError, ParityError

from .conftest import ROOT

IMAGE = "sha256:" + "1" * 64


def marked_checks() -> dict[str, set[str]]:
    """test function -> its markers, read from the e2e sources."""
    out = {}
    for path in (ROOT / "e2e").glob("test_*.py"):
        pending: set[str] = set()
        for line in path.read_text().splitlines():
            m = re.match(r"\s*@pytest\.mark\.(\w+)", line)
            if m:
                pending.add(m.group(1))
            m = re.match(r"\s*def (test_\w+)", line)
            if m:
                out[f"{path.name}::{m.group(1)}"] = pending
                pending = set()
    return out


def selected(expression: str, marks: set[str]) -> bool:
    names = {n: (n in marks) for n in ("smoke", "container", "browser", "long")}
    return eval(expression, {}, names)  # the marker expressions are ours (records.GROUPS)


def test_the_e2e_groups_partition_the_suite():
    checks = marked_checks()
    assert len(checks) > 10
    for check, marks in checks.items():
        hits = [g for g, expr in records.GROUPS.items() if selected(expr, marks)]
        assert len(hits) == 1, f"{check} ({marks}) is in groups {hits}"


def passed(root, image) -> bool:
    return records.untested(root, {"crawler": image}, 7) is None


def test_promote_needs_the_whole_suite_or_every_group(tmp_path):
    for i, group in enumerate(records.GROUPS):
        assert not passed(tmp_path, IMAGE), f"passed after only {i} groups"
        records.record_e2e_pass(tmp_path, {"crawler": IMAGE}, records.group_suite(group))
    assert passed(tmp_path, IMAGE)
    other = "sha256:" + "2" * 64
    records.record_e2e_pass(tmp_path, {"crawler": other}, "e2e")
    assert passed(tmp_path, other)


def test_records_collected_from_the_ci_jobs_count(tmp_path):
    # as download-artifact lays them out: one folder per artefact
    for group in records.GROUPS:
        job = tmp_path / "job" / group
        records.record_e2e_pass(job, {"crawler": IMAGE}, records.group_suite(group))
        dest = tmp_path / records.COLLECTED / f"e2e-results-{group}"
        dest.mkdir(parents=True)
        shutil.copy(job / records.RESULTS, dest / "e2e-results.json")
    assert records.load(tmp_path) == []
    assert passed(tmp_path, IMAGE)
    (tmp_path / records.COLLECTED / "e2e-results-rest" / "e2e-results.json").unlink()
    assert records.untested(tmp_path, {"crawler": IMAGE}, 7) == (
        "these images passed only part of e2e together (missing groups: rest)"
    )


def test_an_unknown_group_or_group_with_marker_is_refused_before_anything_runs():
    with pytest.raises(ConfigError, match="'nope' is not an e2e group"):
        run_e2e(ROOT, None, group="nope")
    with pytest.raises(ConfigError, match="give one"):
        run_e2e(ROOT, None, marker="smoke", group="smoke")


class SavedImages:
    """A docker that 'loads' by reading the ID a test wrote into the tar."""

    def __init__(self):
        self.ids = {}

    def load(self, path):
        self.ids[f"huskit/{path.stem}:local"] = path.read_text()

    def image_id(self, ref):
        return self.ids.get(ref)


def saved(folder, ids, tar_ids=None):
    folder.mkdir(parents=True)
    (folder / images.MANIFEST).write_text(json.dumps(ids))
    for service, image_id in (tar_ids or ids).items():
        (folder / f"{service}.tar").write_text(image_id)


@pytest.fixture
def fake_docker(monkeypatch):
    docker = SavedImages()
    monkeypatch.setattr(images, "Docker", lambda: docker)
    monkeypatch.setattr(images, "require_engine", lambda: None)
    return docker


def test_load_checks_every_image_id(tmp_path, fake_docker):
    ws = Workspace(root=ROOT)
    saved(tmp_path / "images-crawler", {"crawler": IMAGE})
    saved(tmp_path / "images-website-agent", {"website-agent": "sha256:" + "3" * 64})
    assert images.load(ws, tmp_path) == {"crawler": IMAGE, "website-agent": "sha256:" + "3" * 64}


def test_load_refuses_an_image_that_is_not_the_one_built(tmp_path, fake_docker):
    saved(
        tmp_path / "a",
        {"crawler": IMAGE, "website-agent": IMAGE},
        tar_ids={"crawler": IMAGE, "website-agent": "sha256:" + "9" * 64},
    )
    with pytest.raises(ParityError, match="website-agent: loaded image huskit/website-agent:local is sha256:9"):
        images.load(Workspace(root=ROOT), tmp_path)


def test_load_refuses_a_partial_set(tmp_path, fake_docker):
    saved(tmp_path / "a", {"crawler": IMAGE})
    with pytest.raises(ParityError, match="no saved image for website-agent"):
        images.load(Workspace(root=ROOT), tmp_path)
    with pytest.raises(ConfigError, match="no images.json"):
        images.load(Workspace(root=ROOT), tmp_path / "empty")


def test_build_refuses_a_context_without_a_service_or_a_dockerfile(tmp_path):
    ws = Workspace(root=ROOT)
    with pytest.raises(ConfigError, match="--context needs --service"):
        images.build(ws, None, tmp_path)
    with pytest.raises(ConfigError, match="'web' is not a service"):
        images.build(ws, "web")


def test_build_args_are_composes():
    from parity.spec import load_stack

    stack = load_stack(ROOT, "local")
    assert images.build_args(stack, "crawler", offline=False) == {"BASE_IMAGE": "python:3.12-slim"}
    assert images.build_args(stack, "crawler", offline=True) == {"BASE_IMAGE": "parity-offline/python:3.12-slim"}


def test_a_service_suite_is_the_same_command_in_inv_test_and_in_ci(tmp_path):
    for name, folder, command in stages(unit_only=False):
        if name in SERVICE_SUITES:
            assert (folder, command) == SERVICE_SUITES[name]
    c = MockContext(run={re.compile(".*"): Result(exited=0)}, repeat=True)
    assert run_service_suite(c, ROOT, "crawler")
    assert c.run.call_args[0][0] == SERVICE_SUITES["crawler"][1]
    # from the crawler's own repository: its checkout instead of services/crawler
    run_service_suite(c, ROOT, "crawler", tmp_path)
    assert c.run.call_args[0][0].endswith(f"pytest {tmp_path}/tests -q")
    failing = MockContext(run={re.compile(".*"): Result(exited=1)}, repeat=True)
    assert not run_service_suite(failing, ROOT, "website-agent")
    with pytest.raises(ConfigError):
        run_service_suite(c, ROOT, "edge")


def test_inv_test_unit_lints_with_ruff_before_the_unit_tests():
    unit = stages(unit_only=True)
    assert [name for name, _f, _c in unit] == ["lint", "unit"]
    lint = unit[0][2]
    assert "-m ruff check ." in lint and "-m ruff format --check ." in lint
    assert stages(unit_only=False)[:2] == unit
