import pg from 'pg';

/** Any constant works; it only has to be the same in every replica. */
const SCHEMA_LOCK_KEY = 517_100_001;

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS users (
  id            BIGSERIAL PRIMARY KEY,
  email         TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email));
CREATE TABLE IF NOT EXISTS sessions (
  id_hash     TEXT PRIMARY KEY,
  user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);
-- The idle limit (added later: sessions made before it count as used at the upgrade).
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now();
-- Per-account backoff on failed log-ins, shared by every replica (auth.ts, LOGIN_BACKOFF).
CREATE TABLE IF NOT EXISTS login_attempts (
  email_key       TEXT PRIMARY KEY,
  failures        INTEGER NOT NULL DEFAULT 0,
  last_failure_at TIMESTAMPTZ,
  locked_until    TIMESTAMPTZ
);
`;

/**
 * The pool plus a readiness flag: the server listens (and /healthz answers)
 * before the database is reachable; auth routes answer 503 until `ready`.
 */
export class Database {
  readonly pool: pg.Pool;
  ready = false;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(connectionString: string) {
    this.pool = new pg.Pool({
      connectionString,
      max: 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its connection must not crash the process.
    this.pool.on('error', (err) => {
      console.error(`database: idle client error: ${err.message}`);
    });
  }

  /** Create tables once; an advisory lock serialises replicas starting together. */
  async ensureSchema(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
      await client.query(SCHEMA_SQL);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * Retry schema setup with capped exponential backoff until it succeeds or
   * `close` is called. Never throws; logs one line per failed attempt.
   */
  async connectWithRetry(baseDelayMs = 500, maxDelayMs = 10_000): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.ensureSchema();
        this.ready = true;
        console.log(`database: ready (schema checked, attempt ${attempt})`);
        return;
      } catch (err) {
        if (this.stopped) return;
        const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
        console.error(`database: not reachable (${describePgError(err)}); retry ${attempt} in ${jittered} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, jittered);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.pool.end().catch(() => undefined);
  }
}

/** A short description of a pg/network error that cannot contain credentials. */
export function describePgError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const code = e?.code ? `${e.code}: ` : '';
  // pg messages name the server and database, never the password.
  return `${code}${e?.message ?? String(err)}`.slice(0, 300);
}

/** Errors that mean "the database is not there right now" rather than a bug. */
export function isUnavailableError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? '';
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', '57P01', '57P03', '3D000', '53300'].includes(code)) {
    return true;
  }
  if (code.startsWith('08')) return true; // connection exception class
  const message = e?.message ?? '';
  return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED/i.test(message);
}
