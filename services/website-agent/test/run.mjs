// `npm test`: one PostgreSQL for the whole run (TEST_DATABASE_URL, or a throwaway
// cluster started here), then node's built-in test runner over test/*.test.mjs.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startThrowawayPostgres } from './helpers/postgres.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.mjs'))
  .sort()
  .map((f) => path.join(here, f));
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;

let cluster = null;
const env = { ...process.env };
if (!env.TEST_DATABASE_URL) {
  const started = Date.now();
  cluster = await startThrowawayPostgres();
  env.TEST_DATABASE_URL = cluster.url;
  console.log(`# throwaway PostgreSQL ready in ${Date.now() - started} ms`);
}

const cleanup = () => {
  try {
    cluster?.stop();
  } catch (err) {
    console.error(`# could not stop PostgreSQL: ${err.message}`);
  }
};

const child = spawn(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=4', ...selected], { stdio: 'inherit', env });
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => child.kill(sig));
}
child.on('exit', (code, signal) => {
  cleanup();
  process.exit(code ?? (signal ? 1 : 0));
});
