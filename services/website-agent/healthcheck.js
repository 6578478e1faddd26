// Docker HEALTHCHECK without curl: exit 0 iff GET /healthz answers 200 within 4 s.
import http from 'node:http';

const port = Number(process.env.PORT || 5171) || 5171;
const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 4000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => {
  req.destroy();
  process.exit(1);
});
req.on('error', () => process.exit(1));
setTimeout(() => process.exit(1), 4000).unref();
