import { createHash, createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Database } from './db.js';
import { isUnavailableError } from './db.js';
import { hasJsonBody, sendError } from './http.js';

export const SESSION_COOKIE = 'session';
export const SESSION_TTL_SECONDS = 7 * 24 * 60 * 60;
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 64, saltBytes: 16 };
const BAD_LOGIN = 'Invalid e-mail or password';

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash` (base64url), so parameters can change later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltBytes);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltText, keyText] = parts;
  const expected = Buffer.from(keyText, 'base64url');
  const actual = await scrypt(password, Buffer.from(saltText, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

// Spent on unknown e-mails so that timing does not reveal which accounts exist.
const DUMMY_HASH = hashPassword(randomBytes(16).toString('hex'));

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

function sessionCookie(req: Request, value: string, maxAge: number): string {
  const attrs = [`${SESSION_COOKIE}=${value}`, 'HttpOnly', 'SameSite=Lax', 'Path=/', `Max-Age=${maxAge}`];
  // req.secure honours X-Forwarded-Proto because the proxies in front are trusted (ALB/CloudFront terminate TLS).
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
}

/** Look up the user behind the request's session cookie, or null. */
async function currentUser(req: Request, deps: AuthDeps): Promise<{ email: string; createdAt: string } | null> {
  const cookie = readCookie(req, SESSION_COOKIE);
  if (!cookie) return null;
  const id = deps.signer.verify(cookie);
  if (!id) return null;
  const { rows } = await deps.db.pool.query<{ email: string; created_at: Date }>(
    `SELECT u.email, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id_hash = $1 AND s.expires_at > now()`,
    [hashSessionId(id)],
  );
  return rows[0] ? { email: rows[0].email, createdAt: rows[0].created_at.toISOString() } : null;
}

/**
 * Middleware for endpoints only a logged-in user may call: 401 JSON without a
 * valid session (503 while the database is not there to tell).
 */
export function requireUser(deps: AuthDeps) {
  return async (req: Request, res: Response, next: (err?: unknown) => void): Promise<void> => {
    if (!deps.db.ready) {
      sendError(res, 503, 'db_unavailable', 'The database is not ready yet; try again shortly');
      return;
    }
    let user: Awaited<ReturnType<typeof currentUser>>;
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
    next();
  };
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

  router.post('/signup', async (req, res) => {
    const creds = readCredentials(req, res);
    if (!creds) return;
    if (creds.password.length < MIN_PASSWORD) {
      sendError(res, 400, 'invalid_password', `Password must be at least ${MIN_PASSWORD} characters`);
      return;
    }
    const hash = await hashPassword(creds.password);
    const { rows } = await deps.db.pool.query<{ email: string; created_at: Date }>(
      `INSERT INTO users (email, password_hash) VALUES ($1, $2)
       ON CONFLICT ((lower(email))) DO NOTHING RETURNING email, created_at`,
      [creds.email, hash],
    );
    if (rows.length === 0) {
      sendError(res, 409, 'email_taken', 'An account with that e-mail already exists');
      return;
    }
    res.status(201).json({ email: rows[0].email, createdAt: rows[0].created_at.toISOString() });
  });

  router.post('/login', async (req, res) => {
    const creds = readCredentials(req, res);
    if (!creds) return;
    const { rows } = await deps.db.pool.query<{ id: string; email: string; password_hash: string }>(
      'SELECT id, email, password_hash FROM users WHERE lower(email) = $1',
      [creds.email],
    );
    const user = rows[0];
    const ok = await verifyPassword(creds.password, user ? user.password_hash : await DUMMY_HASH);
    if (!user || !ok) {
      sendError(res, 401, 'invalid_credentials', BAD_LOGIN);
      return;
    }
    const id = randomBytes(32).toString('base64url');
    await deps.db.pool.query(
      `INSERT INTO sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`,
      [hashSessionId(id), user.id, SESSION_TTL_SECONDS],
    );
    // Opportunistic clean-up of expired sessions; failure here must not fail the login.
    deps.db.pool.query('DELETE FROM sessions WHERE expires_at < now()').catch(() => undefined);
    res.setHeader('Set-Cookie', sessionCookie(req, deps.signer.sign(id), SESSION_TTL_SECONDS));
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).json({ email: user.email });
  });

  router.post('/logout', async (req, res) => {
    const cookie = readCookie(req, SESSION_COOKIE);
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
    res.status(200).json(user);
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
