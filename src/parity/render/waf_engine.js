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

const POLICY = /*POLICY*/null;

// The patterns as literals: njs compiles a literal once, with the module (a `new RegExp`
// would be compiled again for every request, and what a request allocates lives as long as
// it does: an SSE stream, for minutes). The pattern rules of one component and decoding share
// a scan, one combined pattern: a request that matches none (nearly all) decodes each
// component once and runs one pattern per component; a hit is then tested rule by rule.
/*PATTERNS*/

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
  for (let j = 0; j < POLICY.scans.length; j++) {
    const scan = POLICY.scans[j];
    const value = component(r, req, scan.component);
    decoded.push(null);
    if (value === null || value.length === 0) continue;
    const text = typeof value === 'string' ? value : value.slice(0, POLICY.bodyInspectionLimit).toString();
    const d = decode(text, scan.decode);
    if (SCAN_RE[j].test(d)) decoded[j] = d;
  }
  for (let i = 0; i < POLICY.rules.length; i++) {
    const rule = POLICY.rules[i];
    if (rule.test.kind === 'regex') {
      if (decoded[rule.scan] === null || !RULE_RE[i].test(decoded[rule.scan])) continue;
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
