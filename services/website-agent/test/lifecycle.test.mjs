// Start-up and shutdown: config refusal, database retry with backoff, concurrent
// replicas creating the schema, and the Docker healthcheck script.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from './helpers/net.mjs';
import { createDatabase, query, testDatabase } from './helpers/postgres.mjs';
import { SERVICE_DIR, startServer, TEST_SECRET, waitForDbReady } from './helpers/server.mjs';

const run = promisify(execFile);

function dbName() {
  return `wa_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

describe('start-up and shutdown', () => {
  let adminUrl;
  before(async () => {
    adminUrl = await testDatabase();
  });

  test('refuses to start without BETTER_AUTH_SECRET (exit 1, one clear line)', async () => {
    const err = await startServer({ BETTER_AUTH_SECRET: '', DATABASE_URL: 'postgres://u:db-password-123@127.0.0.1:1/x' }).then(
      () => assert.fail('server started'),
      (e) => e,
    );
    assert.equal(err.code, 1);
    const lines = err.output.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /BETTER_AUTH_SECRET is required/);
    assert.ok(!err.output.includes('db-password-123'));
  });

  test('refuses to start without DATABASE_URL or with a bad PORT', async () => {
    const noDb = await startServer({}).catch((e) => e);
    assert.equal(noDb.code, 1);
    assert.match(noDb.output, /DATABASE_URL is required/);
    const badPort = await startServer({ DATABASE_URL: adminUrl, PORT: 'http' }).catch((e) => e);
    assert.equal(badPort.code, 1);
    assert.match(badPort.output, /PORT must be an integer/);
  });

  test('refuses a PUBLIC_URL that is not an http(s) origin', async () => {
    for (const bad of ['not a url', 'ftp://x.test', 'https://x.test/app']) {
      const err = await startServer({ DATABASE_URL: adminUrl, PUBLIC_URL: bad }).catch((e) => e);
      assert.equal(err.code, 1, bad);
      assert.match(err.output, /PUBLIC_URL/, bad);
    }
  });

  test('database not there yet: /healthz answers, auth is 503, then it recovers', async () => {
    const name = dbName();
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    const server = await startServer({ DATABASE_URL: url.toString() });
    try {
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      const me = await fetch(`${server.url}/api/auth/me`);
      assert.equal(me.status, 503);
      assert.equal((await me.json()).error, 'db_unavailable');
      assert.equal((await fetch(`${server.url}/`)).status, 200);
      await new Promise((r) => setTimeout(r, 800));
      await createDatabase(adminUrl, name);
      await waitForDbReady(server.url);
      const out = server.output();
      assert.match(out, /database: not reachable .*retry 1 in \d+ ms/);
      assert.match(out, /database: ready/);
      assert.equal(server.proc.exitCode, null, 'must not exit while waiting for the database');
      assert.ok(!out.includes(TEST_SECRET));
    } finally {
      await server.stop();
    }
  });

  test('two replicas starting together on an empty database both come up', async () => {
    const url = await createDatabase(adminUrl, dbName());
    const [a, b] = await Promise.all([startServer({ DATABASE_URL: url }), startServer({ DATABASE_URL: url })]);
    try {
      await Promise.all([waitForDbReady(a.url), waitForDbReady(b.url)]);
      const tables = await query(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
      assert.deepEqual(tables.map((t) => t.table_name), ['login_attempts', 'sessions', 'users']);
      // A session made on one replica is valid on the other (shared DB + shared secret).
      const creds = { email: `${randomUUID()}@example.test`, password: 'long enough password' };
      const json = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(creds) };
      assert.equal((await fetch(`${a.url}/api/auth/signup`, json)).status, 201);
      const login = await fetch(`${b.url}/api/auth/login`, json);
      const cookie = login.headers.get('set-cookie').split(';')[0];
      assert.equal((await fetch(`${a.url}/api/auth/me`, { headers: { cookie } })).status, 200);
      assert.doesNotMatch(a.output() + b.output(), /error/i);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test('SIGTERM stops the server promptly with exit code 0', async () => {
    const server = await startServer({ DATABASE_URL: adminUrl });
    try {
      await waitForDbReady(server.url);
      // An idle keep-alive connection must not hold shutdown up.
      await fetch(`${server.url}/healthz`);
    } catch (err) {
      await server.stop();
      throw err;
    }
    const started = Date.now();
    const { code } = await server.stop();
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    assert.match(server.output(), /SIGTERM received/);
  });

  test('healthcheck.js exits 0 when /healthz is up and 1 when nothing listens', async () => {
    const server = await startServer({ DATABASE_URL: adminUrl });
    const port = new URL(server.url).port;
    const script = path.join(SERVICE_DIR, 'healthcheck.js');
    try {
      const ok = await run(process.execPath, [script], { env: { PORT: port } }).then(() => 0, (e) => e.code);
      assert.equal(ok, 0);
    } finally {
      await server.stop();
    }
    const closed = String(await freePort());
    const down = await run(process.execPath, [script], { env: { PORT: closed } }).then(() => 0, (e) => e.code);
    assert.equal(down, 1);
  });
});
