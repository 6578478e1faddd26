// The bench's SSE load generator: N concurrent GET /api/stream?seconds=S over
// raw TCP (one process, no dependencies, thousands of sockets), each checked
// for being complete (every tick, then `done`) and on time. Bounded: every
// socket has a deadline and the process exits by itself.
//
// Usage: node sse_load.mjs '{"host": "edge", "port": 80, "streams": 1000, "seconds": 30, "rampMs": 2000}'
// Prints one JSON object: counts, failure reasons, first-event latency percentiles.
import net from 'node:net';

const opts = JSON.parse(process.argv[2] ?? '{}');
const host = opts.host;
const port = opts.port ?? 80;
const streams = opts.streams ?? 100;
const seconds = opts.seconds ?? 30;
const rampMs = opts.rampMs ?? 1000;
const firstEventLimitMs = opts.firstEventLimitMs ?? 2000;
const lateSlackMs = opts.lateSlackMs ?? 3000;
const hostHeader = opts.hostHeader ?? `${host}:${port}`;
const deadlineMs = seconds * 1000 + lateSlackMs + 5000; // per stream; after it the socket is cut

const request =
  `GET /api/stream?seconds=${seconds} HTTP/1.0\r\nHost: ${hostHeader}\r\n` +
  'Accept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: parity-bench\r\n\r\n';

const results = [];
let finished = 0;
let maxOpen = 0;
let open = 0;
const started = performance.now();

function record(r) {
  results.push(r);
  finished += 1;
  if (finished === streams) report();
}

function openStream(i) {
  const t0 = performance.now();
  const r = { status: 0, ticks: 0, done: false, firstTickMs: null, doneMs: null, error: null };
  let carry = '';
  let headerDone = false;
  let settled = false;
  const sock = net.connect({ host, port });
  sock.setNoDelay(true);
  sock.setEncoding('utf8');
  const timer = setTimeout(() => {
    r.error = r.error ?? 'deadline';
    sock.destroy();
  }, deadlineMs);
  sock.on('connect', () => {
    open += 1;
    maxOpen = Math.max(maxOpen, open);
    sock.write(request);
  });
  sock.on('data', (chunk) => {
    const text = carry + chunk;
    const lines = text.split('\n');
    carry = lines.pop();
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (!headerDone) {
        if (r.status === 0) r.status = Number(line.split(' ')[1]) || -1;
        if (line === '') headerDone = true;
        continue;
      }
      if (line === 'event: tick') {
        r.ticks += 1;
        if (r.firstTickMs === null) r.firstTickMs = performance.now() - t0;
      } else if (line === 'event: done') {
        r.done = true;
        r.doneMs = performance.now() - t0;
        sock.destroy(); // the stream is over, whether or not the server closes
        return;
      }
    }
  });
  const settle = (err) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (err && !r.error) r.error = err.code ?? 'socket_error';
    open = Math.max(0, open - 1);
    record(r);
  };
  sock.on('error', settle);
  sock.on('close', () => settle(null));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function report() {
  const reasons = {};
  let ok = 0;
  const first = [];
  for (const r of results) {
    if (r.firstTickMs !== null) first.push(r.firstTickMs);
    let why = null;
    if (r.status !== 200) why = r.status > 0 ? `http_${r.status}` : r.error ?? 'no_response';
    else if (!r.done || r.ticks < seconds) why = r.error ? `cut_${r.error}` : 'incomplete';
    else if (r.firstTickMs > firstEventLimitMs) why = 'first_event_late';
    else if (r.doneMs > seconds * 1000 + lateSlackMs) why = 'done_late';
    if (why) reasons[why] = (reasons[why] ?? 0) + 1;
    else ok += 1;
  }
  first.sort((a, b) => a - b);
  const round = (x) => (x === null ? null : Math.round(x));
  process.stdout.write(
    JSON.stringify({
      streams,
      seconds,
      ramp_ms: rampMs,
      ok,
      failed: streams - ok,
      reasons,
      max_open: maxOpen,
      first_event_ms: { p50: round(percentile(first, 50)), p99: round(percentile(first, 99)), max: round(first.at(-1) ?? null) },
      wall_s: Math.round((performance.now() - started) / 100) / 10,
    }) + '\n',
  );
  process.exit(0);
}

// Open the streams evenly over the ramp, in small batches (timers are coarse).
const batches = Math.max(1, Math.min(streams, Math.ceil(rampMs / 10)));
const perBatch = Math.ceil(streams / batches);
let next = 0;
for (let b = 0; b < batches && next < streams; b++) {
  const from = next;
  const to = Math.min(streams, from + perBatch);
  next = to;
  setTimeout(() => {
    for (let i = from; i < to; i++) openStream(i);
  }, (b * rampMs) / batches);
}
// Whatever happens, stop: the whole run is bounded.
setTimeout(() => {
  for (let i = results.length; i < streams; i++) results.push({ status: 0, ticks: 0, done: false, firstTickMs: null, doneMs: null, error: 'never_settled' });
  finished = streams;
  report();
}, rampMs + deadlineMs + 5000).unref();
