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

// Events are counted by their lines' bytes, not decoded and split into strings: at
// 10,000 streams this process reads 10,000 events a second, and it is part of what
// is measured. A line can be cut between two reads, so the bytes a marker could
// straddle are carried over (never more than a marker's length).
const HEADER_END = Buffer.from('\r\n\r\n');
const TICK = Buffer.from('\nevent: tick\n');
const DONE = Buffer.from('\nevent: done\n');
const CARRY = Math.max(TICK.length, DONE.length) - 1;

/** How many times `marker` occurs in `buf` from `from`. */
function count(buf, marker, from = 0) {
  let n = 0;
  for (let at = buf.indexOf(marker, from); at !== -1; at = buf.indexOf(marker, at + marker.length)) n += 1;
  return n;
}

function openStream(i) {
  const t0 = performance.now();
  const r = { status: 0, ticks: 0, done: false, firstTickMs: null, doneMs: null, error: null };
  let head = Buffer.alloc(0); // the response head, until its blank line
  let carry = null; // the body's last bytes, which may start a marker the next read ends
  let settled = false;
  const sock = net.connect({ host, port });
  sock.setNoDelay(true);
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
    if (carry === null) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEADER_END);
      if (end === -1) return;
      // "HTTP/1.1 200 OK": the status is the second word of the first line
      r.status = Number(head.toString('latin1', 0, Math.min(end, 64)).split(' ')[1]) || -1;
      chunk = head.subarray(end + 2); // keep the blank line's "\r\n": the first marker's "\n"
      carry = Buffer.alloc(0);
    }
    // markers wholly in this read, and the one (if any) that straddles the previous read
    const joined = carry.length ? Buffer.concat([carry, chunk.subarray(0, CARRY)]) : null;
    const ticks = count(chunk, TICK) + (joined ? count(joined, TICK) : 0);
    if (ticks > 0) {
      if (r.firstTickMs === null) r.firstTickMs = performance.now() - t0;
      r.ticks += ticks;
    }
    if (chunk.indexOf(DONE) !== -1 || (joined && joined.indexOf(DONE) !== -1)) {
      r.done = true;
      r.doneMs = performance.now() - t0;
      sock.destroy(); // the stream is over, whether or not the server closes
      return;
    }
    // the last CARRY bytes received (a read shorter than that keeps some of the one before)
    const tail = chunk.length >= CARRY ? chunk : Buffer.concat([carry, chunk]);
    carry = Buffer.from(tail.subarray(Math.max(0, tail.length - CARRY)));
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
