import type { ErrorRequestHandler, Request, Response } from 'express';

/** Every /api error has this shape: a short machine code and a human message. */
export function sendError(res: Response, status: number, error: string, message: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status).json({ error, message });
}

export function isApiPath(req: Request): boolean {
  return req.path === '/api' || req.path.startsWith('/api/');
}

/** True when the request declares a JSON body (as fetch with JSON.stringify does). */
export function hasJsonBody(req: Request): boolean {
  return req.is('application/json') === 'application/json' && typeof req.body === 'object' && req.body !== null;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

interface HttpishError {
  type?: string;
  status?: number;
  statusCode?: number;
  expose?: boolean;
  message?: string;
}

/** Last middleware: JSON errors for /api, a plain page elsewhere. Never echoes internals. */
export const errorHandler: ErrorRequestHandler = (err: HttpishError, req, res, _next) => {
  const status = err.status ?? err.statusCode ?? 500;
  let code = 'internal_error';
  let message = 'Internal server error';
  if (err.type === 'entity.parse.failed') {
    code = 'invalid_json';
    message = 'Request body is not valid JSON';
  } else if (err.type === 'entity.too.large') {
    code = 'payload_too_large';
    message = 'Request body is too large';
  } else if (status >= 400 && status < 500) {
    code = 'bad_request';
    message = err.expose && err.message ? err.message : 'Bad request';
  } else {
    console.error(`error handling ${req.method} ${req.path}:`, err instanceof Error ? err.stack : String(err));
  }
  const finalStatus = status >= 400 && status < 600 ? status : 500;
  if (res.headersSent) {
    res.end();
    return;
  }
  if (isApiPath(req)) {
    sendError(res, finalStatus, code, message);
  } else {
    res.status(finalStatus).type('text/plain').set('Cache-Control', 'no-store').send(`${message}\n`);
  }
};
