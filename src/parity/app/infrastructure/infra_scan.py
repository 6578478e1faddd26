"""`inv infra-scan`: every environment's rendered template through checkov
(offline, ``--skip-download``), which lives in its own virtual environment
because it pins an old boto3 (.ci/run installs it in /opt/parity-checkov).

Offline checkov has no severities (they come from its online platform), so
the rule is stricter than "no high finding": every failed check is either
fixed or accepted, with its reason, in the spec's ``infra.accepted_findings``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from parity.errors import ParityError
from parity.render.infra import needs_edge_stack, render_edge_template, render_template
from parity.spec import Stack
from parity.spec.load import environments, load_stack

CHECKOV_VENV = Path("/opt/parity-checkov/bin/checkov")
# Only to scan an environment that has no certificate yet (its apply refuses to run without one).
SCAN_CERTIFICATE = "arn:aws:acm:eu-central-1:000000000000:certificate/scan-placeholder"


@dataclass
class Finding:
    check: str
    name: str
    resource: str


@dataclass
class ScanResult:
    env: str
    passed: int = 0
    accepted: list[Finding] = field(default_factory=list)
    unexplained: list[Finding] = field(default_factory=list)


def checkov_path() -> str | None:
    """PARITY_CHECKOV, else the CI venv, else one on PATH."""
    explicit = os.environ.get("PARITY_CHECKOV")
    if explicit:
        return explicit
    if CHECKOV_VENV.exists():
        return str(CHECKOV_VENV)
    return shutil.which("checkov")


def scannable(stack: Stack) -> Stack:
    """The environment as it would be applied; a stand-in certificate if it has none yet."""
    if stack.aws.endpoint_url or stack.infra.certificate_arn:
        return stack
    infra = stack.infra.model_copy(update={"certificate_arn": SCAN_CERTIFICATE, "origin_domain": "origin.invalid"})
    return stack.model_copy(update={"infra": infra})


def findings(report: dict | list) -> tuple[int, list[Finding]]:
    """(passed count, failed checks) from checkov's JSON report."""
    reports = report if isinstance(report, list) else [report]
    passed, failed = 0, []
    for item in reports:
        results = item.get("results", {})
        passed += len(results.get("passed_checks", []))
        for check in results.get("failed_checks", []):
            failed.append(Finding(check["check_id"], check.get("check_name", ""), check.get("resource", "")))
    return passed, failed


def scan(root: Path, checkov: str, report_dir: Path, run=subprocess.run) -> list[ScanResult]:
    """Render each environment's template into ``report_dir`` and scan it."""
    report_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for env in environments(root):
        stack = scannable(load_stack(root, env))
        out.append(_scan_one(stack, env, render_template(stack), checkov, report_dir, run))
        if needs_edge_stack(stack):  # the us-east-1 companion (the web ACL)
            out.append(_scan_one(stack, f"{env}-edge", render_edge_template(stack), checkov, report_dir, run))
    return out


def _scan_one(stack: Stack, env: str, template: dict, checkov: str, report_dir: Path, run) -> ScanResult:
    path = report_dir / f"infra-{env}.json"
    path.write_text(json.dumps(template, indent=2))
    proc = run(
        [checkov, "--compact", "--skip-download", "--framework", "cloudformation", "-o", "json", "-f", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ParityError(f"checkov on {path.name} gave no report (exit {proc.returncode}): {tail[0]}") from None
    (report_dir / f"infra-{env}.checkov.json").write_text(json.dumps(report, indent=2))
    passed, failed = findings(report)
    result = ScanResult(env, passed)
    for finding in failed:
        (result.accepted if finding.check in stack.infra.accepted_findings else result.unexplained).append(finding)
    return result


INSTALL_HINT = "it pins an old boto3: python3 -m venv /opt/parity-checkov && /opt/parity-checkov/bin/pip install checkov (as .ci/run does)"
