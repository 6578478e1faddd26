// Starts the real built server.js as a child process and waits for its "listening" line.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SERVICE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEST_SECRET = 'test-secret-0123456789abcdef-0123456789abcdef';

// Servers a failed test forgot to stop must not outlive (or keep alive) the test process.
const running = new Set();
process.on('exit', () => {
  for (const proc of running) proc.kill('SIGKILL');
});

/**
 * Spawn `node server.js` with PORT=0 and the given env. Resolves with
 * { url, proc, output(), stop() } once it listens; rejects if it exits first.
 */
export function startServer(env = {}, { timeoutMs = 10_000 } = {}) {
  const proc = spawn(process.execPath, ['server.js'], {
    cwd: SERVICE_DIR,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      BETTER_AUTH_SECRET: TEST_SECRET,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  proc.unref();
  proc.stdout.unref();
  proc.stderr.unref();
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) =>
    proc.on('exit', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal });
    }),
  );

  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return exited;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start within ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const m = out.match(/listening on http:\/\/([^\s:]+|\[[^\]]+\]):(\d+)/);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        resolve({ url: `http://127.0.0.1:${m[2]}`, proc, exited, output: () => out, stop });
      }
    };
    proc.stdout.on('data', onData);
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`server exited with ${code} before listening; output:\n${out}`), { code, output: out }));
    });
  });
}

/** Poll until fn() is truthy or the deadline passes. */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/** Wait until the schema is in place (auth answers 401 rather than 503). */
export function waitForDbReady(url) {
  return waitFor(async () => (await fetch(`${url}/api/auth/me`)).status === 401, { what: 'database ready', timeoutMs: 15_000 });
}

/** Sign up a fresh user and log in: the `session=...` cookie pair to send. */
export async function loginSession(url) {
  const creds = { email: `crawler-user-${Date.now()}-${Math.random().toString(16).slice(2)}@example.test`, password: 'correct horse battery' };
  const post = (path) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(creds) });
  const signup = await post('/api/auth/signup');
  if (signup.status !== 201) throw new Error(`sign-up answered ${signup.status}`);
  const login = await post('/api/auth/login');
  if (login.status !== 200) throw new Error(`log-in answered ${login.status}`);
  return login.headers.get('set-cookie').split(';')[0];
}
