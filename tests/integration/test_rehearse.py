"""`inv rehearse` against its emulator (moto with AWS's authorization, a
subprocess on a free loopback port; no Docker, no network): the day's jobs run
as their roles, and the rehearsal fails, naming the action, the role and the
workflow job, when a role loses a permission a job's steps use or a workflow
changes without its role. The checks of issue 16's other half (a failed first
promote at 0 tasks, a retried create, adoption, the table of limits) are
asserted by `inv test`'s `rehearse` stage once both halves are merged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from parity.app.rehearsal.rehearse import NG, OK, Report, rehearse
from parity.render.infra import identities

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OTHER_HALF = ("finding 5",)  # checks whose fix is issue 16's other half (see the module's docstring)


def checks(report: Report) -> list[tuple[str, str, str, str]]:
    return [(s.title, c.name, c.status, c.detail) for s in report.sections for c in s.checks]


@pytest.fixture(scope="module")
def prod_day() -> Report:
    lines: list[str] = []
    return rehearse(ROOT, "prod", lines.append, failures=False)


def test_every_job_runs_its_steps_as_its_own_role(prod_day):
    found = checks(prod_day)
    sections = [s.title for s in prod_day.sections]
    for title in ("infra.yml:plan", "infra.yml:apply", "main.yml:promote-prod", "rollback.yml:rollback"):
        assert any(t.startswith(title) for t in sections), title
    ran = [(t, n, st, d) for t, n, st, d in found if n.startswith(("inv ", "assume "))]
    assert len(ran) >= 20
    wrong = [
        f"{t} / {n}: {d}"
        for t, n, st, d in found
        if st != OK and not any(o in n for o in OTHER_HALF) and "limits" not in t
    ]
    assert not wrong, "\n".join(wrong)
    # the promote that fails is rolled back and its revisions retired (ecs:DeregisterTaskDefinition, as the role)
    assert any("retires the revisions" in n and st == OK and "INACTIVE" in d for _t, n, st, d in found)
    assert any(n == "the last plan is empty (nothing to apply)" and st == OK for _t, n, st, _d in found)


@pytest.mark.parametrize(
    "sid, action, where",
    [
        ("ReadAndRetireRevisions", "ecs:DeregisterTaskDefinition", "retires the revisions"),
        ("PushTheTestedImages", "ecr:InitiateLayerUpload", "inv promote"),
    ],
)
def test_a_permission_taken_from_the_rendered_policy_fails_the_rehearsal_naming_it(monkeypatch, sid, action, where):
    full = identities.STATEMENTS["promote"]

    def without(stack):
        out = []
        for statement in full(stack):
            if statement.get("Sid") == sid:
                statement = {**statement, "Action": [a for a in statement["Action"] if a != action]}
            out.append(statement)
        return out

    monkeypatch.setitem(identities.STATEMENTS, "promote", without)
    report = rehearse(ROOT, "prod", lambda _line: None, failures=False)
    failed = [(n, d) for _t, n, st, d in checks(report) if st == NG and where in n]
    assert failed, report.lines()
    name, detail = failed[0]
    assert f"{action} on " in detail and "is not allowed to role huskit-prod-github-promote" in detail, detail
    assert "(workflow job main.yml:promote-prod)" in detail, detail


def copy_root(tmp_path: Path) -> Path:
    for name in ("stack.yaml", "deploy", ".github", "ci", "services", "localstack"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("node_modules", "build", "__pycache__"))
        else:
            shutil.copy(src, tmp_path / name)
    return tmp_path


def test_a_workflow_changed_without_its_role_fails_the_rehearsal(tmp_path):
    """main.yml's prod job moved out of its GitHub environment: its token's sub is
    now the branch's, which the promote role does not trust."""
    root = copy_root(tmp_path)
    main = root / ".github/workflows/main.yml"
    text = main.read_text()
    assert "    environment: prod           # protected" in text
    main.write_text(text.replace("    environment: prod           # protected", "    # (environment removed)"))
    report = rehearse(root, "prod", lambda _line: None, failures=False)
    failed = {n: d for _t, n, st, d in checks(report) if st == NG}
    trust = next(d for n, d in failed.items() if n.startswith("main.yml:promote-prod"))
    assert "huskit-prod-github-promote does not trust main.yml:promote-prod" in trust
    assert "repo:HuskIT/huskit-parity:ref:refs/heads/main" in trust
