import path from 'node:path';
import compression from 'compression';
import express, { type Request, type Response } from 'express';
import morgan from 'morgan';
import { authRouter, requireUser, SessionSigner, type SessionLimits } from './auth.js';
import { API_BODY_LIMIT, chatRouter } from './chat.js';
import { crawlerRouter } from './crawler.js';
import type { Database } from './db.js';
import { errorHandler, sendError } from './http.js';
import { homePage, notFoundPage, previewPage, type AssetManifest } from './pages.js';
import { StreamRegistry, streamHandler } from './stream.js';

export const PREVIEW_PREFIX = '/webcontainer/vercel-preview';

export interface AppDeps {
  buildDir: string;
  assets: AssetManifest;
  db: Database;
  authSecret: string;
  crawler: { baseUrl: string | null; timeoutMs: number; healthTimeoutMs: number };
  streams: StreamRegistry;
  /** How many proxies in front append to X-Forwarded-For (CloudFront, then the ALB). */
  trustedProxyHops: number;
  sessions: SessionLimits;
  /** The public origin absolute URLs are built from (never the request's Host); null: none are built. */
  publicUrl?: string | null;
}

function isPreviewPath(p: string): boolean {
  return p === PREVIEW_PREFIX || p.startsWith(`${PREVIEW_PREFIX}/`);
}

// Log the path only: query strings and headers (cookies, tokens) stay out of the logs.
morgan.token('path', (req: Request) => (req.originalUrl ?? req.url).split('?')[0]);
// Host and X-Forwarded-Host show what the edge hands the app (the origin's name, the public host).
const LOG_FORMAT =
  ':remote-addr ":method :path HTTP/:http-version" :status :res[content-length] - :response-time ms host=:req[host] forwarded-host=:req[x-forwarded-host]';

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  // Trust exactly the proxies in front: the client is the address the outermost one
  // (CloudFront) saw, never what a client wrote into X-Forwarded-For itself.
  app.set('trust proxy', deps.trustedProxyHops);
  app.disable('x-powered-by');
  app.set('etag', 'strong');

  app.use(
    morgan(LOG_FORMAT, {
      // Health probes every few seconds would drown the log; failures are still logged.
      skip: (req, res) => req.path === '/healthz' && res.statusCode < 400,
    }),
  );

  app.use(
    compression({
      filter: (req, res) => {
        // Compressing SSE would buffer events inside gzip and break streaming.
        if (res.getHeader('Content-Type')?.toString().includes('text/event-stream')) return false;
        return compression.filter(req, res);
      },
    }),
  );

  // COEP/COOP make the page cross-origin isolated (SharedArrayBuffer for WebContainer);
  // the preview iframe must be embeddable, so it goes without them.
  app.use((req, res, next) => {
    if (!isPreviewPath(req.path)) {
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    }
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'strict-origin-when-cross-origin');
    next();
  });

  const clientDir = path.join(deps.buildDir, 'client');
  app.use('/assets', express.static(path.join(clientDir, 'assets'), { immutable: true, maxAge: '1y', index: false }));
  app.use(express.static(clientDir, { maxAge: '1h', index: false }));

  app.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).json({ status: 'ok', timestamp: new Date().toISOString() });
  });

  const home = homePage(deps.assets, deps.publicUrl ?? null);
  app.get('/', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(home);
  });

  app.get([PREVIEW_PREFIX, `${PREVIEW_PREFIX}/*rest`], (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(previewPage(req.path.slice(PREVIEW_PREFIX.length) || '/'));
  });

  const api = express.Router();
  // The chat endpoint parses its own, larger body; everything else is bounded as the WAF bounds it.
  api.use(chatRouter(deps.streams));
  api.use(express.json({ limit: API_BODY_LIMIT }));
  const auth = { db: deps.db, signer: new SessionSigner(deps.authSecret), sessions: deps.sessions };
  api.get('/stream', streamHandler(deps.streams));
  // Crawling drives the crawler's Chromium: logged-in users only.
  api.post('/crawl', requireUser(auth));
  api.use(crawlerRouter(deps.crawler));
  api.use('/auth', authRouter(auth));
  api.use((_req: Request, res: Response) => sendError(res, 404, 'not_found', 'No such API endpoint'));
  app.use('/api', api);

  app.use((_req: Request, res: Response) => {
    res.status(404).setHeader('Cache-Control', 'no-store');
    res.type('html').send(notFoundPage());
  });
  app.use(errorHandler);
  return app;
}
