"""AWS WAF's managed rule groups that the spec may turn on: every rule AWS
documents in them (name, label, what it inspects) and, where the local edge
emulates it, the test it applies. One table, read by the spec (which rules an
override may name), the WAF renderer (labels for the scope-down rules), the
local edge's emulation (rendered into its njs policy) and the model of the
rendered web ACL that tests and ``inv parity`` compare the local edge with.

Source: AWS WAF Developer Guide, "Baseline rule groups" (Core rule set) and
"Known bad inputs managed rule group", latest static versions
(https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html).
AWS publishes what a rule inspects, its label and, for size rules, the
threshold; for pattern rules only example patterns. Hence three kinds:

- ``exact``: the documented condition (a missing header, a size threshold, a method);
- ``approximate``: the documented example patterns, as regular expressions;
  AWS's own detection (libinjection for XSS, unpublished signatures) finds
  more, so a request can pass locally and still be blocked in AWS;
- not emulated (``test`` None): ``why`` says why.

Inspection limits (CloudFront-scoped web ACL, default association config):
the first 16 KB of the body are inspected by pattern rules
(``BODY_INSPECTION_LIMIT``); size rules see the whole size.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMON = "AWSManagedRulesCommonRuleSet"
KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
LABEL_PREFIX = {COMMON: "awswaf:managed:aws:core-rule-set:", KNOWN_BAD_INPUTS: "awswaf:managed:aws:known-bad-inputs:"}
DOCS = "https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html"
BODY_INSPECTION_LIMIT = 16 * 1024  # CloudFront's default body inspection limit (AssociationConfig)
BLOCK_STATUS = 403  # a managed rule's Block without a custom response

# What a component looks like after AWS's usual transformations: URL-decoded,
# HTML entities decoded, lower case (both the local edge and the model apply them).
DECODED = ("url", "html", "lower")
XSS = (
    r"<\s*script\b|<\s*/\s*script\s*>|<\s*(iframe|frame|object|embed|applet|svg|math|base|form|meta)\b"
    r"|(java|vb)script\s*:|<[a-z!/][^>]*\son[a-z]+\s*=|\bsrcdoc\s*="
)
LFI = r"(^|[/\\])\.\.([/\\]|$)"
RFI = r"(https?|ftps?|file)://\d{1,3}(\.\d{1,3}){3}"
SSRF = r"169\.254\.169\.254"
LOG4J = r"\$\{\s*(jndi|lower|upper|env|sys|java|date|::-)"
JAVA_DESER = r"java\.lang\.(runtime|processbuilder)|rO0AB|\xac\xed\x00\x05"
RESTRICTED_EXT = r"\.(log|ini)$"


@dataclass(frozen=True)
class Test:
    """How the local edge decides that a rule matches.

    kind: ``missing`` (the component is absent), ``size_gt`` (its length in
    bytes exceeds ``size``), ``equals`` (it equals ``pattern``), ``regex``
    (``pattern`` is found in it after ``decode``)."""

    kind: str
    size: int = 0
    pattern: str = ""
    decode: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManagedRule:
    group: str
    name: str
    label_suffix: str
    component: str  # uri_path, query_string, query_args, body, cookie, header:<name>, method
    description: str
    fidelity: str  # exact, approximate, none
    test: Test | None = None
    why: str = ""  # why it is approximate or not emulated

    @property
    def label(self) -> str:
        return LABEL_PREFIX[self.group] + self.label_suffix


def _crs(
    name: str, label: str, component: str, description: str, test: Test | None, fidelity: str, why: str = ""
) -> ManagedRule:
    return ManagedRule(COMMON, name, label, component, description, fidelity, test, why)


def _kbi(
    name: str, label: str, component: str, description: str, test: Test | None, fidelity: str, why: str = ""
) -> ManagedRule:
    return ManagedRule(KNOWN_BAD_INPUTS, name, label, component, description, fidelity, test, why)


def _re(pattern: str) -> Test:
    return Test("regex", pattern=pattern, decode=DECODED)


SAMPLE = "the documented example patterns only; AWS's own signatures find more"
RULES: tuple[ManagedRule, ...] = (
    _crs(
        "NoUserAgent_HEADER",
        "NoUserAgent_Header",
        "header:user-agent",
        "requests without a User-Agent header",
        Test("missing"),
        "exact",
    ),
    _crs(
        "UserAgent_BadBots_HEADER",
        "BadBots_Header",
        "header:user-agent",
        "User-Agent values of known bad bots (e.g. nessus, nmap)",
        _re(r"nessus|nmap"),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "SizeRestrictions_QUERYSTRING",
        "SizeRestrictions_QueryString",
        "query_string",
        "a query string over 2,048 bytes",
        Test("size_gt", size=2048),
        "exact",
    ),
    _crs(
        "SizeRestrictions_Cookie_HEADER",
        "SizeRestrictions_Cookie_Header",
        "cookie",
        "a Cookie header over 10,240 bytes",
        Test("size_gt", size=10240),
        "exact",
    ),
    _crs(
        "SizeRestrictions_BODY",
        "SizeRestrictions_Body",
        "body",
        "a request body over 8 KB (8,192 bytes)",
        Test("size_gt", size=8192),
        "exact",
    ),
    _crs(
        "SizeRestrictions_URIPATH",
        "SizeRestrictions_URIPath",
        "uri_path",
        "a URI path over 1,024 bytes",
        Test("size_gt", size=1024),
        "exact",
    ),
    _crs(
        "EC2MetaDataSSRF_BODY",
        "EC2MetaDataSSRF_Body",
        "body",
        "attempts to reach the EC2 metadata service",
        _re(SSRF),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "EC2MetaDataSSRF_COOKIE",
        "EC2MetaDataSSRF_Cookie",
        "cookie",
        "attempts to reach the EC2 metadata service",
        _re(SSRF),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "EC2MetaDataSSRF_URIPATH",
        "EC2MetaDataSSRF_URIPath",
        "uri_path",
        "attempts to reach the EC2 metadata service",
        _re(SSRF),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "EC2MetaDataSSRF_QUERYARGUMENTS",
        "EC2MetaDataSSRF_QueryArguments",
        "query_args",
        "attempts to reach the EC2 metadata service",
        _re(SSRF),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "GenericLFI_QUERYARGUMENTS",
        "GenericLFI_QueryArguments",
        "query_args",
        "path traversal (../)",
        _re(LFI),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "GenericLFI_URIPATH", "GenericLFI_URIPath", "uri_path", "path traversal (../)", _re(LFI), "approximate", SAMPLE
    ),
    _crs("GenericLFI_BODY", "GenericLFI_Body", "body", "path traversal (../)", _re(LFI), "approximate", SAMPLE),
    _crs(
        "RestrictedExtensions_URIPATH",
        "RestrictedExtensions_URIPath",
        "uri_path",
        "system file extensions (e.g. .log, .ini)",
        _re(RESTRICTED_EXT),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "RestrictedExtensions_QUERYARGUMENTS",
        "RestrictedExtensions_QueryArguments",
        "query_args",
        "system file extensions (e.g. .log, .ini)",
        _re(RESTRICTED_EXT),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "GenericRFI_QUERYARGUMENTS",
        "GenericRFI_QueryArguments",
        "query_args",
        "URLs with an IPv4 host (remote file inclusion)",
        _re(RFI),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "GenericRFI_BODY",
        "GenericRFI_Body",
        "body",
        "URLs with an IPv4 host (remote file inclusion)",
        _re(RFI),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "GenericRFI_URIPATH",
        "GenericRFI_URIPath",
        "uri_path",
        "URLs with an IPv4 host (remote file inclusion)",
        _re(RFI),
        "approximate",
        SAMPLE,
    ),
    _crs(
        "CrossSiteScripting_COOKIE",
        "CrossSiteScripting_Cookie",
        "cookie",
        "cross-site scripting patterns",
        _re(XSS),
        "approximate",
        "script/iframe/object/embed/svg tags, javascript: URLs and on*= handlers in a tag; AWS's XSS detection finds more",
    ),
    _crs(
        "CrossSiteScripting_QUERYARGUMENTS",
        "CrossSiteScripting_QueryArguments",
        "query_args",
        "cross-site scripting patterns",
        _re(XSS),
        "approximate",
        "as CrossSiteScripting_COOKIE",
    ),
    _crs(
        "CrossSiteScripting_BODY",
        "CrossSiteScripting_Body",
        "body",
        "cross-site scripting patterns",
        _re(XSS),
        "approximate",
        "as CrossSiteScripting_COOKIE",
    ),
    _crs(
        "CrossSiteScripting_URIPATH",
        "CrossSiteScripting_URIPath",
        "uri_path",
        "cross-site scripting patterns",
        _re(XSS),
        "approximate",
        "as CrossSiteScripting_COOKIE",
    ),
    _kbi(
        "JavaDeserializationRCE_HEADER",
        "JavaDeserializationRCE_Header",
        "headers",
        "Java deserialization RCE attempts",
        _re(JAVA_DESER),
        "approximate",
        SAMPLE,
    ),
    _kbi(
        "JavaDeserializationRCE_BODY",
        "JavaDeserializationRCE_Body",
        "body",
        "Java deserialization RCE attempts",
        _re(JAVA_DESER),
        "approximate",
        SAMPLE,
    ),
    _kbi(
        "JavaDeserializationRCE_URIPATH",
        "JavaDeserializationRCE_URIPath",
        "uri_path",
        "Java deserialization RCE attempts",
        _re(JAVA_DESER),
        "approximate",
        SAMPLE,
    ),
    _kbi(
        "JavaDeserializationRCE_QUERYSTRING",
        "JavaDeserializationRCE_QueryString",
        "query_string",
        "Java deserialization RCE attempts",
        _re(JAVA_DESER),
        "approximate",
        SAMPLE,
    ),
    _kbi(
        "Host_localhost_HEADER",
        "Host_Localhost_Header",
        "header:host",
        "a Host header naming localhost",
        None,
        "none",
        "the local edge is reached as localhost or 127.0.0.1 by design; CloudFront routes by Host, so no browser sends it one",
    ),
    _kbi(
        "PROPFIND_METHOD",
        "Propfind_Method",
        "method",
        "the PROPFIND method",
        Test("equals", pattern="PROPFIND"),
        "exact",
    ),
    _kbi(
        "ExploitablePaths_URIPATH",
        "ExploitablePaths_URIPath",
        "uri_path",
        "exploitable application paths (e.g. /web-inf)",
        _re(r"/(web-inf|meta-inf|web-console|jmx-console|admin-console)\b"),
        "approximate",
        SAMPLE,
    ),
    _kbi(
        "Log4JRCE_HEADER",
        "Log4JRCE_Header",
        "headers",
        "Log4j lookups (${jndi:...})",
        _re(LOG4J),
        "approximate",
        SAMPLE,
    ),
    _kbi(
        "Log4JRCE_QUERYSTRING",
        "Log4JRCE_QueryString",
        "query_string",
        "Log4j lookups (${jndi:...})",
        _re(LOG4J),
        "approximate",
        SAMPLE,
    ),
    _kbi("Log4JRCE_BODY", "Log4JRCE_Body", "body", "Log4j lookups (${jndi:...})", _re(LOG4J), "approximate", SAMPLE),
    _kbi(
        "Log4JRCE_URIPATH",
        "Log4JRCE_URIPath",
        "uri_path",
        "Log4j lookups (${jndi:...})",
        _re(LOG4J),
        "approximate",
        SAMPLE,
    ),
    _kbi(
        "ReactJSRCE_BODY",
        "ReactJSRCE_Body",
        "body",
        "React Server Components RCE attempts",
        None,
        "none",
        "AWS publishes no example pattern for it",
    ),
)

GROUPS = (COMMON, KNOWN_BAD_INPUTS)


def rules_of(group: str) -> list[ManagedRule]:
    return [r for r in RULES if r.group == group]


def rule(group: str, name: str) -> ManagedRule | None:
    return next((r for r in RULES if r.group == group and r.name == name), None)
