// A real HTTP stand-in for the crawler service. The crawled URL picks the behaviour:
//   .../ok -> 200 page, .../reject -> 422 FastAPI-style, .../notfound -> 404 with {error,message},
//   .../boom -> 500, .../slow -> answers after `slowMs`, .../text -> 200 non-JSON,
//   .../busy -> 429 too_many_crawls, .../huge -> a 6 MB document, .../odd -> wrong types and extra fields.
import http from 'node:http';

export function startCrawler({ slowMs = 5_000, health = 'ok' } = {}) {
  const requests = [];
  const timers = new Set();
  const state = { health };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      const reply = (status, payload, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type });
        res.end(type === 'application/json' ? JSON.stringify(payload) : payload);
      };
      const later = (ms, fn) => {
        const t = setTimeout(() => {
          timers.delete(t);
          fn();
        }, ms);
        timers.add(t);
      };
      if (req.method === 'GET' && req.url === '/health') {
        if (state.health === 'ok') return reply(200, { status: 'ok', service: 'crawler-stand-in' });
        if (state.health === 'slow') return later(slowMs, () => reply(200, { status: 'ok' }));
        if (state.health === 'not-ready') return reply(200, { status: 'degraded', ready: false, mongodb: 'unreachable', browser: 'ok' });
        return reply(500, { status: 'broken' });
      }
      if (req.method === 'POST' && req.url === '/crawl') {
        let target = '';
        try {
          target = JSON.parse(body).url;
        } catch {
          return reply(400, { detail: 'bad json' });
        }
        const doc = (fields) => ({
          id: '0123456789abcdef01234567', url: target, final_url: target, status: 200, title: '', description: null,
          text: '', text_truncated: false, links: [], crawled_at: '2026-01-01T00:00:00+00:00', ...fields,
        });
        if (target.endsWith('/ok')) {
          return reply(200, doc({
            title: 'Stand-in <Page> & Title',
            text: 'Some text',
            links: [
              { url: 'https://example.test/a', text: 'First link' },
              { url: 'https://example.test/b', text: 'Second link' },
              { url: 'https://example.test/c', text: '' },
            ],
          }));
        }
        if (target.endsWith('/busy')) return reply(429, { error: 'too_many_crawls', message: 'this user already has 2 crawls running or waiting' });
        if (target.endsWith('/huge-chunked')) {
          // no Content-Length: the cap must hold while reading
          res.writeHead(200, { 'content-type': 'application/json' });
          const piece = 'x'.repeat(64 * 1024);
          res.write(`{"id":"0123456789abcdef01234567","title":"`);
          let sent = 0;
          const more = () => {
            while (sent < 100 && res.write(piece)) sent++;
            if (sent < 100) res.once('drain', more);
            else res.end('"}');
          };
          res.on('close', () => (state.hugeClosedAt = sent));
          return more();
        }
        if (target.endsWith('/huge')) return reply(200, doc({ title: 'T'.repeat(3_000_000), text: 'x'.repeat(3_000_000) }));
        if (target.endsWith('/odd')) {
          return reply(200, doc({
            title: 'y'.repeat(5000),
            description: { not: 'a string' },
            text: 42,
            text_truncated: 'yes',
            links: [['forged', 'link'], 'https://example.test/bare', { url: 'javascript:alert(1)', text: 'x' }, { url: 'https://example.test/ok', text: 'z'.repeat(900) }],
            secret_field: 'not for the browser',
            _id: { $oid: 'x' },
          }));
        }
        if (target.endsWith('/reject')) return reply(422, { detail: 'URL could not be crawled: blocked by robots.txt' });
        if (target.endsWith('/notfound')) return reply(404, { error: 'page_not_found', message: 'The page answered 404' });
        if (target.endsWith('/boom')) return reply(500, { detail: 'internal crawler failure with a stack trace' });
        if (target.endsWith('/text')) return reply(200, 'not json at all', 'text/plain');
        if (target.endsWith('/slow')) return later(slowMs, () => reply(200, doc({ title: 'late' })));
        return reply(200, doc({}));
      }
      reply(404, { detail: 'Not Found' });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        state,
        close: () =>
          new Promise((r) => {
            for (const t of timers) clearTimeout(t);
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
