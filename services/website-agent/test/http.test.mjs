// Pages, static assets and security headers (plan 5.1).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testDatabase } from './helpers/postgres.mjs';
import { SERVICE_DIR, startServer } from './helpers/server.mjs';

/** Raw GET with explicit headers (fetch would add and undo gzip by itself). */
function rawGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

describe('pages, assets and headers', () => {
  let server;
  const manifest = JSON.parse(readFileSync(path.join(SERVICE_DIR, 'build', 'manifest.json'), 'utf8'));

  before(async () => {
    const dbUrl = await testDatabase();
    server = await startServer({ DATABASE_URL: dbUrl });
  });
  after(() => server?.stop());

  test('GET / is server-rendered HTML with isolation headers and no caching', async () => {
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'strict-origin-when-cross-origin');
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.match(res.headers.get('cache-control'), /no-store|private, no-cache/);
    const html = await res.text();
    for (const id of ['coi-status', 'sab-status', 'crawl-form', 'crawl-url', 'crawl-submit', 'crawl-result', 'stream-seconds', 'stream-start', 'stream-log', 'stream-status']) {
      assert.match(html, new RegExp(`id="${id}"`), `missing #${id}`);
    }
    // Same-origin, content-hashed assets (COEP require-corp allows same-origin only by default).
    assert.match(manifest.js, /^\/assets\/app-[A-Z0-9]+\.js$/);
    assert.match(manifest.css, /^\/assets\/app-[A-Z0-9]+\.css$/);
    assert.ok(html.includes(`src="${manifest.js}"`));
    assert.ok(html.includes(`href="${manifest.css}"`));
  });

  test('hashed assets are immutable for a year, with isolation headers', async () => {
    for (const asset of [manifest.js, manifest.css]) {
      const res = await fetch(`${server.url}${asset}`);
      assert.equal(res.status, 200, asset);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.ok((await res.text()).length > 100);
    }
    assert.match((await fetch(`${server.url}${manifest.js}`)).headers.get('content-type'), /javascript/);
    assert.match((await fetch(`${server.url}${manifest.css}`)).headers.get('content-type'), /text\/css/);
  });

  test('other static files are cached for an hour', async () => {
    const icon = await fetch(`${server.url}/favicon.svg`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get('cache-control'), 'public, max-age=3600');
    assert.match(icon.headers.get('content-type'), /image\/svg\+xml/);
    const robots = await fetch(`${server.url}/robots.txt`);
    assert.equal(robots.status, 200);
    assert.equal(robots.headers.get('cache-control'), 'public, max-age=3600');
  });

  test('missing asset is 404', async () => {
    const res = await fetch(`${server.url}/assets/app-NOPE.js`);
    assert.equal(res.status, 404);
    assert.notEqual(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  });

  test('preview pages go without COEP/COOP but keep the other headers', async () => {
    for (const p of ['/webcontainer/vercel-preview', '/webcontainer/vercel-preview/', '/webcontainer/vercel-preview/app/index.html']) {
      const res = await fetch(`${server.url}${p}`);
      assert.equal(res.status, 200, p);
      assert.match(res.headers.get('content-type'), /^text\/html/);
      assert.equal(res.headers.get('cross-origin-embedder-policy'), null, p);
      assert.equal(res.headers.get('cross-origin-opener-policy'), null, p);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('referrer-policy'), 'strict-origin-when-cross-origin');
    }
    // A look-alike prefix is not a preview path.
    const other = await fetch(`${server.url}/webcontainer/vercel-previewer`);
    assert.equal(other.headers.get('cross-origin-embedder-policy'), 'require-corp');
  });

  test('GET /healthz answers ok with an ISO timestamp', async () => {
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, 'ok');
    assert.equal(new Date(body.timestamp).toISOString(), body.timestamp);
  });

  test('HTML is gzip-compressed when asked for', async () => {
    const res = await rawGet(`${server.url}/`, { 'accept-encoding': 'gzip' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.match(res.headers.vary ?? '', /accept-encoding/i);
  });

  test('unknown /api paths and bad bodies get JSON errors', async () => {
    const missing = await fetch(`${server.url}/api/nope`);
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type'), /application\/json/);
    assert.equal((await missing.json()).error, 'not_found');

    const wrongMethod = await fetch(`${server.url}/api/crawl`);
    assert.equal(wrongMethod.status, 404);
    assert.ok((await wrongMethod.json()).error);

    const malformed = await fetch(`${server.url}/api/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email": "a@b.c", ',
    });
    assert.equal(malformed.status, 400);
    assert.deepEqual(Object.keys(await malformed.json()).sort(), ['error', 'message']);

    const malformedCrawl = await fetch(`${server.url}/api/crawl`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'nope' });
    assert.equal(malformedCrawl.status, 400);
    assert.equal((await malformedCrawl.json()).error, 'invalid_json');

    const huge = await fetch(`${server.url}/api/crawl`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://x.test/' + 'a'.repeat(40_000) }),
    });
    assert.equal(huge.status, 413);
    assert.equal((await huge.json()).error, 'payload_too_large');
  });

  test('unknown pages are a 404 HTML page', async () => {
    const res = await fetch(`${server.url}/no/such/page`);
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type'), /^text\/html/);
  });

  test('access log has method, path and status but no query string or cookies', async () => {
    await fetch(`${server.url}/robots.txt?token=very-secret-token`, { headers: { cookie: 'session=cookie-value-xyz' } });
    await new Promise((r) => setTimeout(r, 100));
    const out = server.output();
    assert.match(out, /"GET \/robots\.txt HTTP\/1\.1" 200/);
    assert.ok(!out.includes('very-secret-token'));
    assert.ok(!out.includes('cookie-value-xyz'));
  });

  test('the module worker is a hashed, immutable asset; the page names it', async () => {
    assert.match(manifest.worker, /^\/assets\/worker-[A-Z0-9]+\.js$/);
    const res = await fetch(`${server.url}${manifest.worker}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.match(res.headers.get('content-type'), /javascript/);
    assert.ok((await (await fetch(`${server.url}/`)).text()).includes(`<meta name="worker" content="${manifest.worker}">`));
  });

  test('absolute URLs come from PUBLIC_URL, never from the Host a request names', async () => {
    const page = await (await fetch(`${server.url}/`, { headers: { 'x-forwarded-host': 'evil.example' } })).text();
    assert.ok(!page.includes('rel="canonical"'), 'no PUBLIC_URL: no absolute URL');
    assert.ok(!page.includes('evil.example'));
    const dbUrl = await testDatabase();
    const other = await startServer({ DATABASE_URL: dbUrl, PUBLIC_URL: 'https://app.huskit.test' });
    try {
      const res = await rawGet(`${other.url}/`, { host: 'evil.example', 'x-forwarded-host': 'evil.example' });
      const html = res.body.toString();
      assert.ok(html.includes('<link rel="canonical" href="https://app.huskit.test/">'));
      assert.ok(!html.includes('evil.example'));
    } finally {
      await other.stop();
    }
  });

  test('the access log shows the Host and X-Forwarded-Host the edge handed over', async () => {
    await fetch(`${server.url}/no-such-page-for-host-log`, { headers: { 'x-forwarded-host': 'public.example:8080' } });
    await new Promise((r) => setTimeout(r, 100));
    const line = server.output().split('\n').find((l) => l.includes('/no-such-page-for-host-log'));
    assert.match(line, /host=127\.0\.0\.1:\d+ forwarded-host=public\.example:8080$/);
  });

  test('the client address is the one CloudFront saw, whatever the client wrote into X-Forwarded-For', async () => {
    // viewer-written entry, then what CloudFront appends (the viewer), then what the ALB appends (CloudFront)
    const xff = '6.6.6.6, 203.0.113.7, 198.51.100.1';
    await fetch(`${server.url}/robots.txt?probe=xff`, { headers: { 'x-forwarded-for': xff } });
    await new Promise((r) => setTimeout(r, 100));
    const line = server.output().split('\n').find((l) => l.includes('/robots.txt') && l.startsWith('203.0.113.7 '));
    assert.ok(line, `no access log line from 203.0.113.7:\n${server.output().slice(-600)}`);
    assert.ok(!server.output().split('\n').some((l) => l.startsWith('6.6.6.6 ')), 'a client-written address was trusted');
  });
});
