// Rendered from stack.yaml by `inv render-local`. Do not edit: a test fails when it is stale.
// The local edge's WAF: AWS's managed rules, as far as they are emulated
// (src/parity/spec/managed_rules.py), applied in the web ACL's order before a
// request leaves the edge's CloudFront part. A rule that matches blocks with
// WAF's default 403, unless the spec counts it on this exact path (its
// override). The semantics match parity.render.waf (the model of the
// rendered web ACL): same components, decoding and tests.
//
// njs is not a full ES6 engine (no for...of): plain index loops only.
//
// Usage (nginx): js_import waf from /etc/nginx/waf.js; then in a location
//   set $waf_next @the_origin; js_content waf.screen;

const POLICY = {"bodyInspectionLimit": 16384, "status": 403, "rules": [
    {"component": "header:user-agent", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "NoUserAgent_HEADER", "test": {"decode": [], "kind": "missing", "pattern": "", "size": 0}},
    {"component": "header:user-agent", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "UserAgent_BadBots_HEADER", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "nessus|nmap", "size": 0}},
    {"component": "query_string", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "SizeRestrictions_QUERYSTRING", "test": {"decode": [], "kind": "size_gt", "pattern": "", "size": 2048}},
    {"component": "cookie", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "SizeRestrictions_Cookie_HEADER", "test": {"decode": [], "kind": "size_gt", "pattern": "", "size": 10240}},
    {"component": "body", "countOn": ["/api/chat"], "group": "AWSManagedRulesCommonRuleSet", "name": "SizeRestrictions_BODY", "test": {"decode": [], "kind": "size_gt", "pattern": "", "size": 8192}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "SizeRestrictions_URIPATH", "test": {"decode": [], "kind": "size_gt", "pattern": "", "size": 1024}},
    {"component": "body", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "EC2MetaDataSSRF_BODY", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "169\\.254\\.169\\.254", "size": 0}},
    {"component": "cookie", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "EC2MetaDataSSRF_COOKIE", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "169\\.254\\.169\\.254", "size": 0}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "EC2MetaDataSSRF_URIPATH", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "169\\.254\\.169\\.254", "size": 0}},
    {"component": "query_args", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "EC2MetaDataSSRF_QUERYARGUMENTS", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "169\\.254\\.169\\.254", "size": 0}},
    {"component": "query_args", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "GenericLFI_QUERYARGUMENTS", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "(^|[/\\\\])\\.\\.([/\\\\]|$)", "size": 0}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "GenericLFI_URIPATH", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "(^|[/\\\\])\\.\\.([/\\\\]|$)", "size": 0}},
    {"component": "body", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "GenericLFI_BODY", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "(^|[/\\\\])\\.\\.([/\\\\]|$)", "size": 0}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "RestrictedExtensions_URIPATH", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "\\.(log|ini)$", "size": 0}},
    {"component": "query_args", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "RestrictedExtensions_QUERYARGUMENTS", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "\\.(log|ini)$", "size": 0}},
    {"component": "query_args", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "GenericRFI_QUERYARGUMENTS", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "(https?|ftps?|file)://\\d{1,3}(\\.\\d{1,3}){3}", "size": 0}},
    {"component": "body", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "GenericRFI_BODY", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "(https?|ftps?|file)://\\d{1,3}(\\.\\d{1,3}){3}", "size": 0}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "GenericRFI_URIPATH", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "(https?|ftps?|file)://\\d{1,3}(\\.\\d{1,3}){3}", "size": 0}},
    {"component": "cookie", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "CrossSiteScripting_COOKIE", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "<\\s*script\\b|<\\s*/\\s*script\\s*>|<\\s*(iframe|frame|object|embed|applet|svg|math|base|form|meta)\\b|(java|vb)script\\s*:|<[a-z!/][^>]*\\son[a-z]+\\s*=|\\bsrcdoc\\s*=", "size": 0}},
    {"component": "query_args", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "CrossSiteScripting_QUERYARGUMENTS", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "<\\s*script\\b|<\\s*/\\s*script\\s*>|<\\s*(iframe|frame|object|embed|applet|svg|math|base|form|meta)\\b|(java|vb)script\\s*:|<[a-z!/][^>]*\\son[a-z]+\\s*=|\\bsrcdoc\\s*=", "size": 0}},
    {"component": "body", "countOn": ["/api/chat"], "group": "AWSManagedRulesCommonRuleSet", "name": "CrossSiteScripting_BODY", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "<\\s*script\\b|<\\s*/\\s*script\\s*>|<\\s*(iframe|frame|object|embed|applet|svg|math|base|form|meta)\\b|(java|vb)script\\s*:|<[a-z!/][^>]*\\son[a-z]+\\s*=|\\bsrcdoc\\s*=", "size": 0}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesCommonRuleSet", "name": "CrossSiteScripting_URIPATH", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "<\\s*script\\b|<\\s*/\\s*script\\s*>|<\\s*(iframe|frame|object|embed|applet|svg|math|base|form|meta)\\b|(java|vb)script\\s*:|<[a-z!/][^>]*\\son[a-z]+\\s*=|\\bsrcdoc\\s*=", "size": 0}},
    {"component": "headers", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "JavaDeserializationRCE_HEADER", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "java\\.lang\\.(runtime|processbuilder)|rO0AB|\\xac\\xed\\x00\\x05", "size": 0}},
    {"component": "body", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "JavaDeserializationRCE_BODY", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "java\\.lang\\.(runtime|processbuilder)|rO0AB|\\xac\\xed\\x00\\x05", "size": 0}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "JavaDeserializationRCE_URIPATH", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "java\\.lang\\.(runtime|processbuilder)|rO0AB|\\xac\\xed\\x00\\x05", "size": 0}},
    {"component": "query_string", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "JavaDeserializationRCE_QUERYSTRING", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "java\\.lang\\.(runtime|processbuilder)|rO0AB|\\xac\\xed\\x00\\x05", "size": 0}},
    {"component": "method", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "PROPFIND_METHOD", "test": {"decode": [], "kind": "equals", "pattern": "PROPFIND", "size": 0}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "ExploitablePaths_URIPATH", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "/(web-inf|meta-inf|web-console|jmx-console|admin-console)\\b", "size": 0}},
    {"component": "headers", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "Log4JRCE_HEADER", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "\\$\\{\\s*(jndi|lower|upper|env|sys|java|date|::-)", "size": 0}},
    {"component": "query_string", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "Log4JRCE_QUERYSTRING", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "\\$\\{\\s*(jndi|lower|upper|env|sys|java|date|::-)", "size": 0}},
    {"component": "body", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "Log4JRCE_BODY", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "\\$\\{\\s*(jndi|lower|upper|env|sys|java|date|::-)", "size": 0}},
    {"component": "uri_path", "countOn": [], "group": "AWSManagedRulesKnownBadInputsRuleSet", "name": "Log4JRCE_URIPATH", "test": {"decode": ["url", "html", "lower"], "kind": "regex", "pattern": "\\$\\{\\s*(jndi|lower|upper|env|sys|java|date|::-)", "size": 0}}
  ]};

// Compiled once, when nginx loads the module (whatever a request allocates lives as long as
// it does: an SSE stream, for minutes). The pattern rules of one component and decoding share
// one combined pattern: a request that matches none (nearly all) decodes each component once
// and runs one pattern per component; only a hit is then tested rule by rule, in order.
const SCANS = [];
for (let i = 0; i < POLICY.rules.length; i++) {
  const rule = POLICY.rules[i];
  if (rule.test.kind !== 'regex') continue;
  rule.test.re = new RegExp(rule.test.pattern, 'i');
  const key = rule.component + '|' + rule.test.decode.join(',');
  let scan = null;
  for (let j = 0; j < SCANS.length; j++) if (SCANS[j].key === key) scan = SCANS[j];
  if (scan === null) {
    scan = { key: key, component: rule.component, decode: rule.test.decode, patterns: [] };
    SCANS.push(scan);
  }
  scan.patterns.push('(?:' + rule.test.pattern + ')');
  rule.scan = SCANS.indexOf(scan);
}
for (let j = 0; j < SCANS.length; j++) SCANS[j].re = new RegExp(SCANS[j].patterns.join('|'), 'i');

function decode(text, steps) {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    if (step === 'url') {
      text = text.replace(/%([0-9A-Fa-f]{2})/g, (m, h) => String.fromCharCode(parseInt(h, 16)));
    } else if (step === 'html') {
      text = text.replace(/&(lt|gt|quot|amp|apos|nbsp);|&#([0-9]{1,7});|&#[xX]([0-9A-Fa-f]{1,6});/g, (m, name, dec, hex) => {
        if (name) return { lt: '<', gt: '>', quot: '"', amp: '&', apos: "'", nbsp: '\u00a0' }[name];
        return String.fromCodePoint(Math.min(dec ? parseInt(dec, 10) : parseInt(hex, 16), 0x10ffff));
      });
    } else if (step === 'lower') {
      text = text.toLowerCase();
    }
  }
  return text;
}

function header(r, name) {
  const v = r.headersIn[name];
  return v === undefined ? null : String(v);
}

function component(r, req, name) {
  if (name === 'uri_path') return req.path;
  if (name === 'query_string' || name === 'query_args') return req.query;
  if (name === 'body') return req.body;
  if (name === 'cookie') return header(r, 'Cookie') || '';
  if (name === 'method') return r.method;
  if (name === 'headers') {
    const values = [];
    for (const h in r.headersIn) values.push(String(r.headersIn[h]));
    return values.join('\n');
  }
  if (name.startsWith('header:')) return header(r, name.slice(7));
  throw new Error('unknown component ' + name);
}

function matches(test, value) {
  if (test.kind === 'missing') return value === null;
  if (value === null) return false;
  const isBody = typeof value !== 'string';
  if (test.kind === 'size_gt') return value.length > test.size;
  const text = isBody ? value.slice(0, POLICY.bodyInspectionLimit).toString() : value;
  if (test.kind === 'equals') return text === test.pattern;
  throw new Error('unknown test ' + test.kind);
}

// The body as read (a copy). njs hands a POST without a body as a detached buffer, which
// throws when touched: that is an empty body.
function requestBody(r) {
  try {
    const body = r.requestBuffer;
    return body ? Buffer.from(body) : Buffer.from('');
  } catch (e) {
    return Buffer.from('');
  }
}

function screen(r) {
  const target = r.variables.request_uri;
  const q = target.indexOf('?');
  const req = {
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    body: requestBody(r),
  };
  const decoded = [];
  for (let j = 0; j < SCANS.length; j++) {
    const value = component(r, req, SCANS[j].component);
    decoded.push(null);
    if (value === null || value.length === 0) continue;
    const text = typeof value === 'string' ? value : value.slice(0, POLICY.bodyInspectionLimit).toString();
    const d = decode(text, SCANS[j].decode);
    if (SCANS[j].re.test(d)) decoded[j] = d;
  }
  for (let i = 0; i < POLICY.rules.length; i++) {
    const rule = POLICY.rules[i];
    if (rule.test.kind === 'regex') {
      if (decoded[rule.scan] === null || !rule.test.re.test(decoded[rule.scan])) continue;
    } else if (!matches(rule.test, component(r, req, rule.component))) {
      continue;
    }
    if (rule.countOn.indexOf(req.path) >= 0) continue; // counted (labelled) only on this path
    r.warn(`waf: ${rule.group}/${rule.name} blocks ${r.method} ${req.path.slice(0, 200)}`);
    r.headersOut['Content-Type'] = 'text/plain';
    r.return(POLICY.status, 'Forbidden\n');
    return;
  }
  r.internalRedirect(r.variables.waf_next);
}

export default { screen };
