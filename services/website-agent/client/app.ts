import './app.css';

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function setState(node: HTMLElement, value: string, good: boolean | null): void {
  node.textContent = value;
  node.dataset.state = good === null ? 'neutral' : good ? 'good' : 'bad';
}

interface ApiError {
  error?: string;
  message?: string;
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { error: 'bad_response', message: text.slice(0, 200) || `HTTP ${response.status}` };
  }
}

// ---- cross-origin isolation ---------------------------------------------
function showIsolation(): void {
  setState($('coi-status'), String(self.crossOriginIsolated === true), self.crossOriginIsolated === true);
  const hasSab = typeof SharedArrayBuffer === 'function';
  setState($('sab-status'), String(hasSab), hasSab);
}

async function showCrawlerHealth(): Promise<void> {
  const node = $('crawler-status');
  try {
    const response = await fetch('/api/crawler/health', { headers: { accept: 'application/json' } });
    setState(node, response.ok ? 'ok' : 'unavailable', response.ok);
  } catch {
    setState(node, 'unavailable', false);
  }
}

// ---- crawl ----------------------------------------------------------------
interface LinkLike {
  href?: string;
  url?: string;
  text?: string;
  title?: string;
}

/** Accepts {title, links} at the top level or under result/data; links as strings or objects. */
function extractPage(body: unknown): { title: string; links: { href: string; text: string }[] } {
  const root = (body ?? {}) as Record<string, unknown>;
  const inner = [root, root.result, root.data, root.page].find(
    (c): c is Record<string, unknown> => typeof c === 'object' && c !== null && ('title' in c || 'links' in c),
  ) ?? root;
  const title = typeof inner.title === 'string' ? inner.title : '';
  let rawLinks: unknown = inner.links;
  if (rawLinks && typeof rawLinks === 'object' && !Array.isArray(rawLinks)) {
    // crawl4ai style: {internal: [...], external: [...]}
    const grouped = rawLinks as Record<string, unknown>;
    rawLinks = [grouped.internal, grouped.external].filter(Array.isArray).flat();
  }
  const links = (Array.isArray(rawLinks) ? rawLinks : []).map((item: unknown) => {
    if (typeof item === 'string') return { href: item, text: item };
    const link = (item ?? {}) as LinkLike;
    const href = link.href ?? link.url ?? '';
    return { href, text: link.text?.trim() || link.title || href };
  });
  return { title, links };
}

function renderCrawlResult(body: unknown, target: HTMLElement): void {
  const { title, links } = extractPage(body);
  target.replaceChildren();
  target.append(el('h3', { id: 'crawl-title' }, title || '(no title)'));
  target.append(el('p', { class: 'hint', id: 'crawl-count' }, `${links.length} link${links.length === 1 ? '' : 's'}`));
  const list = el('ul', { id: 'crawl-links', class: 'links' });
  for (const link of links) {
    const li = el('li');
    if (/^https?:\/\//i.test(link.href)) {
      const a = el('a', { href: link.href, target: '_blank', rel: 'noopener noreferrer' }, link.text);
      li.append(a);
      if (link.text !== link.href) li.append(el('span', { class: 'url' }, link.href));
    } else {
      // Not a navigable absolute URL: show the raw value so it stays recognisable.
      li.textContent = link.href || link.text;
    }
    list.append(li);
  }
  target.append(list);
}

function renderCrawlError(message: string, code: string, target: HTMLElement): void {
  target.replaceChildren(el('p', { id: 'crawl-error', class: 'error', 'data-code': code }, message));
}

function setupCrawl(): void {
  const form = $('crawl-form') as HTMLFormElement;
  const input = $('crawl-url') as HTMLInputElement;
  const button = $('crawl-submit') as HTMLButtonElement;
  const result = $('crawl-result');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    result.replaceChildren(el('p', { class: 'hint', id: 'crawl-pending' }, 'Crawling…'));
    try {
      const response = await fetch('/api/crawl', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ url: input.value.trim() }),
      });
      const body = await readJson(response);
      if (response.ok) {
        renderCrawlResult(body, result);
      } else {
        const err = body as ApiError;
        renderCrawlError(err.message || `Crawl failed (HTTP ${response.status})`, err.error || `http_${response.status}`, result);
      }
    } catch (err) {
      renderCrawlError(`Network error: ${(err as Error).message}`, 'network_error', result);
    } finally {
      button.disabled = false;
    }
  });
}

// ---- SSE --------------------------------------------------------------------
function setupStream(): void {
  const secondsInput = $('stream-seconds') as HTMLInputElement;
  const start = $('stream-start') as HTMLButtonElement;
  const log = $('stream-log');
  const status = $('stream-status');
  let source: EventSource | null = null;

  start.addEventListener('click', () => {
    source?.close();
    log.replaceChildren();
    const seconds = Number(secondsInput.value);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 600) {
      setState(status, 'invalid seconds (1-600)', false);
      return;
    }
    setState(status, 'connecting', null);
    const es = new EventSource(`/api/stream?seconds=${seconds}`);
    source = es;
    es.addEventListener('open', () => setState(status, 'streaming', null));
    es.addEventListener('tick', (event) => {
      const e = event as MessageEvent<string>;
      let text = `#${e.lastEventId}`;
      try {
        const data = JSON.parse(e.data) as { n: number; of?: number; at: string };
        text = `#${e.lastEventId} · tick ${data.n}${data.of ? ` of ${data.of}` : ''} · ${new Date(data.at).toLocaleTimeString()}`;
      } catch {
        /* keep the id only */
      }
      const li = el('li', { 'data-id': e.lastEventId }, text);
      log.append(li);
      li.scrollIntoView({ block: 'nearest' });
    });
    es.addEventListener('done', () => {
      es.close();
      setState(status, 'done', true);
    });
    es.addEventListener('error', () => {
      if (source !== es || status.textContent === 'done') return;
      // CLOSED: the server refused (e.g. 400); otherwise EventSource is reconnecting by itself.
      setState(status, es.readyState === EventSource.CLOSED ? 'error' : 'reconnecting', es.readyState === EventSource.CLOSED ? false : null);
    });
  });
}

// ---- auth -------------------------------------------------------------------
function setupAuth(): void {
  const form = $('auth-form') as HTMLFormElement;
  const email = $('auth-email') as HTMLInputElement;
  const password = $('auth-password') as HTMLInputElement;
  const status = $('auth-status');

  async function refresh(): Promise<void> {
    try {
      const response = await fetch('/api/auth/me', { headers: { accept: 'application/json' } });
      const body = (await readJson(response)) as { email?: string } & ApiError;
      if (response.ok) setState(status, `logged in as ${body.email}`, true);
      else if (response.status === 401) setState(status, 'logged out', null);
      else setState(status, body.message || `unavailable (HTTP ${response.status})`, false);
    } catch {
      setState(status, 'unavailable', false);
    }
  }

  async function send(pathname: string): Promise<void> {
    const response = await fetch(pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ email: email.value, password: password.value }),
    });
    if (!response.ok) {
      const body = (await readJson(response)) as ApiError;
      setState(status, body.message || `failed (HTTP ${response.status})`, false);
      return;
    }
    if (pathname.endsWith('/signup')) {
      await send('/api/auth/login');
      return;
    }
    password.value = '';
    await refresh();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void send('/api/auth/login');
  });
  $('auth-signup').addEventListener('click', () => void send('/api/auth/signup'));
  $('auth-logout').addEventListener('click', async () => {
    // JSON only: the server refuses a log-out a cross-site form could send.
    await fetch('/api/auth/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await refresh();
  });
  void refresh();
}

// ---- a module worker from /assets/ (what WebContainer does): it must start, isolated too
function startWorker(): void {
  const node = $('worker-status');
  const url = document.querySelector<HTMLMetaElement>('meta[name="worker"]')?.content;
  if (!url) {
    setState(node, 'no worker', false);
    return;
  }
  try {
    const worker = new Worker(url, { type: 'module' });
    worker.addEventListener('message', (event: MessageEvent<{ isolated: boolean }>) => {
      setState(node, event.data.isolated ? 'isolated' : 'not isolated', event.data.isolated);
      worker.terminate();
    });
    worker.addEventListener('error', () => setState(node, 'failed', false));
  } catch {
    setState(node, 'failed', false);
  }
}

showIsolation();
startWorker();
setupCrawl();
setupStream();
setupAuth();
void showCrawlerHealth();
