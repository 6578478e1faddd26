// POST /api/chat: tens of KB of messages in, an SSE reply out (longer than CloudFront's 30 s by default).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { testDatabase } from './helpers/postgres.mjs';
import { startServer } from './helpers/server.mjs';

/** A chat body of about `size` bytes whose content quotes HTML with a <script> (what WAF's XSS rule matches). */
function chatBody(size) {
  const code = "<script>document.title = 'hi'</script>\n";
  const content = ('Why does this not load?\n```html\n' + code.repeat(Math.ceil(size / code.length))).slice(0, size);
  return JSON.stringify({ messages: [{ role: 'system', content: 'You help with web pages.' }, { role: 'user', content }] });
}

/** POST and read the SSE reply event by event (arrival times in ms). */
function postStream(url, body, headers = { 'content-type': 'application/json' }) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const events = [];
      let buffer = '';
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        raw += chunk;
        buffer += chunk;
        let sep;
        while ((sep = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, sep);
          buffer = buffer.slice(sep + 2);
          if (block.startsWith(':')) continue;
          const ev = { at: Date.now() - started };
          for (const line of block.split('\n')) {
            const i = line.indexOf(':');
            ev[line.slice(0, i)] = line.slice(i + 1).trimStart();
          }
          events.push(ev);
        }
      });
      res.on('end', () => resolve({ res, events, raw }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('chat', () => {
  let server;
  before(async () => {
    server = await startServer({ DATABASE_URL: await testDatabase() });
  });
  after(() => server?.stop());

  test('a 12 KB body with <script> gets a reply streamed token by token, then done', async () => {
    const body = chatBody(12 * 1024);
    const { res, events } = await postStream(`${server.url}/api/chat?seconds=3`, body);
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['cache-control'], 'no-cache, no-transform');
    assert.equal(res.headers['content-encoding'], undefined);
    const tokens = events.filter((e) => e.event === 'token');
    assert.deepEqual(tokens.map((e) => e.id), ['1', '2', '3']);
    // one a second, as they are written (not buffered to the end)
    assert.ok(tokens[0].at >= 800 && tokens[0].at < 2000, `first token at ${tokens[0].at} ms`);
    assert.ok(tokens[2].at - tokens[0].at >= 1800, 'tokens arrived together');
    const done = JSON.parse(events.at(-1).data);
    assert.equal(events.at(-1).event, 'done');
    assert.equal(done.messages, 2);
    assert.equal(done.chars, JSON.parse(body).messages.reduce((n, m) => n + m.content.length, 0));
  });

  test('by default the reply lasts 35 s, longer than CloudFront\'s 30 s origin response timeout', async () => {
    const first = await new Promise((resolve, reject) => {
      const req = http.request(`${server.url}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
          const m = /event: token\nid: 1\ndata: (.*)\n/.exec(text);
          if (m) {
            resolve(JSON.parse(m[1]));
            req.destroy();
          }
        });
      });
      req.on('error', (err) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
      req.end(JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }));
    });
    assert.equal(first.of, 35);
  });

  test('its body limit is 64 KB; the rest of the API keeps the WAF\'s 8 KB', async () => {
    const ok = await postStream(`${server.url}/api/chat?seconds=1`, chatBody(60 * 1024));
    assert.equal(ok.res.statusCode, 200);
    const big = await postStream(`${server.url}/api/chat?seconds=1`, chatBody(70 * 1024));
    assert.equal(big.res.statusCode, 413);
    assert.equal(JSON.parse(big.raw).error, 'payload_too_large');
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(9 * 1024) }),
    });
    assert.equal(login.status, 413);
  });

  test('bad requests get JSON errors', async () => {
    const cases = [
      [`${server.url}/api/chat`, '{"messages": []}', 400, 'invalid_messages'],
      [`${server.url}/api/chat`, '{"messages": [{"role": "robot", "content": "x"}]}', 400, 'invalid_messages'],
      [`${server.url}/api/chat`, '{"messages": [{"role": "user", "content": 5}]}', 400, 'invalid_messages'],
      [`${server.url}/api/chat`, '{"messages": ', 400, 'invalid_json'],
      [`${server.url}/api/chat?seconds=0`, '{"messages": [{"role": "user", "content": "x"}]}', 400, 'invalid_seconds'],
    ];
    for (const [url, body, status, error] of cases) {
      const { res, raw } = await postStream(url, body);
      assert.equal(res.statusCode, status, body);
      assert.equal(JSON.parse(raw).error, error, body);
    }
    const text = await postStream(`${server.url}/api/chat`, 'hello', { 'content-type': 'text/plain' });
    assert.equal(text.res.statusCode, 415);
  });
});
