import type { Request, Response } from 'express';
import { sendError } from './http.js';

const DEFAULT_SECONDS = 10;
const MAX_SECONDS = 600;
const TICK_MS = 1_000;

/** Open SSE responses, so shutdown can end them instead of waiting for them. */
export class StreamRegistry {
  private readonly open = new Set<Response>();

  add(res: Response): void {
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
  }

  get size(): number {
    return this.open.size;
  }

  /** End every stream; clients' EventSource reconnects (to another replica) with Last-Event-ID. */
  endAll(): void {
    for (const res of this.open) {
      if (res.headersSent) {
        res.write('event: shutdown\ndata: {}\n\n');
        res.end();
      } else {
        // Still in its delay: nothing was sent yet, so an ordinary 503 the client can retry.
        sendError(res, 503, 'shutting_down', 'This replica is shutting down; retry');
      }
    }
    this.open.clear();
  }
}

function parseSeconds(raw: unknown, fallback: number, min: number): number | null {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d{1,3}$/.test(raw)) return null;
  const n = Number(raw);
  return n >= min && n <= MAX_SECONDS ? n : null;
}

/**
 * GET /api/stream?seconds=N&delay=S: after S seconds of silence (default 0:
 * not even the status line and headers, like an origin slow to answer), one
 * `tick` event per second (id 1..N), then `done`. Each event is written as
 * soon as it exists: compression skips text/event-stream and
 * X-Accel-Buffering stops nginx-style proxies buffering.
 */
export function streamHandler(registry: StreamRegistry) {
  return (req: Request, res: Response): void => {
    const seconds = parseSeconds(req.query.seconds, DEFAULT_SECONDS, 1);
    if (seconds === null) {
      sendError(res, 400, 'invalid_seconds', `seconds must be an integer from 1 to ${MAX_SECONDS}`);
      return;
    }
    const delay = parseSeconds(req.query.delay, 0, 0);
    if (delay === null) {
      sendError(res, 400, 'invalid_delay', `delay must be an integer from 0 to ${MAX_SECONDS}`);
      return;
    }
    registry.add(res);
    if (delay === 0) {
      startStream(req, res, seconds);
      return;
    }
    const wait = setTimeout(() => {
      if (!res.writableEnded && !res.destroyed) startStream(req, res, seconds);
    }, delay * 1000);
    res.on('close', () => clearTimeout(wait));
  };
}

/** The stream itself: headers, the opening comment, ticks, `done`. */
function startStream(req: Request, res: Response, seconds: number): void {
  // A reconnecting EventSource sends the last id it saw: carry on from there.
  const lastId = Number(req.get('last-event-id'));
  let n = Number.isInteger(lastId) && lastId > 0 ? Math.min(lastId, seconds) : 0;

  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('Connection', 'keep-alive');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  res.write(': stream open\n\n');

  const finish = () => {
    res.write(`event: done\ndata: ${JSON.stringify({ total: seconds, at: new Date().toISOString() })}\n\n`);
    res.end();
  };
  if (n >= seconds) {
    finish();
    return;
  }
  const timer = setInterval(() => {
    n += 1;
    res.write(`event: tick\nid: ${n}\ndata: ${JSON.stringify({ n, of: seconds, at: new Date().toISOString() })}\n\n`);
    if (n >= seconds) {
      clearInterval(timer);
      finish();
    }
  }, TICK_MS);
  // Client gone (or server ending the stream): stop ticking.
  res.on('close', () => clearInterval(timer));
}
