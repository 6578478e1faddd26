/**
 * website-agent entry point (plan section 5.1): Express behind ALB/CloudFront,
 * cross-origin isolated pages, SSE, crawler proxy and PostgreSQL-backed auth.
 * Built by build.mjs into server.js; run with `node server.js`.
 */
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from './src/app.js';
import { ConfigError, describeConfig, loadConfig, type Config } from './src/config.js';
import { Database } from './src/db.js';
import { loadManifest, type AssetManifest } from './src/pages.js';
import { StreamRegistry } from './src/stream.js';

const SHUTDOWN_GRACE_MS = 8_000; // below docker stop's 10 s and ECS's 30 s stopTimeout
const here = path.dirname(fileURLToPath(import.meta.url));
const buildDir = path.join(here, 'build');

function fail(message: string): never {
  console.error(`website-agent: ${message}`);
  process.exit(1);
}

let config: Config;
let assets: AssetManifest;
try {
  config = loadConfig();
  assets = loadManifest(buildDir);
} catch (err) {
  fail(err instanceof ConfigError || err instanceof Error ? err.message : String(err));
}
if (config.authSecret.length < 32) {
  console.warn('website-agent: BETTER_AUTH_SECRET is shorter than 32 characters; use a long random value in production');
}

const db = new Database(config.databaseUrl);
const streams = new StreamRegistry();
const app = createApp({
  buildDir,
  assets,
  db,
  authSecret: config.authSecret,
  crawler: { baseUrl: config.crawlerApiUrl, timeoutMs: config.crawlerTimeoutMs, healthTimeoutMs: config.crawlerHealthTimeoutMs },
  streams,
  trustedProxyHops: config.trustedProxyHops,
  sessions: { absoluteSeconds: config.sessionAbsoluteSeconds, idleSeconds: config.sessionIdleSeconds },
  publicUrl: config.publicUrl,
});

const server = http.createServer(app);
// Longer than the ALB idle timeout (300 s in the plan) so the proxy, not us, closes idle keep-alives.
server.keepAliveTimeout = 310_000;

server.on('error', (err: NodeJS.ErrnoException) => fail(`cannot listen on ${config.host}:${config.port}: ${err.code ?? err.message}`));
server.listen(config.port, config.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  console.log(`website-agent listening on http://${shownHost}:${port} (${describeConfig(config)})`);
});

// Listening first keeps /healthz answering while the database comes up.
void db.connectWithRetry();

let shuttingDown = false;
function shutdown(signal: string): void {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`website-agent: ${signal} received, shutting down`);
  const force = setTimeout(() => {
    console.error('website-agent: shutdown grace period over, exiting');
    server.closeAllConnections();
    process.exit(0);
  }, SHUTDOWN_GRACE_MS);
  force.unref();
  server.close(() => {
    void db.close().then(() => {
      console.log('website-agent: stopped');
      process.exit(0);
    });
  });
  streams.endAll();
  server.closeIdleConnections();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
