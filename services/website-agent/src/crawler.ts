import { Router, type Response } from 'express';
import type { SessionUser } from './auth.js';
import { hasJsonBody, sendError } from './http.js';

/** The most the crawler's answers may weigh; a bigger one is refused, not read on. A crawl
 *  document within the crawler's own caps is far below it. */
export const MAX_CRAWL_BYTES = 512 * 1024;
const MAX_HEALTH_BYTES = 16 * 1024;

export interface CrawlerDeps {
  baseUrl: string | null;
  timeoutMs: number;
  healthTimeoutMs: number;
}

interface UpstreamReply {
  status: number;
  body: unknown;
  isJson: boolean;
}

class UpstreamError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function causeCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; errors?: { code?: string }[] } };
  return e?.cause?.code ?? e?.cause?.errors?.[0]?.code ?? e?.code ?? '';
}

/**
 * One bounded request to the crawler. The timer covers the whole exchange
 * (connect, headers and body), so a slow crawler can never hang the caller.
 */
/** fetch's Response (express's is imported under the plain name). */
type FetchResponse = globalThis.Response;

/** The body as text, refusing (and aborting) past ``limit`` bytes. */
async function readCapped(response: FetchResponse, limit: number, abort: () => void): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  const tooBig = () => new UpstreamError(502, 'crawler_bad_response', `The crawler's answer is larger than ${limit} bytes`);
  if (declared > limit) {
    abort();
    throw tooBig();
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) {
      abort();
      throw tooBig();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function callCrawler(url: string, init: RequestInit, timeoutMs: number, clientGone: AbortSignal, limit: number): Promise<UpstreamReply> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onClientGone = () => controller.abort();
  clientGone.addEventListener('abort', onClientGone);
  try {
    const response = await fetch(url, { ...init, signal: controller.signal, redirect: 'manual' });
    const text = await readCapped(response, limit, () => controller.abort());
    let body: unknown = text;
    let isJson = false;
    try {
      body = JSON.parse(text);
      isJson = true;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: response.status, body, isJson };
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    if (timedOut) throw new UpstreamError(504, 'crawler_timeout', `The crawler did not answer within ${timeoutMs} ms`);
    if (clientGone.aborted) throw new UpstreamError(499, 'client_closed', 'The client went away');
    const code = causeCode(err);
    if (UNREACHABLE_CODES.has(code)) {
      throw new UpstreamError(503, 'crawler_unavailable', `The crawler is not reachable (${code})`);
    }
    throw new UpstreamError(502, 'crawler_failed', `The crawler connection failed${code ? ` (${code})` : ''}`);
  } finally {
    clearTimeout(timer);
    clientGone.removeEventListener('abort', onClientGone);
  }
}

/** A signal that fires when the client disconnects before we answered. */
function clientSignal(res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Turn a crawler 4xx body (ours, FastAPI's {"detail"}, or text) into {error, message}. */
function describeRejection(reply: UpstreamReply): { error: string; message: string } {
  const body = (reply.isJson && typeof reply.body === 'object' && reply.body !== null ? reply.body : {}) as Record<string, unknown>;
  const error = typeof body.error === 'string' && /^[a-z0-9_.-]{1,64}$/i.test(body.error) ? body.error : 'crawler_rejected';
  let message: string;
  if (typeof body.message === 'string') message = body.message;
  else if (typeof body.detail === 'string') message = body.detail;
  else if (body.detail !== undefined) message = JSON.stringify(body.detail);
  else if (typeof reply.body === 'string' && reply.body.trim() !== '') message = reply.body.trim();
  else message = `The crawler rejected the request (HTTP ${reply.status})`;
  return { error, message: message.slice(0, 500) };
}

const str = (value: unknown, cap: number): string => (typeof value === 'string' ? value.slice(0, cap) : '');

function httpUrl(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 2048) return null;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? value : null;
  } catch {
    return null;
  }
}

/**
 * Only the crawl document's documented fields, each of its type and within the crawler's
 * own caps, whatever the crawler (or a page that fooled it) sent; null when it is not a
 * crawl document at all.
 */
export function crawlDocument(body: unknown): Record<string, unknown> | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  if (typeof b.id !== 'string' || !/^[0-9a-f]{24}$/.test(b.id)) return null;
  const links: { url: string; text: string }[] = [];
  for (const item of Array.isArray(b.links) ? b.links.slice(0, 1000) : []) {
    const link = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const url = httpUrl(link.url);
    if (url) links.push({ url, text: str(link.text, 500) });
  }
  return {
    id: b.id,
    url: str(b.url, 2048),
    final_url: str(b.final_url, 2048),
    status: Number.isInteger(b.status) ? b.status : null,
    title: str(b.title, 1000),
    description: typeof b.description === 'string' ? b.description.slice(0, 2000) : null,
    text: str(b.text, 20_000),
    text_truncated: b.text_truncated === true,
    links,
    crawled_at: str(b.crawled_at, 64),
  };
}

function validTarget(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 2048) return null;
  let parsed: URL;
  try {
    parsed = new URL(value.trim());
  } catch {
    return null;
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') return null;
  return parsed.toString();
}

export function crawlerRouter(deps: CrawlerDeps): Router {
  const router = Router();

  router.post('/crawl', async (req, res) => {
    if (!hasJsonBody(req)) {
      sendError(res, 400, 'invalid_body', 'Expected a JSON body {"url": "https://..."}');
      return;
    }
    const target = validTarget((req.body as Record<string, unknown>).url);
    if (!target) {
      sendError(res, 400, 'invalid_url', 'Provide an absolute http:// or https:// URL');
      return;
    }
    if (!deps.baseUrl) {
      sendError(res, 503, 'crawler_not_configured', 'CRAWLER_API_URL is not set');
      return;
    }
    // Whose crawl it is: the crawler limits pages and queue per user.
    const user = res.locals.user as SessionUser | undefined;
    try {
      const reply = await callCrawler(
        `${deps.baseUrl}/crawl`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...(user ? { 'x-crawl-user': user.id } : {}) },
          body: JSON.stringify({ url: target }),
        },
        deps.timeoutMs,
        clientSignal(res),
        MAX_CRAWL_BYTES,
      );
      if (reply.status >= 200 && reply.status < 300) {
        const doc = reply.isJson ? crawlDocument(reply.body) : null;
        if (!doc) {
          sendError(res, 502, 'crawler_bad_response', 'The crawler answered with something that is not a crawl document');
          return;
        }
        res.setHeader('Cache-Control', 'no-store');
        res.status(200).json(doc);
      } else if (reply.status >= 400 && reply.status < 500) {
        const { error, message } = describeRejection(reply);
        sendError(res, reply.status, error, message);
      } else {
        sendError(res, 502, 'crawler_failed', `The crawler failed (HTTP ${reply.status})`);
      }
    } catch (err) {
      if (err instanceof UpstreamError) {
        if (err.status === 499) return; // nobody is listening any more
        sendError(res, err.status, err.code, err.message);
        return;
      }
      throw err;
    }
  });

  router.get('/crawler/health', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    if (!deps.baseUrl) {
      sendError(res, 503, 'crawler_not_configured', 'CRAWLER_API_URL is not set');
      return;
    }
    try {
      const reply = await callCrawler(`${deps.baseUrl}/health`, { method: 'GET', headers: { accept: 'application/json' } }, deps.healthTimeoutMs, clientSignal(res), MAX_HEALTH_BYTES);
      const body = (reply.isJson && typeof reply.body === 'object' && reply.body !== null ? reply.body : {}) as Record<string, unknown>;
      if (reply.status >= 200 && reply.status < 300 && body.ready === false) {
        // Live (its container health check passes) but it cannot store a crawl: MongoDB is away.
        sendError(res, 503, 'crawler_not_ready', `The crawler is up but not ready (mongodb: ${String(body.mongodb ?? 'unknown').slice(0, 40)})`);
      } else if (reply.status >= 200 && reply.status < 300) {
        // The crawler's own status (no page writes it), at most 16 kB of it.
        res.status(200).json({ status: 'ok', crawler: reply.body });
      } else {
        sendError(res, 503, 'crawler_unhealthy', `The crawler health check answered HTTP ${reply.status}`);
      }
    } catch (err) {
      if (err instanceof UpstreamError) {
        if (err.status === 499) return;
        // A broken connection on a health check means "unhealthy", whatever the cause.
        sendError(res, err.status === 504 ? 504 : 503, err.code, err.message);
        return;
      }
      throw err;
    }
  });

  return router;
}
