"""The GitHub workflows read as the rehearsal needs them: which job reaches AWS,
as which role, with which OIDC claims, running which `inv` commands. Pure:
the files in, ``AwsJob``s out, so the rehearsal follows the workflows as they
are and fails when one changes without its role.

What GitHub puts in a job's OIDC token (docs: "About security hardening with
OpenID Connect"): ``sub`` = ``repo:OWNER/REPO:environment:NAME`` for a job
that names an environment, else ``repo:OWNER/REPO:ref:REF``;
``aud`` = the audience configure-aws-credentials asks for
(``sts.amazonaws.com`` unless its ``audience`` input says otherwise).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parity.errors import ConfigError

WORKFLOWS = Path(".github") / "workflows"
SERVICE_EXAMPLE = Path("ci") / "github" / "service-repository.yml"
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
DEFAULT_AUDIENCE = "sts.amazonaws.com"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
MAIN_ONLY = re.compile(r"github\.ref\s*==\s*'(refs/heads/[^']+)'")


@dataclass(frozen=True)
class Command:
    task: str  # infra-plan, promote, ...
    args: dict[str, str | bool]  # --env prod -> {"env": "prod"}; --keep -> {"keep": True}
    line: str  # as the workflow writes it

    @property
    def env(self) -> str | None:
        value = self.args.get("env")
        return value if isinstance(value, str) else None


@dataclass
class AwsJob:
    """A workflow job that assumes an AWS role, resolved for one dispatch."""

    workflow: str  # main.yml
    job: str  # promote-prod
    environment: str | None  # the GitHub environment it runs in
    refs: list[str]  # the refs it can run from (push branches, a `github.ref ==` condition); [] = any
    role: str  # role-to-assume, expressions resolved
    audience: str
    region: str
    commands: list[Command] = field(default_factory=list)  # the `inv` runs after the credentials step

    @property
    def name(self) -> str:
        return f"{self.workflow}:{self.job}"

    def subject(self, repository: str) -> str:
        """The ``sub`` claim GitHub issues for this job (one of its refs when it has no environment)."""
        if self.environment:
            return f"repo:{repository}:environment:{self.environment}"
        return f"repo:{repository}:ref:{self.refs[0] if self.refs else 'refs/heads/<any branch>'}"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the bare key `on` as True
        data["on"] = data.pop(True)
    return data


def repository(root: Path) -> str:
    """This repository (where the deploying workflows run): the one the service
    repositories call for stack.yml (ci/github/service-repository.yml's `uses:`)."""
    for job in (load(root / SERVICE_EXAMPLE).get("jobs") or {}).values():
        uses = str(job.get("uses", ""))
        m = re.match(r"^([^/@\s]+/[^/@\s]+)/\.github/workflows/stack\.yml@", uses)
        if m:
            return m.group(1)
    raise ConfigError(f"{SERVICE_EXAMPLE}: no job calls OWNER/REPO/.github/workflows/stack.yml@SHA")


def _resolve(text: str, context: dict[str, str], where: str) -> str:
    def one(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in context:
            raise ConfigError(f"{where}: the rehearsal cannot resolve ${{{{ {key} }}}}")
        return context[key]

    return EXPRESSION.sub(one, str(text))


def _expand(script: str, env: dict[str, str]) -> str:
    """The shell's expansion of $NAME, "$NAME", ${NAME} and ${NAME:+WORD} (enough for a `run:` line)."""

    def alt(m: re.Match[str]) -> str:
        return m.group(2) if env.get(m.group(1)) else ""

    script = re.sub(r"\$\{(\w+):\+([^}]*)\}", alt, script)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), script)


def inv_commands(script: str, env: dict[str, str]) -> list[Command]:
    out = []
    for raw in script.splitlines():
        line = _expand(raw, env).strip()
        for part in re.split(r"\s*(?:&&|\|\||;)\s*", line):
            words = shlex.split(part) if part else []
            if len(words) < 2 or words[0] != "inv":
                continue
            args: dict[str, str | bool] = {}
            i = 2
            while i < len(words):
                word = words[i]
                if word.startswith("--"):
                    name = word[2:]
                    if i + 1 < len(words) and not words[i + 1].startswith("--"):
                        args[name] = words[i + 1]
                        i += 1
                    else:
                        args[name] = True
                i += 1
            out.append(Command(words[1], args, raw.strip()))
    return out


def _refs(data: dict[str, Any], job: dict[str, Any], jobs: dict[str, Any]) -> list[str]:
    on = data.get("on") or {}
    push = on.get("push") if isinstance(on, dict) else None
    if isinstance(push, dict) and push.get("branches") and set(on) == {"push"}:
        return [f"refs/heads/{b}" for b in push["branches"]]
    seen: set[str] = set()
    todo = [job]
    while todo:  # the job's own condition, or one of a job it needs (a skipped need skips it)
        current = todo.pop()
        m = MAIN_ONLY.search(str(current.get("if", "")))
        if m:
            return [m.group(1)]
        needs = current.get("needs") or []
        for name in [needs] if isinstance(needs, str) else needs:
            if name not in seen and name in jobs:
                seen.add(name)
                todo.append(jobs[name])
    return []


def _order(jobs: dict[str, Any]) -> list[str]:
    """Job ids with every job after the jobs it needs (the file's order otherwise)."""
    done: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        needs = jobs[name].get("needs") or []
        for need in [needs] if isinstance(needs, str) else needs:
            if need in jobs:
                visit(need)
        done.append(name)

    for name in jobs:
        visit(name)
    return done


def dispatch_inputs(data: dict[str, Any]) -> dict[str, Any]:
    on = data.get("on") or {}
    dispatch = on.get("workflow_dispatch") if isinstance(on, dict) else None
    return (dispatch or {}).get("inputs") or {}


def dispatch_environments(data: dict[str, Any]) -> list[str] | None:
    """The environments a workflow_dispatch `environment` input offers (None: no such input)."""
    inputs = dispatch_inputs(data)
    if "environment" not in inputs:
        return None
    return [str(o) for o in inputs["environment"].get("options") or []]


def aws_jobs(root: Path, env: str, variables: dict[str, str]) -> list[AwsJob]:
    """Every job of every workflow that assumes a role for ``env``, each
    workflow's jobs in the order they run (a dispatched workflow: with
    ``environment`` = ``env``). ``variables``: the repository's ``vars``."""
    out = []
    for path in sorted((root / WORKFLOWS).glob("*.yml")):
        data = load(path)
        offered = dispatch_environments(data)
        if offered is not None and env not in offered:
            continue
        context = {f"vars.{k}": v for k, v in variables.items()}
        context.update({f"inputs.{k}": str(v.get("default", "")) for k, v in dispatch_inputs(data).items()})
        context.update({"inputs.environment": env, "github.run_id": "rehearsal", "github.run_attempt": "1"})
        jobs = data.get("jobs") or {}
        for job_id in _order(jobs):
            job = jobs[job_id]
            where = f"{path.name} job {job_id}"
            steps = job.get("steps") or []
            index = next(
                (i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith(CREDENTIALS_ACTION)), None
            )
            if index is None:
                continue
            with_ = steps[index].get("with") or {}
            job_env = {k: _resolve(v, context, where) for k, v in (job.get("env") or {}).items()}
            environment = job.get("environment")
            if isinstance(environment, dict):
                environment = environment.get("name")
            aws = AwsJob(
                workflow=path.name,
                job=job_id,
                environment=_resolve(environment, context, where) if environment else None,
                refs=_refs(data, job, jobs),
                role=_resolve(with_.get("role-to-assume", ""), context, where),
                audience=_resolve(with_.get("audience", DEFAULT_AUDIENCE), context, where),
                region=_resolve(with_.get("aws-region", ""), context, where),
            )
            for step in steps[index + 1 :]:
                if "run" in step:
                    step_env = {k: _resolve(v, context, where) for k, v in (step.get("env") or {}).items()}
                    aws.commands += inv_commands(str(step["run"]), {**job_env, **step_env})
            targets = {c.env for c in aws.commands if c.env}
            if aws.environment == env or (aws.environment is None and targets == {env}):
                out.append(aws)
    return out


def token_jobs(root: Path) -> list[tuple[str, str, bool]]:
    """(file, job, assumes a role) for every job anywhere that may ask for an OIDC
    token (``id-token: write``), the service repositories' example included."""
    out = []
    for path in [*sorted((root / WORKFLOWS).glob("*.yml")), root / SERVICE_EXAMPLE]:
        data = load(path)
        top = data.get("permissions") or {}
        for job_id, job in (data.get("jobs") or {}).items():
            perms = job.get("permissions", top) or {}
            if isinstance(perms, dict) and perms.get("id-token") == "write":
                assumes = any(str(s.get("uses", "")).startswith(CREDENTIALS_ACTION) for s in job.get("steps") or [])
                out.append((str(path.relative_to(root)), job_id, assumes))
    return out
