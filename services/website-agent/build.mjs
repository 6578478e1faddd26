// Builds server.ts -> server.js and the client -> build/client/assets/app-[hash].{js,css} and
// worker-[hash].js (a module worker the isolated page starts from /assets/),
// copies public/ to build/client/ and writes build/manifest.json with the hashed URLs.
// `node build.mjs client` or `node build.mjs server` builds one of the two. The Dockerfile builds
// them in stages of their own (the server with build-server.sh, which holds its settings), so a
// server edit rebuilds the server bundle alone.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(root, 'build');
const clientOut = path.join(out, 'client');

async function buildClient() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(clientOut, { recursive: true });
  cpSync(path.join(root, 'public'), clientOut, { recursive: true });

  const client = await build({
    absWorkingDir: root,
    entryPoints: { app: 'client/app.ts', worker: 'client/worker.ts' },
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'esm',
    target: ['es2020'],
    outdir: path.join(clientOut, 'assets'),
    entryNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
  });

  let js;
  let css;
  let worker;
  for (const [file, info] of Object.entries(client.metafile.outputs)) {
    if (info.entryPoint === 'client/app.ts') {
      js = file;
      css = info.cssBundle;
    }
    if (info.entryPoint === 'client/worker.ts') worker = file;
  }
  if (!js || !css || !worker) throw new Error('client build did not produce app js and css and the worker');
  const toUrl = (file) => '/assets/' + path.basename(file);
  const manifest = { js: toUrl(js), css: toUrl(css), worker: toUrl(worker) };
  writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return [manifest.js, manifest.css, manifest.worker];
}

function buildServer() {
  execFileSync('sh', [path.join(root, 'build-server.sh')], { stdio: 'inherit' }); // its esbuild settings
  return ['server.js'];
}

const only = process.argv[2];
if (only !== undefined && only !== 'client' && only !== 'server') {
  console.error(`usage: node build.mjs [client|server] (not ${only})`);
  process.exit(2);
}
const built = [];
if (only !== 'server') built.push(...(await buildClient()));
if (only !== 'client') built.unshift(...buildServer());
console.log(`built ${built.join(', ')}`);
