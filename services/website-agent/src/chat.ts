import express, { type Request, type Response } from 'express';
import { sendError } from './http.js';
import type { StreamRegistry } from './stream.js';

/**
 * The app's own bound on a chat request: tens of KB of pasted code fit.
 * The WAF's SizeRestrictions_BODY (8 KB) and CrossSiteScripting_BODY only
 * count on this exact path (stack.yaml edge.managed_rules); everywhere else
 * the API's general limit (API_BODY_LIMIT, the WAF's 8 KB) applies.
 */
export const CHAT_BODY_LIMIT = '64kb';
export const API_BODY_LIMIT = '8kb';

const DEFAULT_SECONDS = 35; // longer than CloudFront's 30 s origin response timeout, like an LLM reply
const MAX_SECONDS = 600;
const MAX_MESSAGES = 200;
const ROLES = new Set(['system', 'user', 'assistant']);
const TICK_MS = 1_000;

interface Message {
  role: string;
  content: string;
}

function parseMessages(body: unknown): Message[] | string {
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages) || messages.length === 0) return 'messages must be a non-empty array';
  if (messages.length > MAX_MESSAGES) return `at most ${MAX_MESSAGES} messages`;
  for (const m of messages as unknown[]) {
    const msg = m as Partial<Message> | null;
    if (typeof msg !== 'object' || msg === null || typeof msg.role !== 'string' || !ROLES.has(msg.role)) {
      return 'each message needs a role: system, user or assistant';
    }
    if (typeof msg.content !== 'string') return 'each message needs its content as a string';
  }
  return messages as Message[];
}

function parseSeconds(raw: unknown): number | null {
  if (raw === undefined) return DEFAULT_SECONDS;
  if (typeof raw !== 'string' || !/^\d{1,3}$/.test(raw)) return null;
  const n = Number(raw);
  return n >= 1 && n <= MAX_SECONDS ? n : null;
}

/**
 * POST /api/chat?seconds=N {"messages": [{"role", "content"}]}: the reply as
 * an SSE stream, one `token` event a second for N seconds (default 35), then
 * `done` with what was received. Stands for the real app's LLM reply: no model
 * is called; the content is never rendered as markup anywhere.
 */
export function chatRouter(streams: StreamRegistry): express.Router {
  const router = express.Router();
  router.post('/chat', express.json({ limit: CHAT_BODY_LIMIT }), (req: Request, res: Response) => {
    const seconds = parseSeconds(req.query.seconds);
    if (seconds === null) {
      sendError(res, 400, 'invalid_seconds', `seconds must be an integer from 1 to ${MAX_SECONDS}`);
      return;
    }
    if (!req.is('application/json')) {
      sendError(res, 415, 'unsupported_media_type', 'Send the messages as application/json');
      return;
    }
    const messages = parseMessages(req.body);
    if (typeof messages === 'string') {
      sendError(res, 400, 'invalid_messages', messages);
      return;
    }
    const chars = messages.reduce((sum, m) => sum + m.content.length, 0);
    streams.add(res);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(': reply open\n\n');
    const words = `Read ${messages.length} message${messages.length === 1 ? '' : 's'}, ${chars} characters.`.split(' ');
    let n = 0;
    const timer = setInterval(() => {
      n += 1;
      const text = words[(n - 1) % words.length];
      res.write(`event: token\nid: ${n}\ndata: ${JSON.stringify({ n, of: seconds, text })}\n\n`);
      if (n >= seconds) {
        clearInterval(timer);
        res.write(`event: done\ndata: ${JSON.stringify({ total: seconds, messages: messages.length, chars })}\n\n`);
        res.end();
      }
    }, TICK_MS);
    res.on('close', () => clearInterval(timer));
  });
  return router;
}
