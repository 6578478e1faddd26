// Auth against a real PostgreSQL: signup, login, me, logout, cookies and sessions.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID, scryptSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { query, testDatabase } from './helpers/postgres.mjs';
import { startServer, TEST_SECRET, waitForDbReady } from './helpers/server.mjs';

const PASSWORD = 'correct horse battery';
const ABSOLUTE = 7200; // the session limits this suite's server gets from its environment
const IDLE = 600;

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
    server = await startServer({ DATABASE_URL: dbUrl, SESSION_ABSOLUTE_TIMEOUT_SECONDS: String(ABSOLUTE), SESSION_IDLE_TIMEOUT_SECONDS: String(IDLE) });
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
    // OWASP's scrypt parameters: N=2^17, r=8, p=1
    assert.match(rows[0].password_hash, /^scrypt\$131072\$8\$1\$[\w-]+\$[\w-]+$/);
    assert.ok(!rows[0].password_hash.includes(PASSWORD));
  });

  test('sign-up does not tell whether an account exists, and never changes one', async () => {
    const address = email();
    const fresh = await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const again = await post(`${server.url}/api/auth/signup`, { email: address.toUpperCase(), password: 'another password' });
    assert.equal(fresh.status, 201);
    assert.equal(again.status, fresh.status);
    assert.deepEqual(await again.json(), await fresh.json());
    assert.deepEqual([...again.headers.keys()].sort(), [...fresh.headers.keys()].sort());
    assert.equal((await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD })).status, 200);
    assert.equal((await post(`${server.url}/api/auth/login`, { email: address, password: 'another password' })).status, 401);
  });

  test('a hash with older scrypt parameters is redone at the next log-in', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const salt = randomBytes(16);
    const old = ['scrypt', 16384, 8, 1, salt.toString('base64url'), scryptSync(PASSWORD, salt, 64, { N: 16384, r: 8, p: 1 }).toString('base64url')].join('$');
    await query(dbUrl, 'UPDATE users SET password_hash = $2 WHERE email = $1', [address, old]);
    assert.equal((await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD })).status, 200);
    const [{ password_hash: stored }] = await query(dbUrl, 'SELECT password_hash FROM users WHERE email = $1', [address]);
    assert.match(stored, /^scrypt\$131072\$8\$1\$/);
    assert.equal((await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD })).status, 200);
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
    const [session] = await query(dbUrl, 'SELECT extract(epoch FROM expires_at - now()) AS left FROM sessions WHERE id_hash = $1', [idHash]);
    assert.ok(Math.abs(Number(session?.left) - ABSOLUTE) < 30, `expires in ${session?.left} s`);

    const me = await fetch(`${server.url}/api/auth/me`, { headers: { cookie: cookie.pair } });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).email, address);

    const logout = await post(`${server.url}/api/auth/logout`, {}, { cookie: cookie.pair });
    assert.ok([200, 204].includes(logout.status));
    const cleared = parseSetCookie(logout.headers.get('set-cookie'));
    assert.equal(cleared.pair, 'session=');
    assert.ok(cleared.attrs.includes('Max-Age=0'));

    // Deleted server-side: replaying the old cookie no longer works.
    const replay = await fetch(`${server.url}/api/auth/me`, { headers: { cookie: cookie.pair } });
    assert.equal(replay.status, 401);
  });

  test('behind an https proxy (X-Forwarded-Proto) the cookie is __Host-session, Secure; only that name counts there', async () => {
    const address = email();
    const https = { 'x-forwarded-proto': 'https' };
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const login = await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD }, https);
    assert.equal(login.status, 200);
    const cookie = parseSetCookie(login.headers.get('set-cookie'));
    assert.match(cookie.pair, /^__Host-session=[\w-]+\.[\w-]+$/);
    assert.ok(cookie.attrs.includes('Secure') && cookie.attrs.includes('Path=/'));
    assert.ok(!cookie.attrs.some((a) => /^domain=/i.test(a)));
    const me = (headers) => fetch(`${server.url}/api/auth/me`, { headers });
    assert.equal((await me({ ...https, cookie: cookie.pair })).status, 200);
    // the same value under the plain name, or over plain http, is no session
    assert.equal((await me({ ...https, cookie: `session=${cookie.value}` })).status, 401);
    assert.equal((await me({ cookie: cookie.pair })).status, 401);
    const out = await post(`${server.url}/api/auth/logout`, {}, { ...https, cookie: cookie.pair });
    assert.match(out.headers.get('set-cookie'), /^__Host-session=; .*Max-Age=0.*Secure/);
  });

  test('log-out takes a JSON POST only: a cross-site form cannot end the session', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const { pair } = parseSetCookie((await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD })).headers.get('set-cookie'));
    for (const [type, body] of [['application/x-www-form-urlencoded', 'a=1'], ['text/plain', '{}'], ['multipart/form-data; boundary=x', '--x--'], [null, null]]) {
      const res = await fetch(`${server.url}/api/auth/logout`, { method: 'POST', headers: { cookie: pair, ...(type ? { 'content-type': type } : {}) }, body });
      assert.equal(res.status, 415, String(type));
      assert.equal((await res.json()).error, 'unsupported_media_type');
      assert.equal(res.headers.get('set-cookie'), null);
    }
    assert.equal((await fetch(`${server.url}/api/auth/me`, { headers: { cookie: pair } })).status, 200);
  });

  test('sessions end after the idle limit and after the absolute limit, both from the environment', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const login = await post(`${server.url}/api/auth/login`, { email: address, password: PASSWORD });
    const cookie = parseSetCookie(login.headers.get('set-cookie'));
    assert.ok(cookie.attrs.includes(`Max-Age=${ABSOLUTE}`), cookie.attrs.join('; '));
    const me = () => fetch(`${server.url}/api/auth/me`, { headers: { cookie: cookie.pair } });
    const ofUser = 'user_id = (SELECT id FROM users WHERE email = $1)';
    // in use: the idle clock restarts with every request
    await query(dbUrl, `UPDATE sessions SET last_seen_at = now() - make_interval(secs => ${IDLE - 5}) WHERE ${ofUser}`, [address]);
    assert.equal((await me()).status, 200);
    const [{ idle }] = await query(dbUrl, `SELECT extract(epoch FROM now() - last_seen_at) AS idle FROM sessions WHERE ${ofUser}`, [address]);
    assert.ok(Number(idle) < 5, `last use ${idle} s ago`);
    await query(dbUrl, `UPDATE sessions SET last_seen_at = now() - make_interval(secs => ${IDLE + 1}) WHERE ${ofUser}`, [address]);
    assert.equal((await me()).status, 401, 'idle past the limit');
    await query(dbUrl, `UPDATE sessions SET last_seen_at = now(), created_at = now() - make_interval(secs => ${ABSOLUTE + 1}) WHERE ${ofUser}`, [address]);
    assert.equal((await me()).status, 401, 'older than the absolute limit');
  });

  test('failed log-ins for one account back off (429) whoever sends them, correct password included', async () => {
    const address = email();
    const other = email();
    for (const a of [address, other]) await post(`${server.url}/api/auth/signup`, { email: a, password: PASSWORD });
    const login = (a, password) => post(`${server.url}/api/auth/login`, { email: a, password });
    const codes = [];
    for (let i = 0; i < 7; i++) codes.push((await login(address, `wrong password ${i}`)).status);
    assert.deepEqual(codes, [401, 401, 401, 401, 401, 429, 429]);
    const locked = await login(address, PASSWORD);
    assert.equal(locked.status, 429);
    assert.equal((await locked.json()).error, 'too_many_attempts');
    assert.ok(Number(locked.headers.get('retry-after')) >= 1);
    assert.equal((await login(other, PASSWORD)).status, 200, 'another account is not affected');
    // an e-mail with no account behaves the same: the backoff tells nothing about accounts
    const nobody = email();
    const unknown = [];
    for (let i = 0; i < 6; i++) unknown.push((await login(nobody, `wrong password ${i}`)).status);
    assert.deepEqual(unknown, [401, 401, 401, 401, 401, 429]);
    // once the lock has passed, the right password gets in and the count starts again
    const key = createHash('sha256').update(address).digest('hex');
    await query(dbUrl, "UPDATE login_attempts SET locked_until = now() - interval '1 second' WHERE email_key = $1", [key]);
    assert.equal((await login(address, PASSWORD)).status, 200);
    assert.equal((await query(dbUrl, 'SELECT 1 FROM login_attempts WHERE email_key = $1', [key])).length, 0);
  });

  test('parallel wrong log-ins cannot slip past the backoff', async () => {
    const address = email();
    await post(`${server.url}/api/auth/signup`, { email: address, password: PASSWORD });
    const codes = await Promise.all(Array.from({ length: 12 }, (_, i) => post(`${server.url}/api/auth/login`, { email: address, password: `wrong ${i}` }).then((r) => r.status)));
    assert.equal(codes.filter((c) => c === 401).length, 5, codes.join(' '));
    assert.equal(codes.filter((c) => c === 429).length, 7, codes.join(' '));
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
    const res = await post(`${server.url}/api/auth/logout`, {});
    assert.ok([200, 204].includes(res.status));
    assert.match(res.headers.get('set-cookie'), /^session=;/);
  });

  test('the secret never appears in the logs', () => {
    assert.ok(!server.output().includes(TEST_SECRET));
  });
});
