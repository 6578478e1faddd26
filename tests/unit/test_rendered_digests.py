"""Everything the spec renders is byte-identical to what was recorded from a
known commit (tests/unit/fixtures/rendered-digests.json, its ``from``): the
CloudFormation templates as `inv infra-render` prints them, the bootstrap
templates, the task definitions and the local stack's compose files and edge
config. A restructuring of the toolkit leaves all of it as it was."""

from __future__ import annotations

import json
import shutil

from .conftest import ROOT
from .rendered_digests import FILE, collect


def recorded() -> dict[str, str]:
    return json.loads(FILE.read_text())["digests"]


def test_everything_rendered_is_byte_identical_to_the_recorded():
    now, before = collect(), recorded()
    changed = sorted(k for k in {*now, *before} if now.get(k) != before.get(k))
    assert not changed, (
        f"rendered differently from {json.loads(FILE.read_text())['from']}: {', '.join(changed)} "
        "(deliberate? `python tests/unit/rendered_digests.py --write`)"
    )
    assert any(k.startswith("infra-render --env prod") for k in before) and any("compose.yaml" in k for k in before)


def test_one_changed_value_in_an_overlay_shows_in_that_environments_digests_alone(tmp_path):
    """The check is no tautology: the digests are of what renders from the spec
    at that root, so a changed overlay changes exactly its environment's."""
    for name in ("stack.yaml", "tasks.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("deploy", "compose", "localstack"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "services").symlink_to(ROOT / "services")
    assert collect(tmp_path) == recorded()
    overlay = tmp_path / "deploy" / "staging.yaml"
    overlay.write_text(overlay.read_text().replace("desired_count: 1", "desired_count: 2", 1))
    now, before = collect(tmp_path), recorded()
    changed = {k for k in before if now.get(k) != before[k]}
    assert changed and all("staging" in k for k in changed)
    assert "infra-render --env staging" in changed
