"""WAF's managed rules: the spec's overrides render to RuleActionOverrides and
a label-match rule scoped to the other paths; the model of the rendered web
ACL answers as AWS documents; the local edge's engine (waf.js, run here under
Node with a stand-in for njs's request object) decides every request of a
corpus exactly as the model of the rendered template does."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import pytest
import yaml

from parity.errors import ConfigError
from parity.render.infra import render_template
from parity.render.parity_infra import infra_template
from parity.render.waf import emulation, evaluate, render_waf_js, web_acl_of, web_acl_rules
from parity.spec import load_stack
from parity.spec.load import validate
from parity.spec.managed_rules import RULES

from ..waf_corpus import CORPUS
from .conftest import ROOT


@pytest.fixture(scope="module")
def prod():
    return load_stack(ROOT, "prod")


def acl(stack):
    return web_acl_of(infra_template(stack))


def test_an_override_counts_on_its_paths_and_blocks_by_label_elsewhere(prod):
    rules = web_acl_rules(prod)
    crs = rules[0]["Statement"]["ManagedRuleGroupStatement"]
    assert crs["Name"] == "AWSManagedRulesCommonRuleSet"
    assert crs["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}},
        {"Name": "CrossSiteScripting_BODY", "ActionToUse": {"Count": {}}},
    ]
    size = rules[1]
    assert size["Action"] == {"Block": {}} and size["Priority"] == 1
    label, outside = size["Statement"]["AndStatement"]["Statements"]
    assert label == {
        "LabelMatchStatement": {"Scope": "LABEL", "Key": "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"}
    }
    assert outside["NotStatement"]["Statement"]["ByteMatchStatement"] == {
        "SearchString": "/api/chat", "FieldToMatch": {"UriPath": {}}, "PositionalConstraint": "EXACTLY",
        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
    }  # fmt: skip
    assert rules[3]["Statement"]["ManagedRuleGroupStatement"] == {
        "VendorName": "AWS",
        "Name": "AWSManagedRulesKnownBadInputsRuleSet",
    }


def test_the_model_of_the_rendered_web_acl(prod):
    rules = acl(prod)
    verdict = {name: evaluate(rules, r) for name, r in CORPUS.items()}
    # the chat endpoint: 12 KB with <script> passes (both rules count there, and label)
    assert verdict["chat-12k-script"].action == "allow"
    assert set(verdict["chat-12k-script"].labels) == {
        "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body",
        "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body",
    }
    # elsewhere, or on another spelling of the path, the same body is blocked by the label rules
    for name in ("chat-path-case", "chat-trailing-slash", "login-12k"):
        assert (verdict[name].action, verdict[name].status) == ("block", 403), name
        assert verdict[name].rule == "SizeRestrictions_BODY-outside-exempt-paths", name
    assert verdict["login-small-script"].rule == "CrossSiteScripting_BODY-outside-exempt-paths"
    assert verdict["no-user-agent"].rule == "AWSManagedRulesCommonRuleSet/NoUserAgent_HEADER"
    assert verdict["propfind"].rule == "AWSManagedRulesKnownBadInputsRuleSet/PROPFIND_METHOD"
    assert verdict["body-8192"].action == "allow" and verdict["body-8193"].action == "block"
    for name in ("plain-page", "plain-stream", "asset", "small-json", "crawl-ok", "chat-40k-code"):
        assert verdict[name].action == "allow", (name, verdict[name])


def test_without_the_scope_down_rule_the_body_would_pass_everywhere(prod):
    """The model reads the template, not the spec: a template that only counts
    (no label rule) lets a 12 KB login body through."""
    rules = [r for r in acl(prod) if not r["Name"].endswith("-outside-exempt-paths")]
    assert evaluate(rules, CORPUS["login-12k"]).action == "allow"
    # and one that does not count blocks the chat
    blocking = copy.deepcopy(acl(prod))
    blocking[0]["Statement"]["ManagedRuleGroupStatement"].pop("RuleActionOverrides")
    assert evaluate(blocking, CORPUS["chat-12k-script"]).action == "block"


def test_staging_and_prod_keep_the_web_acl_in_the_companion_the_emulator_inline():
    for env in ("staging", "prod"):
        stack = load_stack(ROOT, env)
        assert "WebAcl" not in render_template(stack)["Resources"]
        assert [r["Name"] for r in web_acl_of(infra_template(stack))][:2] == [
            "AWSManagedRulesCommonRuleSet",
            "SizeRestrictions_BODY-outside-exempt-paths",
        ]
    local = load_stack(ROOT, "local")
    assert web_acl_of(render_template(local)) == web_acl_of(infra_template(local))


def test_an_override_of_an_unknown_rule_or_a_pattern_path_is_refused():
    data = yaml.safe_load((ROOT / "stack.yaml").read_text())
    bad = copy.deepcopy(data)
    bad["edge"]["managed_rules"][0]["overrides"][0]["rule"] = "SizeRestrictions_Body"
    with pytest.raises(
        ConfigError,
        match=r"edge\.managed_rules\.0\.overrides\.0\.rule: AWSManagedRulesCommonRuleSet has no rule 'SizeRestrictions_Body'",
    ):
        validate(bad)
    bad = copy.deepcopy(data)
    bad["edge"]["managed_rules"][0]["overrides"][0]["paths"] = ["/api/chat*"]
    with pytest.raises(ConfigError, match=r"edge\.managed_rules\.0\.overrides\.0\.paths: .*not an exact path"):
        validate(bad)
    bad = copy.deepcopy(data)
    bad["edge"]["managed_rules"][0]["overrides"][0]["reason"] = " "
    with pytest.raises(ConfigError, match=r"edge\.managed_rules\.0\.overrides\.0\.reason"):
        validate(bad)
    bad = copy.deepcopy(data)
    bad["edge"]["response_headers"]["X-Frame-Options"] = "ALLOW-FROM https://x.test"
    with pytest.raises(ConfigError, match=r"edge\.response_headers\.X-Frame-Options: DENY or SAMEORIGIN"):
        validate(bad)
    bad = copy.deepcopy(data)
    bad["edge"]["static_response_headers"]["Cross-Origin-Opener-Policy"] = "same-origin"
    with pytest.raises(
        ConfigError, match=r"edge\.static_response_headers\.Cross-Origin-Opener-Policy: the app sets it"
    ):
        validate(bad)
    bad = copy.deepcopy(data)
    bad["edge"]["origin_lock"]["secret"] = "edge-origin"
    with pytest.raises(ConfigError, match=r"edge\.origin_lock\.secret: .*JSON key"):
        validate(bad)
    bad = copy.deepcopy(data)
    bad["edge"]["managed_rules"].append({"group": "AWSManagedRulesCommonRuleSet"})
    with pytest.raises(
        ConfigError, match=r"edge\.managed_rules\.2\.group: AWSManagedRulesCommonRuleSet is listed twice"
    ):
        validate(bad)


def test_every_rule_says_how_it_is_emulated(prod):
    said = emulation(prod)
    assert len(said) == len(RULES)
    assert said["AWSManagedRulesCommonRuleSet/SizeRestrictions_BODY"] == "exact"
    assert said["AWSManagedRulesCommonRuleSet/CrossSiteScripting_BODY"].startswith("approximate: ")
    assert said["AWSManagedRulesKnownBadInputsRuleSet/Host_localhost_HEADER"].startswith("not emulated: ")
    for r in RULES:
        assert (r.test is None) == (r.fidelity == "none") and (r.fidelity == "exact" or r.why), r.name


NODE_HARNESS = r"""
import { readFileSync } from 'node:fs';
const src = readFileSync(process.argv[2], 'utf8');
const mod = await import('data:text/javascript;base64,' + Buffer.from(src).toString('base64'));
const cases = JSON.parse(readFileSync(0, 'utf8'));
const out = {};
for (const [name, c] of Object.entries(cases)) {
  const headersIn = {};
  for (const [k, v] of Object.entries(c.headers)) headersIn[k] = v;
  const proxy = new Proxy(headersIn, { get: (t, k) => typeof k === 'string'
    ? t[Object.keys(t).find((h) => h.toLowerCase() === k.toLowerCase())] : t[k] });
  const r = {
    method: c.method, variables: { request_uri: c.target, waf_next: '@next' }, headersIn: proxy,
    requestBuffer: c.body ? Buffer.from(c.body, 'base64') : undefined, headersOut: {},
    warn() {}, return(status) { out[name] = status; }, internalRedirect(to) { out[name] = to; },
  };
  mod.default.screen(r);
}
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_the_edge_engine_decides_the_corpus_as_the_model_of_the_template(tmp_path):
    import base64

    local = load_stack(ROOT, "local")
    js = tmp_path / "waf.js"
    js.write_text(render_waf_js(local))
    harness = tmp_path / "harness.mjs"
    harness.write_text(NODE_HARNESS)
    cases = {n: {"method": r.method, "target": r.target, "headers": r.headers, "body": base64.b64encode(r.body).decode()}
             for n, r in CORPUS.items()}  # fmt: skip
    proc = subprocess.run(
        ["node", str(harness), str(js)], input=json.dumps(cases), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    engine = json.loads(proc.stdout)
    # the local template holds the same web ACL inline (the emulator's)
    rules = web_acl_of(render_template(local))
    model = {n: evaluate(rules, r) for n, r in CORPUS.items()}
    differ = {n: (engine[n], model[n].rule) for n in CORPUS if (engine[n] == 403) != (model[n].action == "block")}
    assert not differ
    assert sum(1 for v in engine.values() if v == 403) >= 15 and sum(1 for v in engine.values() if v == "@next") >= 8
