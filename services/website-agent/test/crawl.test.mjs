// POST /api/crawl and GET /api/crawler/health against a real HTTP crawler stand-in.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCrawler } from './helpers/crawler.mjs';
import { freePort } from './helpers/net.mjs';
import { query, testDatabase } from './helpers/postgres.mjs';
import { loginSession, startServer, waitFor, waitForDbReady } from './helpers/server.mjs';

const DOCUMENT_FIELDS = ['crawled_at', 'description', 'final_url', 'id', 'links', 'status', 'text', 'text_truncated', 'title', 'url'];

const crawl = (server, body, cookie = server.cookie) =>
  fetch(`${server.url}/api/crawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
  });

/** A running server with a logged-in session (server.cookie). */
async function withSession(server) {
  await waitForDbReady(server.url);
  server.cookie = await loginSession(server.url);
  return server;
}

async function expectError(res, status, code) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const body = await res.json();
  if (code) assert.equal(body.error, code);
  assert.equal(typeof body.message, 'string');
  return body;
}

describe('crawler proxy', () => {
  let dbUrl;
  let crawler;
  let server;

  before(async () => {
    dbUrl = await testDatabase();
    crawler = await startCrawler({ slowMs: 3_000 });
    server = await withSession(
      await startServer({
        DATABASE_URL: dbUrl,
        CRAWLER_API_URL: `${crawler.url}/`,
        CRAWLER_TIMEOUT_MS: '400',
        CRAWLER_HEALTH_TIMEOUT_MS: '400',
      }),
    );
  });
  after(async () => {
    await server?.stop();
    await crawler?.close();
  });

  test('without a logged-in session crawling is 401 and never reaches the crawler', async () => {
    const before = crawler.requests.length;
    await expectError(await crawl(server, { url: 'https://example.test/ok' }, null), 401, 'unauthenticated');
    await expectError(await crawl(server, { url: 'https://example.test/ok' }, 'session=forged.c2lnbmF0dXJl'), 401, 'unauthenticated');
    // Express matches paths case-insensitively: so must the guard
    const upper = await fetch(`${server.url}/API/CRAWL`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://example.test/ok' }),
    });
    await expectError(upper, 401, 'unauthenticated');
    assert.equal(crawler.requests.length, before);
  });

  test('success returns the crawl document, and the crawler learns whose crawl it is', async () => {
    const res = await crawl(server, { url: 'https://example.test/ok' });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.title, 'Stand-in <Page> & Title');
    assert.equal(body.links.length, 3);
    assert.deepEqual(Object.keys(body).sort(), DOCUMENT_FIELDS);
    const sent = crawler.requests.find((r) => r.url === '/crawl' && r.body.includes('/ok'));
    assert.equal(sent.method, 'POST');
    assert.match(sent.headers['content-type'], /application\/json/);
    assert.deepEqual(JSON.parse(sent.body), { url: 'https://example.test/ok' });
    const { email } = await (await fetch(`${server.url}/api/auth/me`, { headers: { cookie: server.cookie } })).json();
    const [user] = await query(dbUrl, 'SELECT id FROM users WHERE email = $1', [email]);
    assert.equal(sent.headers['x-crawl-user'], String(user.id));
  });

  test('what it reads from the crawler is capped: a 6 MB answer is refused, not read on', async () => {
    for (const path of ['/huge', '/huge-chunked']) {
      const body = await expectError(await crawl(server, { url: `https://example.test${path}` }), 502, 'crawler_bad_response');
      assert.match(body.message, /larger than 524288 bytes/);
    }
    // the chunked one was cut off well before its 6.4 MB were sent
    await waitFor(() => crawler.state.hugeClosedAt !== undefined, { what: 'the crawler connection closed' });
    assert.ok(crawler.state.hugeClosedAt < 50, `${crawler.state.hugeClosedAt} chunks of 64 kB sent`);
  });

  test('only the documented fields, of their types and within their caps, reach the browser', async () => {
    const res = await crawl(server, { url: 'https://example.test/odd' });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), DOCUMENT_FIELDS);
    assert.equal(body.title.length, 1000);
    assert.equal(body.description, null);
    assert.equal(body.text, '');
    assert.equal(body.text_truncated, false);
    assert.deepEqual(body.links, [{ url: 'https://example.test/ok', text: 'z'.repeat(500) }]);
  });

  test("the crawler's per-user 429 reaches the user as it is", async () => {
    const body = await expectError(await crawl(server, { url: 'https://example.test/busy' }), 429, 'too_many_crawls');
    assert.match(body.message, /already has 2 crawls/);
  });

  test('crawler 4xx passes status and error through', async () => {
    const rejected = await expectError(await crawl(server, { url: 'https://example.test/reject' }), 422, 'crawler_rejected');
    assert.match(rejected.message, /robots\.txt/);
    const missing = await expectError(await crawl(server, { url: 'https://example.test/notfound' }), 404, 'page_not_found');
    assert.equal(missing.message, 'The page answered 404');
  });

  test('crawler 5xx becomes 502 without leaking its body', async () => {
    const body = await expectError(await crawl(server, { url: 'https://example.test/boom' }), 502, 'crawler_failed');
    assert.doesNotMatch(body.message, /stack trace/);
  });

  test('a non-JSON success from the crawler is 502', async () => {
    await expectError(await crawl(server, { url: 'https://example.test/text' }), 502, 'crawler_bad_response');
  });

  test('a slow crawler is cut off with 504 within the timeout', async () => {
    const started = Date.now();
    await expectError(await crawl(server, { url: 'https://example.test/slow' }), 504, 'crawler_timeout');
    const took = Date.now() - started;
    assert.ok(took >= 350 && took < 1500, `took ${took} ms with a 400 ms timeout`);
  });

  test('only absolute http(s) URLs are accepted', async () => {
    for (const url of ['ftp://example.test/file', 'javascript:alert(1)', 'file:///etc/passwd', 'not a url', '/relative', '', 42, null]) {
      await expectError(await crawl(server, { url }), 400, 'invalid_url');
    }
    await expectError(await crawl(server, {}), 400, 'invalid_url');
    const before = crawler.requests.length;
    await crawl(server, { url: 'data:text/html,hi' });
    assert.equal(crawler.requests.length, before, 'rejected URLs must not reach the crawler');
  });

  test('crawler health passes the crawler body through', async () => {
    const res = await fetch(`${server.url}/api/crawler/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', crawler: { status: 'ok', service: 'crawler-stand-in' } });
  });

  test('a live crawler that is not ready (MongoDB away) is 503 crawler_not_ready', async () => {
    crawler.state.health = 'not-ready';
    const body = await expectError(await fetch(`${server.url}/api/crawler/health`), 503, 'crawler_not_ready');
    assert.match(body.message, /mongodb: unreachable/);
    crawler.state.health = 'ok';
  });

  test('unhealthy and slow crawler health are 503 and 504', async () => {
    crawler.state.health = 'broken';
    await expectError(await fetch(`${server.url}/api/crawler/health`), 503, 'crawler_unhealthy');
    crawler.state.health = 'slow';
    const started = Date.now();
    await expectError(await fetch(`${server.url}/api/crawler/health`), 504, 'crawler_timeout');
    assert.ok(Date.now() - started < 1500);
    crawler.state.health = 'ok';
  });
});

describe('crawler down or not configured', () => {
  let down;
  let unset;
  before(async () => {
    const dbUrl = await testDatabase();
    const closedPort = await freePort(); // nothing listens there: connection refused
    [down, unset] = await Promise.all([
      startServer({ DATABASE_URL: dbUrl, CRAWLER_API_URL: `http://127.0.0.1:${closedPort}` }).then(withSession),
      startServer({ DATABASE_URL: dbUrl }).then(withSession),
    ]);
  });
  after(() => Promise.all([down?.stop(), unset?.stop()]));

  test('connection refused is 503, quickly', async () => {
    const started = Date.now();
    await expectError(await crawl(down, { url: 'https://example.test/ok' }), 503, 'crawler_unavailable');
    await expectError(await fetch(`${down.url}/api/crawler/health`), 503, 'crawler_unavailable');
    assert.ok(Date.now() - started < 2000);
  });

  test('no CRAWLER_API_URL is 503 crawler_not_configured', async () => {
    await expectError(await crawl(unset, { url: 'https://example.test/ok' }), 503, 'crawler_not_configured');
    await expectError(await fetch(`${unset.url}/api/crawler/health`), 503, 'crawler_not_configured');
    // Input is still validated first.
    await expectError(await crawl(unset, { url: 'ftp://x' }), 400, 'invalid_url');
  });
});
