"""Values no longer copied by hand (issue 16, finding 8): promote reads the URL
and the distribution from the environment stack's outputs (the overlay may
still override them); the plan's public name (CloudFront alias, its us-east-1
certificate, the Route 53 records) comes from optional spec fields; the
us-east-1 companion's template renders without the ALB's certificate."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from parity.app.deploy.promote import promote
from parity.app.infrastructure.infra import render
from parity.app.infrastructure.infra_scan import _scan_one, checkov_path
from parity.errors import ConfigError
from parity.render.infra import render_template
from parity.render.infra.verify import verify
from parity.spec import load_stack

from . import test_promote as base
from .conftest import ROOT
from .deploy_fakes import make_ctx
from .test_infra_render import stack_for

root = base.root  # the fixture
CF_CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b5c6a4e-aaaa-bbbb-cccc-444455556666"
ALIAS = {
    "infra": {"domain": "app.huskit.example", "cloudfront_certificate_arn": CF_CERT, "hosted_zone_id": "Z0123456789ABC"}
}
OUTPUTS = {"Url": "https://d111.cloudfront.net", "DistributionId": "E2OUTPUT", "AlbDnsName": "alb.example"}


def test_promote_takes_the_url_and_distribution_from_the_stack(root):
    base.tested(root)
    ctx = make_ctx(root, "prod")  # deploy/prod.yaml sets neither
    ctx.outputs = lambda: dict(OUTPUTS)
    promote(ctx, version="v1")
    assert ctx.smoke_calls == ["https://d111.cloudfront.net"]
    assert ctx.cdn.invalidations == ["E2OUTPUT"]


def test_the_overlay_still_overrides_the_outputs(root):
    base.tested(root)
    ctx = make_ctx(root, "prod", url="https://huskit.example", distribution_id="E2OVERLAY")
    ctx.outputs = lambda: dict(OUTPUTS)
    promote(ctx, version="v1")
    assert ctx.smoke_calls == ["https://huskit.example"] and ctx.cdn.invalidations == ["E2OVERLAY"]


def test_without_either_a_promote_stops_before_anything_changes(root):
    base.tested(root)
    ctx = make_ctx(root, "prod")
    with pytest.raises(ConfigError) as exc:
        promote(ctx, version="v1")
    assert str(exc.value) == (
        "deploy/prod.yaml: aws.url is not set and stack huskit-prod has no Url output; promote runs the smoke tests "
        "against it (hint: `inv infra-apply --env prod` creates the stack (or set aws.url))"
    )
    assert ctx.registry.tags == [] and ctx.ecs.calls == []


def test_the_template_outputs_what_promote_reads():
    outputs = render_template(stack_for("prod"))["Outputs"]
    assert outputs["Url"]["Value"] == {"Fn::Sub": "https://${Distribution.DomainName}"}
    assert outputs["DistributionId"]["Value"] == {"Ref": "Distribution"}
    assert render_template(stack_for("prod", ALIAS))["Outputs"]["Url"]["Value"] == "https://app.huskit.example"


def test_a_domain_renders_the_alias_its_certificate_and_the_records(tmp_path):
    template = render_template(stack_for("prod", ALIAS))
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    assert config["Aliases"] == ["app.huskit.example"]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CF_CERT, "SslSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021",
    }  # fmt: skip
    records = {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::Route53::RecordSet"}
    assert {r["Type"] for r in records.values()} == {"A", "AAAA"}
    for record in records.values():
        assert (record["HostedZoneId"], record["Name"]) == ("Z0123456789ABC", "app.huskit.example")
        assert record["AliasTarget"] == {
            "DNSName": {"Fn::GetAtt": ["Distribution", "DomainName"]},
            "HostedZoneId": "Z2FDTNDATAQYW2",
        }
    without_zone = render_template(stack_for("prod", {"infra": {**ALIAS["infra"], "hosted_zone_id": None}}))
    assert not [r for r in without_zone["Resources"].values() if r["Type"] == "AWS::Route53::RecordSet"]
    assert verify(template).findings == []
    path = tmp_path / "prod-alias.json"
    path.write_text(json.dumps(template))
    lint = subprocess.run([sys.executable, "-c", "import cfnlint.runner; cfnlint.runner.main()", str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.skipif(checkov_path() is None, reason="checkov is not installed here (CI installs it: .ci/run)")
def test_with_a_domain_the_tls_policy_finding_no_longer_occurs(tmp_path):
    stack = stack_for("prod", ALIAS)
    result = _scan_one(stack, "prod-alias", render_template(stack), checkov_path(), tmp_path, subprocess.run)
    checks = {f.check for f in result.accepted + result.unexplained}
    assert "CKV_AWS_174" not in checks and not result.unexplained  # (without a domain, infra-scan accepts it)


@pytest.mark.parametrize(
    ("infra", "expected"),
    [
        ({"domain": "app.huskit.example"}, "infra.cloudfront_certificate_arn: required with infra.domain"),
        ({"domain": "app.huskit.example", "cloudfront_certificate_arn": CF_CERT.replace("us-east-1", "eu-central-1")},
         "infra.cloudfront_certificate_arn: 'arn:aws:acm:eu-central-1:"),
        ({"hosted_zone_id": "Z0123"}, "infra.domain: required with infra.hosted_zone_id"),
        ({"domain": "App.Huskit.example", "cloudfront_certificate_arn": CF_CERT}, "infra.domain: 'App.Huskit.example' is not a DNS name"),
    ],
)  # fmt: skip
def test_the_alias_fields_are_checked_with_their_key_paths(infra, expected):
    with pytest.raises(ConfigError) as exc:
        stack_for("prod", {"infra": infra})
    assert str(exc.value).startswith(f"stack.yaml: {expected}") and exc.value.exit_code == 2


def test_the_edge_template_renders_without_the_albs_certificate():
    prod = load_stack(ROOT, "prod")  # the repository's: no certificate yet
    assert prod.infra.certificate_arn is None
    proc = subprocess.run([sys.executable, "-m", "invoke", "infra-render", "--env", "prod", "--edge"], cwd=ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Resources"]["WebAcl"]["Type"] == "AWS::WAFv2::WebACL"
    template = json.loads(render(prod, edge=True, report=lambda _l: None))
    assert list(template["Resources"]) == ["WebAcl"]
