// A real PostgreSQL for the tests: TEST_DATABASE_URL if set, otherwise a throwaway
// cluster built with the host's PostgreSQL binaries in a temp dir on a free port.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './net.mjs';

/** Highest installed version's bin dir, found by glob rather than a fixed version. */
export function findPgBinDir() {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(path.join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error('no PostgreSQL binaries under /usr/lib/postgresql/*/bin. Hint: apt-get install -y postgresql, or set TEST_DATABASE_URL');
  }
  return path.join(base, versions[0], 'bin');
}

function run(asUser, bin, args) {
  const argv = asUser ? ['runuser', ['-u', asUser, '--', bin, ...args]] : [bin, args];
  try {
    return execFileSync(argv[0], argv[1], { stdio: 'pipe', encoding: 'utf8' });
  } catch (err) {
    throw new Error(`${bin} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/** Start a throwaway cluster; returns { url, stop() }. */
export async function startThrowawayPostgres() {
  const bin = findPgBinDir();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'website-agent-pg-'));
  // initdb refuses to run as root: run the cluster as the postgres user.
  const asUser = process.getuid?.() === 0 ? 'postgres' : null;
  if (asUser) {
    const uid = Number(execFileSync('id', ['-u', asUser], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', asUser], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const port = await freePort();
  run(asUser, path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  run(asUser, path.join(bin, 'pg_ctl'), ['-D', data, '-o', opts, '-l', path.join(dir, 'postgres.log'), '-w', '-t', '30', 'start']);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run(asUser, path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

let ownCluster = null;

/**
 * The database URL for this test file: TEST_DATABASE_URL (set by test/run.mjs), else one
 * cluster per test process, stopped when the process exits.
 */
export async function testDatabase() {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  if (!ownCluster) {
    ownCluster = startThrowawayPostgres();
    const cluster = await ownCluster;
    process.on('exit', () => cluster.stop());
  }
  return (await ownCluster).url;
}

/** A fresh, empty database on the same server (for schema and start-up tests). */
export async function createDatabase(adminUrl, name) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function query(url, sql, params = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}
