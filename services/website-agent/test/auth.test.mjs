// Auth against a real PostgreSQL: signup, login, me, logout, cookies and sessions.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { query, testDatabase } from './helpers/postgres.mjs';
import { startServer, TEST_SECRET, waitForDbReady } from './helpers/server.mjs';

const PASSWORD = 'correct horse battery';

function post(url, body, headers = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** `session=value` from a Set-Cookie header, plus its attributes. */
function parseSetCookie(header) {
  assert.ok(header, 'expected a Set-Cookie header');
  const [pair, ...attrs] = header.split(';').map((s) => s.trim());
  return { pair, value: pair.slice(pair.indexOf('=') + 1), attrs };
}

describe('auth', () => {
  let server;
  let dbUrl;
  const email = () => `user-${randomUUID()}@example.test`;

  before(async () => {
    dbUrl = await testDatabase();
    server = await startServer({ DATABASE_URL: dbUrl });
    await waitForDbReady(server.url);
  });
  after(() => server?.stop());

  test('signup creates an account (201) and stores only a scrypt hash', async () => {
    const address = email();
    const res = await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    assert.equal(res.status, 201);
    const body = await res.json();
    assert.equal(body.email, address);
    assert.equal(body.password, undefined);
    assert.equal(res.headers.get('set-cookie'), null);
    const rows = await query(dbUrl, 'SELECT password_hash FROM users WHERE email = $1', [address]);
    assert.equal(rows.length, 1);
    assert.match(rows[0].password_hash, /^scrypt\$\d+\$\d+\$\d+\$[\w-]+\$[\w-]+$/);
    assert.ok(!rows[0].password_hash.includes(PASSWORD));
  });

  test('a duplicate e-mail, in any case, is 409', async () => {
    const address = email();
    assert.equal((await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD })).status, 201);
    const dup = await post(`${server.url}/api/auth/signup`, { email: address.toUpperCase(), password: PASSWORD });
    assert.equal(dup.status, 409);
    assert.equal((await dup.json()).error, 'email_taken');
  });

  test('bad sign-up input is 400 with a JSON error', async () => {
    const cases = [
      { email: 'not-an-email', password: PASSWORD },
      { email: 'a@b', password: PASSWORD },
      { email: email(), password: 'short' },
      { email: email() },
      { password: PASSWORD },
      {},
      { email: 42, password: PASSWORD },
    ];
    for (const body of cases) {
      const res = await post(`${server.url}/api/auth/signup`, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const err = await res.json();
      assert.equal(typeof err.error, 'string');
      assert.equal(typeof err.message, 'string');
    }
    const notJson = await fetch(`${server.url}/api/auth/signup`, { method: 'POST', body: 'email=a@b.c&password=12345678', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(notJson.status, 400);
  });

  test('login sets a signed HttpOnly session cookie; me and logout use it', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });

    const me0 = await fetch(`${server.url}/api/auth/me`);
    assert.equal(me0.status, 401);
    assert.equal((await me0.json()).error, 'unauthenticated');

    // Log in with different case: e-mails are case-insensitive.
    const login = await post(`${server.url}/api/auth/login`, { email: address.toUpperCase(), password: PASSWORD });
    assert.equal(login.status, 200);
    assert.equal((await login.json()).email, address);
    const cookie = parseSetCookie(login.headers.get('set-cookie'));
    assert.match(cookie.pair, /^session=[\w-]+\.[\w-]+$/);
    assert.ok(cookie.attrs.includes('HttpOnly'));
    assert.ok(cookie.attrs.includes('SameSite=Lax'));
    assert.ok(cookie.attrs.includes('Path=/'));
    assert.ok(cookie.attrs.some((a) => /^Max-Age=\d+$/.test(a) && Number(a.split('=')[1]) > 0));
    assert.ok(!cookie.attrs.includes('Secure'), 'plain http must not get a Secure cookie');
    assert.ok(!cookie.value.includes(TEST_SECRET));

    // The database keeps a hash of the session id, not the id itself.
    const id = cookie.value.split('.')[0];
    assert.equal((await query(dbUrl, 'SELECT 1 FROM sessions WHERE id_hash = $1', [id])).length, 0);
    const idHash = createHash('sha256').update(id).digest('hex');
    const [session] = await query(dbUrl, "SELECT expires_at > now() + interval '6 days' AS long_lived FROM sessions WHERE id_hash = $1", [idHash]);
    assert.equal(session?.long_lived, true);

    const me = await fetch(`${server.url}/api/auth/me`, { headers: { cookie: cookie.pair } });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).email, address);

    const logout = await fetch(`${server.url}/api/auth/logout`, { method: 'POST', headers: { cookie: cookie.pair } });
    assert.ok([200, 204].includes(logout.status));
    const cleared = parseSetCookie(logout.headers.get('set-cookie'));
    assert.equal(cleared.pair, 'session=');
    assert.ok(cleared.attrs.includes('Max-Age=0'));

    // Deleted server-side: replaying the old cookie no longer works.
    const replay = await fetch(`${server.url}/api/auth/me`, { headers: { cookie: cookie.pair } });
    assert.equal(replay.status, 401);
  });

  test('behind an https proxy (X-Forwarded-Proto) the cookie is Secure', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const login = await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD }, { 'x-forwarded-proto': 'https' });
    assert.equal(login.status, 200);
    assert.ok(parseSetCookie(login.headers.get('set-cookie')).attrs.includes('Secure'));
  });

  test('wrong password and unknown user are the same 401', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const wrong = await post(`${server.url}/api/auth/login`, { email: address, password: 'wrong password!' });
    const unknown = await post(`${server.url}/api/auth/login`, { email: email(), password: PASSWORD });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.deepEqual(await wrong.json(), await unknown.json());
    assert.equal(wrong.headers.get('set-cookie'), null);
  });

  test('a tampered or forged cookie is 401', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const login = await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD });
    const { value } = parseSetCookie(login.headers.get('set-cookie'));
    const [id, sig] = value.split('.');
    const flip = (s) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const forged of [`${flip(id)}.${sig}`, `${id}.${flip(sig)}`, id, `${id}.`, `.${sig}`, 'garbage', `${id}.${sig}x`]) {
      const res = await fetch(`${server.url}/api/auth/me`, { headers: { cookie: `session=${forged}` } });
      assert.equal(res.status, 401, forged);
    }
    // The genuine cookie still works.
    assert.equal((await fetch(`${server.url}/api/auth/me`, { headers: { cookie: `other=1; session=${value}` } })).status, 200);
  });

  test('an expired session is 401', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const login = await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD });
    const { pair } = parseSetCookie(login.headers.get('set-cookie'));
    await query(dbUrl, "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = (SELECT id FROM users WHERE email = $1)", [address]);
    assert.equal((await fetch(`${server.url}/api/auth/me`, { headers: { cookie: pair } })).status, 401);
  });

  test('logout without a session still clears the cookie', async () => {
    const res = await fetch(`${server.url}/api/auth/logout`, { method: 'POST' });
    assert.ok([200, 204].includes(res.status));
    assert.match(res.headers.get('set-cookie'), /^session=;/);
  });

  test('the secret never appears in the logs', () => {
    assert.ok(!server.output().includes(TEST_SECRET));
  });
});
