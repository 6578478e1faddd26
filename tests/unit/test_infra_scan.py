"""infra-scan's verdict from checkov's JSON report (checkov itself runs in
its own venv, in the `infra-scan` stage of `inv test`)."""

import json
import subprocess

from parity.app.infrastructure.infra_scan import SCAN_CERTIFICATE, scan, scannable
from parity.spec.load import load_stack

from .conftest import ROOT


def fake_checkov(failed_by_env):
    def run(argv, **kwargs):
        path = argv[-1]
        env = path.rsplit("infra-", 1)[1].removesuffix(".json").removesuffix("-edge")
        template = json.loads(open(path).read())
        assert "Resources" in template and "--skip-download" in argv
        report = {
            "check_type": "cloudformation",
            "results": {
                "passed_checks": [{"check_id": "CKV_AWS_1"}] * 3,
                "failed_checks": [
                    {"check_id": c, "check_name": "n", "resource": "AWS::S3::Bucket.StaticBucket"}
                    for c in failed_by_env.get(env, [])
                ],
            },
        }
        return subprocess.CompletedProcess(argv, 1 if failed_by_env.get(env) else 0, json.dumps(report), "")

    return run


def test_only_findings_the_spec_accepts_pass(tmp_path):
    results = scan(
        ROOT, "checkov", tmp_path, run=fake_checkov({"prod": ["CKV_AWS_18", "CKV_AWS_999"], "local": ["CKV_AWS_2"]})
    )
    by_env = {r.env: r for r in results}
    assert sorted(by_env) == ["local", "prod", "prod-edge", "staging", "staging-edge"]
    assert [f.check for f in by_env["prod"].accepted] == ["CKV_AWS_18"]
    assert [f.check for f in by_env["prod"].unexplained] == ["CKV_AWS_999"]
    assert [f.check for f in by_env["local"].accepted] == ["CKV_AWS_2"]  # accepted by the local overlay only
    assert by_env["staging"].passed == 3 and not by_env["staging"].unexplained
    assert (tmp_path / "infra-prod.json").exists() and (tmp_path / "infra-prod.checkov.json").exists()


def test_an_environment_without_a_certificate_is_scanned_with_a_stand_in():
    stack = scannable(load_stack(ROOT, "prod"))
    assert stack.infra.certificate_arn == SCAN_CERTIFICATE
    assert scannable(load_stack(ROOT, "local")).infra.certificate_arn is None
