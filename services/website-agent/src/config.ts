/**
 * Settings read once from the environment at start-up. Secret values are
 * kept here and never logged; `describeConfig` shows only what is safe.
 */
export interface Config {
  host: string;
  port: number;
  nodeEnv: string;
  crawlerApiUrl: string | null;
  crawlerTimeoutMs: number;
  crawlerHealthTimeoutMs: number;
  databaseUrl: string;
  authSecret: string;
  trustedProxyHops: number;
  /** Session limits (the spec sets both): absolute after log-in, and idle. */
  sessionAbsoluteSeconds: number;
  sessionIdleSeconds: number;
  publicUrl: string | null;
}

export class ConfigError extends Error {}

function intSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`${name} is required but not set; refusing to start`);
  }
  return value;
}

/** Parse and validate the environment; throws ConfigError with a one-line message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const authSecret = required(env, 'BETTER_AUTH_SECRET');
  const sessionAbsoluteSeconds = intSetting(env, 'SESSION_ABSOLUTE_TIMEOUT_SECONDS', 8 * 3600, 60, 30 * 24 * 3600);
  const sessionIdleSeconds = intSetting(env, 'SESSION_IDLE_TIMEOUT_SECONDS', 30 * 60, 60, 30 * 24 * 3600);
  if (sessionIdleSeconds > sessionAbsoluteSeconds) {
    throw new ConfigError(`SESSION_IDLE_TIMEOUT_SECONDS (${sessionIdleSeconds}) must not exceed SESSION_ABSOLUTE_TIMEOUT_SECONDS (${sessionAbsoluteSeconds})`);
  }
  const databaseUrl = required(env, 'DATABASE_URL');
  const crawlerRaw = (env.CRAWLER_API_URL ?? '').trim();
  let crawlerApiUrl: string | null = null;
  if (crawlerRaw !== '') {
    let parsed: URL;
    try {
      parsed = new URL(crawlerRaw);
    } catch {
      throw new ConfigError(`CRAWLER_API_URL is not a valid URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ConfigError(`CRAWLER_API_URL must be an http(s) URL`);
    }
    crawlerApiUrl = crawlerRaw.replace(/\/+$/, '');
  }
  const publicRaw = (env.PUBLIC_URL ?? '').trim();
  let publicUrl: string | null = null;
  if (publicRaw !== '') {
    let parsed: URL;
    try {
      parsed = new URL(publicRaw);
    } catch {
      throw new ConfigError('PUBLIC_URL is not a valid URL');
    }
    if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || (parsed.pathname !== '/' && parsed.pathname !== '')) {
      throw new ConfigError('PUBLIC_URL must be an http(s) origin without a path, e.g. https://app.example.com');
    }
    publicUrl = parsed.origin;
  }
  return {
    host: (env.HOST ?? '').trim() || '0.0.0.0',
    port: intSetting(env, 'PORT', 5171, 0, 65535),
    nodeEnv: (env.NODE_ENV ?? '').trim() || 'development',
    crawlerApiUrl,
    crawlerTimeoutMs: intSetting(env, 'CRAWLER_TIMEOUT_MS', 45_000, 1, 600_000),
    crawlerHealthTimeoutMs: intSetting(env, 'CRAWLER_HEALTH_TIMEOUT_MS', 5_000, 1, 60_000),
    databaseUrl,
    authSecret,
    // CloudFront and the ALB each append their peer to X-Forwarded-For (the local edge does both).
    trustedProxyHops: intSetting(env, 'TRUSTED_PROXY_HOPS', 2, 0, 10),
    sessionAbsoluteSeconds,
    sessionIdleSeconds,
    publicUrl,
  };
}

/** The settings that are safe to print (no secrets, no credentials). */
export function describeConfig(config: Config): string {
  let crawler = 'not set';
  if (config.crawlerApiUrl) {
    const u = new URL(config.crawlerApiUrl);
    crawler = `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  }
  let db = 'set';
  try {
    const u = new URL(config.databaseUrl);
    db = `${u.hostname || 'socket'}:${u.port || '5432'}${u.pathname}`;
  } catch {
    /* not a URL form: say only that it is set */
  }
  return `env=${config.nodeEnv} publicUrl=${config.publicUrl ?? 'not set'} crawler=${crawler} crawlerTimeoutMs=${config.crawlerTimeoutMs} trustedProxyHops=${config.trustedProxyHops} sessions=${config.sessionAbsoluteSeconds}s/idle ${config.sessionIdleSeconds}s db=${db}`;
}
