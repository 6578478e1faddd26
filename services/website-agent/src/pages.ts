import { readFileSync } from 'node:fs';
import path from 'node:path';
import { escapeHtml } from './http.js';

/** Hashed client asset URLs, written by build.mjs. */
export interface AssetManifest {
  js: string;
  css: string;
  /** The module worker (same-origin, under /assets/ like the rest of the client). */
  worker: string;
}

export function loadManifest(buildDir: string): AssetManifest {
  const file = path.join(buildDir, 'manifest.json');
  let parsed: Partial<AssetManifest>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<AssetManifest>;
  } catch {
    throw new Error(`client build missing or unreadable (${file}); run "npm run build" first`);
  }
  if (typeof parsed.js !== 'string' || typeof parsed.css !== 'string' || typeof parsed.worker !== 'string') {
    throw new Error(`client manifest ${file} lacks "js"/"css"/"worker" entries; rebuild`);
  }
  return { js: parsed.js, css: parsed.css, worker: parsed.worker };
}

/** The start page. Absolute URLs come from ``publicUrl`` (PUBLIC_URL), never from a request's Host. */
export function homePage(assets: AssetManifest, publicUrl: string | null = null): string {
  const js = escapeHtml(assets.js);
  const css = escapeHtml(assets.css);
  const canonical = publicUrl ? `\n  <link rel="canonical" href="${escapeHtml(publicUrl)}/">` : '';
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>HuskIT Website Agent</title>
  <meta name="description" content="Reference website-agent service: SSR, SSE streaming, crawler proxy and auth.">
  <link rel="icon" href="/favicon.svg" type="image/svg+xml">${canonical}
  <meta name="worker" content="${escapeHtml(assets.worker)}">
  <link rel="stylesheet" href="${css}">
  <script type="module" src="${js}"></script>
</head>
<body>
  <header class="top">
    <div class="brand"><img src="/favicon.svg" alt="" width="28" height="28"><span>HuskIT Website Agent</span></div>
    <div class="badges">
      <span class="badge">crossOriginIsolated <code id="coi-status" data-state="pending">…</code></span>
      <span class="badge">SharedArrayBuffer <code id="sab-status" data-state="pending">…</code></span>
      <span class="badge">worker <code id="worker-status" data-state="pending">…</code></span>
      <span class="badge">crawler <code id="crawler-status" data-state="pending">…</code></span>
    </div>
  </header>

  <main>
    <section class="card" aria-labelledby="crawl-heading">
      <h2 id="crawl-heading">Crawl a page</h2>
      <p class="hint">The server forwards the URL to the crawler service and shows its answer.</p>
      <form id="crawl-form" class="row" autocomplete="off">
        <input id="crawl-url" name="url" type="url" required placeholder="https://example.com" aria-label="URL to crawl">
        <button id="crawl-submit" type="submit">Crawl</button>
      </form>
      <div id="crawl-result" aria-live="polite"></div>
    </section>

    <section class="card" aria-labelledby="stream-heading">
      <h2 id="stream-heading">Streaming (Server-Sent Events)</h2>
      <p class="hint">One tick per second from <code>/api/stream</code>, delivered as it happens.</p>
      <div class="row">
        <label for="stream-seconds">Seconds</label>
        <input id="stream-seconds" type="number" min="1" max="600" step="1" value="5">
        <button id="stream-start" type="button">Start stream</button>
        <span class="status">status: <code id="stream-status">idle</code></span>
      </div>
      <ul id="stream-log" class="log"></ul>
    </section>

    <section class="card" aria-labelledby="auth-heading">
      <h2 id="auth-heading">Account</h2>
      <form id="auth-form" class="row" autocomplete="on">
        <input id="auth-email" name="email" type="email" placeholder="you@example.com" aria-label="E-mail" autocomplete="username">
        <input id="auth-password" name="password" type="password" placeholder="password (8+ characters)" aria-label="Password" autocomplete="current-password">
        <button id="auth-login" type="submit">Log in</button>
        <button id="auth-signup" type="button" class="secondary">Sign up</button>
        <button id="auth-logout" type="button" class="secondary">Log out</button>
      </form>
      <p class="status">session: <code id="auth-status">…</code></p>
    </section>

    <section class="card" aria-labelledby="preview-heading">
      <h2 id="preview-heading">Preview</h2>
      <p class="hint">Preview pages are served without COEP/COOP: <a id="preview-link" href="/webcontainer/vercel-preview/" target="_blank" rel="noopener">open preview</a></p>
    </section>
  </main>
  <footer>website-agent · <a href="/healthz">/healthz</a></footer>
</body>
</html>
`;
}

export function previewPage(subPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Preview</title>
  <style>body{font:16px/1.5 system-ui,sans-serif;margin:2rem;color:#1f2937}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}</style>
</head>
<body>
  <h1>Vercel preview</h1>
  <p id="preview-path">Path: <code>${escapeHtml(subPath)}</code></p>
  <p>This page stands for the preview iframe; it is served without cross-origin isolation headers.</p>
</body>
</html>
`;
}

export function notFoundPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;margin:2rem"><h1>Not found</h1><p><a href="/">Back to the start page</a></p></body></html>
`;
}
