// A real HTTP stand-in for the crawler service. The crawled URL picks the behaviour:
//   .../ok -> 200 page, .../reject -> 422 FastAPI-style, .../notfound -> 404 with {error,message},
//   .../boom -> 500, .../slow -> answers after `slowMs`, .../text -> 200 non-JSON.
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
        if (target.endsWith('/ok')) {
          return reply(200, {
            url: target,
            title: 'Stand-in <Page> & Title',
            links: [
              { href: 'https://example.test/a', text: 'First link' },
              { href: 'https://example.test/b', text: 'Second link' },
              'https://example.test/c',
            ],
          });
        }
        if (target.endsWith('/reject')) return reply(422, { detail: 'URL could not be crawled: blocked by robots.txt' });
        if (target.endsWith('/notfound')) return reply(404, { error: 'page_not_found', message: 'The page answered 404' });
        if (target.endsWith('/boom')) return reply(500, { detail: 'internal crawler failure with a stack trace' });
        if (target.endsWith('/text')) return reply(200, 'not json at all', 'text/plain');
        if (target.endsWith('/slow')) return later(slowMs, () => reply(200, { url: target, title: 'late', links: [] }));
        return reply(200, { url: target, title: '', links: [] });
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
