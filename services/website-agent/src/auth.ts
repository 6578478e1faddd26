import { createHash, createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { PoolClient } from 'pg';
import type { Database } from './db.js';
import { isUnavailableError } from './db.js';
import { hasJsonBody, sendError } from './http.js';

/** Over https the cookie is `__Host-session` (Secure, Path=/, no Domain: no subdomain or
 *  plain-http page can set or shadow it); over plain http (the local edge) a browser would
 *  refuse that prefix, so it is `session` there. */
export const SESSION_COOKIE = 'session';
export const SECURE_SESSION_COOKIE = '__Host-session';
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const BAD_LOGIN = 'Invalid e-mail or password';

/** OWASP Password Storage Cheat Sheet's scrypt parameters (N=2^17, r=8, p=1): 128 MiB, ~0.5 s here. */
const SCRYPT = { N: 2 ** 17, r: 8, p: 1, keylen: 64, saltBytes: 16 };
/** A stored hash asking for more than this is refused, not computed (a tampered row must not
 *  make each login allocate gigabytes). */
const SCRYPT_MAX = { N: 2 ** 20, r: 32, p: 16 };

/** Per-account backoff on failed log-ins (kept in PostgreSQL, so every replica sees it, and
 *  counted for unknown e-mails too, so it tells nothing about which accounts exist). */
export const LOGIN_BACKOFF = {
  freeFailures: 5, // failures before the first lock
  firstLockSeconds: 5, // then 5 s, doubling with each further failure ...
  maxLockSeconds: 900, // ... up to 15 minutes
  forgetAfterSeconds: 3600, // a count with no failure for an hour starts again
};

export interface SessionLimits {
  /** A session ends this long after log-in, whatever happens. */
  absoluteSeconds: number;
  /** ... or after this long without a request. */
  idleSeconds: number;
}

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function scryptOptions(N: number, r: number, p: number): ScryptOptions {
  return { N, r, p, maxmem: 256 * N * r }; // Node's default (32 MiB) is below what N=2^17 needs
}

/** `scrypt$N$r$p$salt$hash` (base64url), so parameters can change later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltBytes);
  const key = await scrypt(password, salt, SCRYPT.keylen, scryptOptions(SCRYPT.N, SCRYPT.r, SCRYPT.p));
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether ``password`` matches, and whether the stored hash uses other parameters than today's. */
export async function verifyPassword(password: string, stored: string): Promise<{ ok: boolean; rehash: boolean }> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return { ok: false, rehash: false };
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const sane = [N, r, p].every((v) => Number.isInteger(v) && v > 0) && N <= SCRYPT_MAX.N && r <= SCRYPT_MAX.r && p <= SCRYPT_MAX.p;
  if (!sane) return { ok: false, rehash: false };
  const expected = Buffer.from(parts[5], 'base64url');
  const actual = await scrypt(password, Buffer.from(parts[4], 'base64url'), expected.length, scryptOptions(N, r, p));
  const ok = actual.length === expected.length && timingSafeEqual(actual, expected);
  return { ok, rehash: ok && (N !== SCRYPT.N || r !== SCRYPT.r || p !== SCRYPT.p || expected.length !== SCRYPT.keylen) };
}

// Checked against for unknown e-mails, so that timing does not reveal which accounts exist:
// the same parameters cost the same scrypt; no password matches random bytes.
const DUMMY_HASH = ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, randomBytes(SCRYPT.saltBytes).toString('base64url'), randomBytes(SCRYPT.keylen).toString('base64url')].join('$');

/** Session cookie value: `<id>.<HMAC-SHA256(id)>`, both base64url. */
export class SessionSigner {
  constructor(private readonly secret: string) {}

  sign(id: string): string {
    return `${id}.${this.mac(id)}`;
  }

  /** The session id if the signature is valid, else null. */
  verify(value: string): string | null {
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return null;
    const id = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const wanted = Buffer.from(this.mac(id), 'base64url');
    return given.length === wanted.length && timingSafeEqual(given, wanted) ? id : null;
  }

  private mac(id: string): string {
    return createHmac('sha256', this.secret).update(id).digest('base64url');
  }
}

/** Sessions are stored by hash: a leaked table does not yield usable cookies. */
function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** The backoff's key: a hash, so the table holds no e-mail address that has no account. */
function attemptKey(email: string): string {
  return createHash('sha256').update(email).digest('hex');
}

export function readCookie(req: Request, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
  }
  return null;
}

/** The session cookie's name for this request's scheme. req.secure honours X-Forwarded-Proto
 *  because the proxies in front are trusted (CloudFront and the ALB terminate TLS). */
export function sessionCookieName(req: Request): string {
  return req.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

function sessionCookie(req: Request, value: string, maxAge: number): string {
  const attrs = [`${sessionCookieName(req)}=${value}`, 'HttpOnly', 'SameSite=Lax', 'Path=/', `Max-Age=${maxAge}`];
  if (req.secure) attrs.push('Secure');
  return attrs.join('; ');
}

interface Credentials {
  email: string;
  password: string;
}

function readCredentials(req: Request, res: Response): Credentials | null {
  if (!hasJsonBody(req)) {
    sendError(res, 400, 'invalid_body', 'Expected a JSON body {"email", "password"}');
    return null;
  }
  const { email, password } = req.body as Record<string, unknown>;
  if (typeof email !== 'string' || typeof password !== 'string' || email.trim() === '' || password === '') {
    sendError(res, 400, 'missing_fields', 'Both "email" and "password" are required');
    return null;
  }
  const normalised = email.trim().toLowerCase();
  if (normalised.length > 254 || !EMAIL_RE.test(normalised)) {
    sendError(res, 400, 'invalid_email', 'That is not a valid e-mail address');
    return null;
  }
  if (password.length > MAX_PASSWORD) {
    sendError(res, 400, 'invalid_password', `Password must be at most ${MAX_PASSWORD} characters`);
    return null;
  }
  return { email: normalised, password };
}

export interface AuthDeps {
  db: Database;
  signer: SessionSigner;
  sessions: SessionLimits;
}

export interface SessionUser {
  id: string;
  email: string;
  createdAt: string;
}

/** The user behind the request's session cookie, or null. A session past its absolute or
 *  idle limit is over; a live one is marked as used now. */
async function currentUser(req: Request, deps: AuthDeps): Promise<SessionUser | null> {
  const cookie = readCookie(req, sessionCookieName(req));
  if (!cookie) return null;
  const id = deps.signer.verify(cookie);
  if (!id) return null;
  const { rows } = await deps.db.pool.query<{ id: string; email: string; created_at: Date }>(
    `UPDATE sessions s SET last_seen_at = now() FROM users u
     WHERE s.id_hash = $1 AND u.id = s.user_id AND s.expires_at > now()
       AND s.created_at > now() - make_interval(secs => $2)
       AND s.last_seen_at > now() - make_interval(secs => $3)
     RETURNING u.id, u.email, u.created_at`,
    [hashSessionId(id), deps.sessions.absoluteSeconds, deps.sessions.idleSeconds],
  );
  return rows[0] ? { id: String(rows[0].id), email: rows[0].email, createdAt: rows[0].created_at.toISOString() } : null;
}

/**
 * Middleware for endpoints only a logged-in user may call: 401 JSON without a
 * valid session (503 while the database is not there to tell). The user is in
 * `res.locals.user` afterwards.
 */
export function requireUser(deps: AuthDeps) {
  return async (req: Request, res: Response, next: (err?: unknown) => void): Promise<void> => {
    if (!deps.db.ready) {
      sendError(res, 503, 'db_unavailable', 'The database is not ready yet; try again shortly');
      return;
    }
    let user: SessionUser | null;
    try {
      user = await currentUser(req, deps);
    } catch (err) {
      if (isUnavailableError(err)) {
        sendError(res, 503, 'db_unavailable', 'The database is not reachable right now');
        return;
      }
      throw err;
    }
    if (!user) {
      res.setHeader('Cache-Control', 'no-store');
      sendError(res, 401, 'unauthenticated', 'Log in first');
      return;
    }
    res.locals.user = user;
    next();
  };
}

/**
 * Count this log-in attempt against the account before checking the password (so parallel
 * attempts cannot all slip through), or say how long the account is locked. A successful
 * log-in clears the count.
 */
async function claimAttempt(client: PoolClient, key: string): Promise<number> {
  const b = LOGIN_BACKOFF;
  await client.query('BEGIN');
  try {
    await client.query('INSERT INTO login_attempts (email_key) VALUES ($1) ON CONFLICT DO NOTHING', [key]);
    const { rows } = await client.query<{ wait: number | null; failures: number }>(
      `SELECT ceil(extract(epoch FROM locked_until - now()))::int AS wait,
              CASE WHEN last_failure_at IS NULL OR last_failure_at < now() - make_interval(secs => $2)
                   THEN 1 ELSE failures + 1 END AS failures
       FROM login_attempts WHERE email_key = $1 FOR UPDATE`,
      [key, b.forgetAfterSeconds],
    );
    const { wait, failures } = rows[0];
    if (wait !== null && wait > 0) {
      await client.query('COMMIT');
      return wait;
    }
    const lock = failures >= b.freeFailures ? Math.min(b.maxLockSeconds, b.firstLockSeconds * 2 ** (failures - b.freeFailures)) : 0;
    await client.query(
      `UPDATE login_attempts SET failures = $2, last_failure_at = now(),
              locked_until = CASE WHEN $3::int > 0 THEN now() + make_interval(secs => $3) END
       WHERE email_key = $1`,
      [key, failures, lock],
    );
    await client.query('COMMIT');
    return 0;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export function authRouter(deps: AuthDeps): Router {
  const router = Router();

  // Until the schema exists (database still starting), answer 503 rather than hang or 500.
  router.use((_req, res, next) => {
    if (!deps.db.ready) {
      sendError(res, 503, 'db_unavailable', 'The database is not ready yet; try again shortly');
      return;
    }
    next();
  });

  // The same answer whether the e-mail was free or not (the same work too: one hash, one
  // INSERT): sign-up must not tell which accounts exist. Someone else's address simply does
  // not log in with the password given here.
  router.post('/signup', async (req, res) => {
    const creds = readCredentials(req, res);
    if (!creds) return;
    if (creds.password.length < MIN_PASSWORD) {
      sendError(res, 400, 'invalid_password', `Password must be at least ${MIN_PASSWORD} characters`);
      return;
    }
    const hash = await hashPassword(creds.password);
    await deps.db.pool.query(
      `INSERT INTO users (email, password_hash) VALUES ($1, $2) ON CONFLICT ((lower(email))) DO NOTHING`,
      [creds.email, hash],
    );
    res.status(201).json({ email: creds.email, message: 'Signed up: log in with this e-mail and password' });
  });

  router.post('/login', async (req, res) => {
    const creds = readCredentials(req, res);
    if (!creds) return;
    const key = attemptKey(creds.email);
    const client = await deps.db.pool.connect();
    let wait: number;
    try {
      wait = await claimAttempt(client, key);
    } finally {
      client.release();
    }
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      sendError(res, 429, 'too_many_attempts', `Too many failed log-ins for this e-mail; try again in ${wait} s`);
      return;
    }
    const { rows } = await deps.db.pool.query<{ id: string; email: string; password_hash: string }>(
      'SELECT id, email, password_hash FROM users WHERE lower(email) = $1',
      [creds.email],
    );
    const user = rows[0];
    const { ok, rehash } = await verifyPassword(creds.password, user ? user.password_hash : DUMMY_HASH);
    if (!user || !ok) {
      sendError(res, 401, 'invalid_credentials', BAD_LOGIN);
      return;
    }
    await deps.db.pool.query('DELETE FROM login_attempts WHERE email_key = $1', [key]);
    if (rehash) {
      // Stored with older (weaker) parameters: store it again with today's.
      await deps.db.pool.query('UPDATE users SET password_hash = $2 WHERE id = $1', [user.id, await hashPassword(creds.password)]);
    }
    const id = randomBytes(32).toString('base64url');
    await deps.db.pool.query(
      `INSERT INTO sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`,
      [hashSessionId(id), user.id, deps.sessions.absoluteSeconds],
    );
    // Opportunistic clean-up of ended sessions and stale counts; failure here must not fail the login.
    deps.db.pool
      .query(
        `DELETE FROM sessions WHERE expires_at < now() OR last_seen_at < now() - make_interval(secs => $1)`,
        [deps.sessions.idleSeconds],
      )
      .catch(() => undefined);
    deps.db.pool
      .query(
        `DELETE FROM login_attempts WHERE last_failure_at < now() - make_interval(secs => $1)
           AND (locked_until IS NULL OR locked_until < now())`,
        [LOGIN_BACKOFF.forgetAfterSeconds],
      )
      .catch(() => undefined);
    res.setHeader('Set-Cookie', sessionCookie(req, deps.signer.sign(id), deps.sessions.absoluteSeconds));
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).json({ email: user.email });
  });

  // JSON only: a cross-site form can post urlencoded, multipart or text/plain, never
  // application/json (that needs a CORS preflight, which this server never grants).
  router.post('/logout', async (req, res) => {
    if (req.is('application/json') !== 'application/json') {
      sendError(res, 415, 'unsupported_media_type', 'Log out with a JSON POST (Content-Type: application/json)');
      return;
    }
    const cookie = readCookie(req, sessionCookieName(req));
    const id = cookie ? deps.signer.verify(cookie) : null;
    if (id) {
      await deps.db.pool.query('DELETE FROM sessions WHERE id_hash = $1', [hashSessionId(id)]);
    }
    res.setHeader('Set-Cookie', sessionCookie(req, '', 0));
    res.status(204).end();
  });

  router.get('/me', async (req, res) => {
    const user = await currentUser(req, deps);
    res.setHeader('Cache-Control', 'no-store');
    if (!user) {
      sendError(res, 401, 'unauthenticated', 'Not logged in');
      return;
    }
    res.status(200).json({ email: user.email, createdAt: user.createdAt });
  });

  router.use((_req, res) => sendError(res, 404, 'not_found', 'No such auth endpoint'));

  // Database outages during a request become 503, anything else goes to the generic handler.
  router.use((err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (isUnavailableError(err)) {
      sendError(res, 503, 'db_unavailable', 'The database is not reachable right now');
      return;
    }
    next(err);
  });

  return router;
}
