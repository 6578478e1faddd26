"""WAF's managed rule groups from the spec, three ways, purely:

- ``web_acl_rules``: the web ACL's rules for CloudFormation: each group as a
  ``ManagedRuleGroupStatement`` whose overridden rules count
  (``RuleActionOverrides``), then, per overridden rule, a rule that blocks on
  its label unless the request's path is one of the override's paths (the
  scope-down AWS documents for "count on these paths only");
- ``render_waf_js``: the local edge's emulation, an njs module holding the
  same rules (the tests of ``spec/managed_rules.py``) and the same exempt
  paths, run before a request leaves the edge's CloudFront part;
- ``evaluate``: a model of how AWS evaluates a rendered web ACL for one
  request (managed rules, labels, the label-match and path statements the
  template uses), so tests and ``inv parity`` can say what the rendered WAF
  answers and compare the local edge with it.

Both the local edge and the model decide a managed rule with the same tests
(``spec/managed_rules.py``); rules without a test are not emulated, and
``emulation`` lists them with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity.spec.managed_rules import BLOCK_STATUS, BODY_INSPECTION_LIMIT, ManagedRule, Test, rule, rules_of
from parity.spec.models import Stack

ENGINE = Path(__file__).with_name("waf_engine.js")
POLICY_MARK = "/*POLICY*/null"
PATTERNS_MARK = "/*PATTERNS*/"


def _label_rule_name(group: str, name: str) -> str:
    return f"{name}-outside-exempt-paths"


def visibility(name: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


def _path_is(path: str) -> dict[str, Any]:
    return {
        "ByteMatchStatement": {
            "SearchString": path,
            "FieldToMatch": {"UriPath": {}},
            "PositionalConstraint": "EXACTLY",
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
        }
    }


def web_acl_rules(stack: Stack, first_priority: int = 0) -> list[dict[str, Any]]:
    """The managed groups of ``edge.managed_rules`` and their scope-down rules, in order."""
    out: list[dict[str, Any]] = []
    for group in stack.edge.managed_rules:
        statement: dict[str, Any] = {"VendorName": "AWS", "Name": group.group}
        if group.overrides:
            statement["RuleActionOverrides"] = [{"Name": o.rule, "ActionToUse": {"Count": {}}} for o in group.overrides]
        out.append({
            "Name": group.group,
            "Priority": first_priority + len(out),
            "OverrideAction": {"None": {}},
            "Statement": {"ManagedRuleGroupStatement": statement},
            "VisibilityConfig": visibility(group.group),
        })  # fmt: skip
        for o in group.overrides:
            managed = rule(group.group, o.rule)
            assert managed is not None  # the spec refuses an unknown rule
            exempt = [_path_is(p) for p in o.paths]
            name = _label_rule_name(group.group, o.rule)
            out.append({
                "Name": name,
                "Priority": first_priority + len(out),
                "Action": {"Block": {}},
                "Statement": {"AndStatement": {"Statements": [
                    {"LabelMatchStatement": {"Scope": "LABEL", "Key": managed.label}},
                    {"NotStatement": {"Statement": exempt[0] if len(exempt) == 1 else {"OrStatement": {"Statements": exempt}}}},
                ]}},
                "VisibilityConfig": visibility(name),
            })  # fmt: skip
    return out


# -- the local edge's emulation ----------------------------------------------------


def edge_policy(stack: Stack) -> dict[str, Any]:
    """What the local edge applies, in web ACL order: each emulated rule with
    its test and the paths where it only counts. The pattern rules of one
    component and decoding share a scan (``scans``, one combined pattern)."""
    rules, scans = [], []
    for group in stack.edge.managed_rules:
        counted = {o.rule: list(o.paths) for o in group.overrides}
        for r in rules_of(group.group):
            if r.test is None:
                continue
            rule = {
                "group": r.group, "name": r.name, "component": r.component,
                "test": {"kind": r.test.kind, "size": r.test.size, "pattern": r.test.pattern, "decode": list(r.test.decode)},
                "countOn": counted.get(r.name, []),
            }  # fmt: skip
            if r.test.kind == "regex":
                scan = {"component": r.component, "decode": list(r.test.decode)}
                if scan not in scans:
                    scans.append(scan)
                rule["scan"] = scans.index(scan)
            rules.append(rule)
    for i, scan in enumerate(scans):
        scan["pattern"] = "|".join(f"(?:{r['test']['pattern']})" for r in rules if r.get("scan") == i)
    return {"status": BLOCK_STATUS, "bodyInspectionLimit": BODY_INSPECTION_LIMIT, "scans": scans, "rules": rules}


def _literal(pattern: str) -> str:
    """A JavaScript regular expression literal: njs compiles it once, with the
    module (``new RegExp`` would compile it again for every request)."""
    return "/" + re.sub(r"(\\.)|/", lambda m: m.group(1) or "\\/", pattern) + "/i"


def render_waf_js(stack: Stack) -> str:
    """The njs module the local edge imports (``compose/edge/waf.js``)."""
    engine = ENGINE.read_text()
    if POLICY_MARK not in engine or PATTERNS_MARK not in engine:
        raise ValueError(f"{ENGINE.name} lacks its placeholders")  # a packaging bug
    policy = edge_policy(stack)
    rules = ",\n".join("    " + json.dumps(r, sort_keys=True) for r in policy["rules"])
    head = {k: v for k, v in policy.items() if k != "rules"}
    text = json.dumps(head, sort_keys=True)[:-1] + ', "rules": [\n' + rules + "\n  ]}"
    patterns = (
        "const SCAN_RE = [\n" + "".join(f"  {_literal(s['pattern'])},\n" for s in policy["scans"]) + "];\n"
        "const RULE_RE = [\n" + "".join(f"  {_literal(r['test']['pattern']) if r.get('scan') is not None else 'null'},\n"
                                         for r in policy["rules"]) + "];"
    )  # fmt: skip
    header = "// Rendered from stack.yaml by `inv render-local`. Do not edit: a test fails when it is stale.\n"
    return header + engine.replace(POLICY_MARK, text).replace(PATTERNS_MARK, patterns)


def emulation(stack: Stack) -> dict[str, str]:
    """Every rule of the spec's groups -> how the local edge treats it:
    ``exact``, ``approximate: why`` or ``not emulated: why``."""
    out = {}
    for group in stack.edge.managed_rules:
        for r in rules_of(group.group):
            if r.fidelity == "none":
                out[f"{r.group}/{r.name}"] = f"not emulated: {r.why}"
            else:
                out[f"{r.group}/{r.name}"] = r.fidelity + (f": {r.why}" if r.why else "")
    return out


# -- what a rule sees, and whether it matches (the same semantics as waf_engine.js) --------


@dataclass
class Request:
    method: str
    target: str  # the raw request target: path and query, as sent
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_ENTITY = re.compile(r"&(lt|gt|quot|amp|apos|nbsp);|&#([0-9]{1,7});|&#[xX]([0-9A-Fa-f]{1,6});")
_NAMED = {"lt": "<", "gt": ">", "quot": '"', "amp": "&", "apos": "'", "nbsp": "\u00a0"}


def _entity(m: re.Match[str]) -> str:
    # the same small set waf_engine.js decodes (html.unescape knows more, and forms without ';')
    name, dec, hexa = m.groups()
    return _NAMED[name] if name else chr(min(int(dec, 10) if dec else int(hexa, 16), 0x10FFFF))


def _decode(text: str, steps: tuple[str, ...] | list[str]) -> str:
    for step in steps:
        if step == "url":
            text = _PCT.sub(lambda m: chr(int(m.group(1), 16)), text)
        elif step == "html":
            text = _ENTITY.sub(_entity, text)
        elif step == "lower":
            text = text.lower()
    return text


def component(request: Request, name: str) -> str | bytes | None:
    if name == "uri_path":
        return request.path
    if name in ("query_string", "query_args"):
        return request.query
    if name == "body":
        return request.body
    if name == "cookie":
        return request.header("cookie") or ""
    if name == "headers":
        return "\n".join(request.headers.values())
    if name == "method":
        return request.method
    if name.startswith("header:"):
        return request.header(name.split(":", 1)[1])
    raise ValueError(f"unknown component {name}")


def matches(test: Test, value: str | bytes | None) -> bool:
    if test.kind == "missing":
        return value is None
    if value is None:
        return False
    if test.kind == "size_gt":
        return len(value.encode("latin-1") if isinstance(value, str) else value) > test.size
    if isinstance(value, bytes):  # a body: the inspected part only
        value = value[:BODY_INSPECTION_LIMIT].decode("latin-1")
    if test.kind == "equals":
        return value == test.pattern
    if test.kind == "regex":
        return re.search(test.pattern, _decode(value, test.decode), re.IGNORECASE) is not None
    raise ValueError(f"unknown test {test.kind}")


def managed_match(r: ManagedRule, request: Request) -> bool:
    return r.test is not None and matches(r.test, component(request, r.component))


# -- the model of a rendered web ACL ----------------------------------------------------


@dataclass
class Verdict:
    action: str  # block or allow
    status: int | None  # the answer when blocked
    rule: str  # the web ACL rule (and managed rule) that decided
    labels: list[str] = field(default_factory=list)


def _statement(stmt: dict[str, Any], request: Request, labels: list[str]) -> bool:
    if "AndStatement" in stmt:
        return all(_statement(s, request, labels) for s in stmt["AndStatement"]["Statements"])
    if "OrStatement" in stmt:
        return any(_statement(s, request, labels) for s in stmt["OrStatement"]["Statements"])
    if "NotStatement" in stmt:
        return not _statement(stmt["NotStatement"]["Statement"], request, labels)
    if "LabelMatchStatement" in stmt:
        return stmt["LabelMatchStatement"]["Key"] in labels
    if "ByteMatchStatement" in stmt:
        b = stmt["ByteMatchStatement"]
        if "UriPath" not in b["FieldToMatch"]:
            raise ValueError(f"the model reads UriPath only, not {b['FieldToMatch']}")
        value = request.path
        for t in sorted(b.get("TextTransformations", []), key=lambda t: t["Priority"]):
            value = {"NONE": value, "LOWERCASE": value.lower()}[t["Type"]]
        want, how = b["SearchString"], b["PositionalConstraint"]
        return {"EXACTLY": value == want, "STARTS_WITH": value.startswith(want), "CONTAINS": want in value}[how]
    # rate-based and IP-set statements depend on who asks how often: outside this model
    return False


def evaluate(rules: list[dict[str, Any]], request: Request) -> Verdict:
    """What the web ACL with ``rules`` does with ``request`` (default action Allow)."""
    labels: list[str] = []
    for acl_rule in sorted(rules, key=lambda r: r["Priority"]):
        stmt = acl_rule["Statement"]
        if "ManagedRuleGroupStatement" in stmt:
            group = stmt["ManagedRuleGroupStatement"]
            counted = {o["Name"] for o in group.get("RuleActionOverrides", []) if "Count" in o["ActionToUse"]}
            for r in rules_of(group["Name"]):
                if managed_match(r, request):
                    labels.append(r.label)
                    if r.name not in counted:
                        return Verdict("block", BLOCK_STATUS, f"{acl_rule['Name']}/{r.name}", labels)
            continue
        if _statement(stmt, request, labels):
            action = acl_rule.get("Action", {})
            if "Block" in action:
                response = action["Block"].get("CustomResponse", {})
                return Verdict("block", response.get("ResponseCode", BLOCK_STATUS), acl_rule["Name"], labels)
            if "Allow" in action:
                return Verdict("allow", None, acl_rule["Name"], labels)
    return Verdict("allow", None, "default", labels)


def web_acl_of(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules of the template's web ACL (empty when it has none)."""
    for res in (template.get("Resources") or {}).values():
        if res.get("Type") == "AWS::WAFv2::WebACL":
            return list((res.get("Properties") or {}).get("Rules") or [])
    return []
