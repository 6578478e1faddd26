// GET /api/stream: Server-Sent Events delivered incrementally, never compressed.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { testDatabase } from './helpers/postgres.mjs';
import { startServer } from './helpers/server.mjs';

/** Read an SSE response chunk by chunk, noting when each event arrived. */
function openStream(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      const events = [];
      const chunks = [];
      let buffer = '';
      let comment = null;
      const started = Date.now();
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        chunks.push({ at: Date.now() - started, chunk });
        buffer += chunk;
        let sep;
        while ((sep = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, sep);
          buffer = buffer.slice(sep + 2);
          if (block.startsWith(':')) {
            comment ??= { text: block, at: Date.now() - started };
            continue;
          }
          const ev = { at: Date.now() - started };
          for (const line of block.split('\n')) {
            const i = line.indexOf(':');
            ev[line.slice(0, i)] = line.slice(i + 1).trimStart();
          }
          events.push(ev);
        }
      });
      const done = new Promise((r) => res.on('end', r));
      resolve({ res, events, chunks, comment: () => comment, done, req });
    });
    req.on('error', reject);
  });
}

describe('SSE stream', () => {
  let server;
  before(async () => {
    server = await startServer({ DATABASE_URL: await testDatabase() });
  });
  after(() => server?.stop());

  test('ticks arrive one per second with increasing ids, then done', async () => {
    const s = await openStream(`${server.url}/api/stream?seconds=3`, { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(s.res.statusCode, 200);
    assert.match(s.res.headers['content-type'], /^text\/event-stream/);
    assert.equal(s.res.headers['cache-control'], 'no-cache, no-transform');
    assert.equal(s.res.headers['x-accel-buffering'], 'no');
    assert.equal(s.res.headers.connection, 'keep-alive');
    assert.equal(s.res.headers['content-encoding'], undefined, 'SSE must not be compressed');
    await s.done;
    const ticks = s.events.filter((e) => e.event === 'tick');
    assert.deepEqual(ticks.map((e) => e.id), ['1', '2', '3']);
    ticks.forEach((e, i) => {
      const data = JSON.parse(e.data);
      assert.equal(data.n, i + 1);
      assert.ok(!Number.isNaN(Date.parse(data.at)));
    });
    // Incremental: each tick arrives about a second after the previous one, not all at the end.
    assert.ok(s.comment(), 'expected the opening comment');
    assert.ok(s.comment().at < 500, `opening comment came late (${s.comment().at} ms)`);
    assert.ok(ticks[0].at > 700 && ticks[0].at < 1800, `first tick at ${ticks[0].at} ms`);
    for (let i = 1; i < ticks.length; i++) {
      const gap = ticks[i].at - ticks[i - 1].at;
      assert.ok(gap > 700 && gap < 1500, `gap ${gap} ms between ticks ${i} and ${i + 1}`);
    }
    const last = s.events.at(-1);
    assert.equal(last.event, 'done');
    assert.ok(last.at - ticks[2].at < 300);
    assert.ok(s.chunks.length >= 4, 'events must arrive in separate chunks');
  });

  test('Last-Event-ID resumes after the last tick seen', async () => {
    const s = await openStream(`${server.url}/api/stream?seconds=3`, { 'last-event-id': '2' });
    await s.done;
    assert.deepEqual(s.events.map((e) => e.event), ['tick', 'done']);
    assert.equal(s.events[0].id, '3');
  });

  test('delay=S: nothing at all (not even headers) for S seconds, then the stream', async () => {
    const started = Date.now();
    let headersAt = null;
    const s = await openStream(`${server.url}/api/stream?seconds=2&delay=2`);
    headersAt = Date.now() - started;
    assert.ok(headersAt >= 1900 && headersAt < 3000, `headers after ${headersAt} ms, wanted about 2000`);
    assert.equal(s.res.statusCode, 200);
    await s.done;
    assert.deepEqual(s.events.map((e) => e.event), ['tick', 'tick', 'done']);
  });

  test('bad delay is a 400 JSON error', async () => {
    for (const bad of ['-1', '601', 'x', '1.5']) {
      const res = await fetch(`${server.url}/api/stream?seconds=1&delay=${encodeURIComponent(bad)}`);
      assert.equal(res.status, 400, `delay=${bad}`);
      assert.equal((await res.json()).error, 'invalid_delay');
    }
  });

  test('bad seconds are a 400 JSON error', async () => {
    for (const bad of ['0', '601', 'abc', '1.5', '-3', '', '99999']) {
      const res = await fetch(`${server.url}/api/stream?seconds=${encodeURIComponent(bad)}`);
      assert.equal(res.status, 400, `seconds=${bad}`);
      const body = await res.json();
      assert.equal(body.error, 'invalid_seconds');
      assert.ok(body.message);
    }
  });

  test('seconds defaults to 10', async () => {
    const s = await openStream(`${server.url}/api/stream`);
    await new Promise((r) => setTimeout(r, 1300));
    s.req.destroy();
    const first = s.events.find((e) => e.event === 'tick');
    assert.equal(JSON.parse(first.data).of, 10);
  });

  test('a client that goes away closes its stream on the server', async () => {
    // The access log line is written when the response closes, the moment the tick timer stops.
    const logged = () => (server.output().match(/GET \/api\/stream HTTP\/1\.1" 200/g) ?? []).length;
    const s = await openStream(`${server.url}/api/stream?seconds=600`);
    await new Promise((r) => setTimeout(r, 1200));
    const before = logged();
    assert.ok(s.events.length >= 1);
    s.req.destroy();
    const deadline = Date.now() + 2000;
    while (logged() === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(logged(), before + 1, 'the server did not notice the client leaving');
  });

  test('SIGTERM ends open streams with a shutdown event and exits promptly', async () => {
    const s = await openStream(`${server.url}/api/stream?seconds=600`);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const { code } = await server.stop();
    await s.done;
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 2000, `shutdown took ${Date.now() - started} ms`);
    assert.equal(s.events.at(-1).event, 'shutdown');
    assert.doesNotMatch(server.output(), /grace period over/);
    server = null;
  });
});
