/**
 * Success-path overhead of `createFetch` against plain `fetch`, all calling the same local node:http
 * server (a small JSON body) in the same run: plain fetch, fetch plus one timer per call (set and
 * cleared, no signal: the floor of any per-call time limit), fetch with a per-request timeout (the
 * AbortController and timer that any timed attempt needs), the default wrapper (breaker and retry budget
 * per origin, retries, keys, pacing; no per-attempt timeout, as fetch), the wrapper without pacing
 * (`pace: false`: what reading each response's rate-limit headers costs), and the wrapper with a 30 s
 * per-attempt timeout (what a timed attempt costs inside the wrapper); for POST also plain fetch adding an
 * `Idempotency-Key` itself, what any client that keys its POSTs sends. One scenario has the server send
 * draft-10 `RateLimit` headers with a quota never reached, so that pacing parses and books every answer.
 *
 * Method: after warm-up rounds, each round runs a block of requests with every contender, in an order
 * that rotates from round to round, so that noise from the machine hits all alike. Every request (or
 * batch of concurrent requests) is timed; a contender's overhead compares the median of its times
 * with plain fetch's median, and "p10" compares the 10th percentiles, the requests least disturbed by
 * other load on the machine. Target: at most 10% more time per request for the default wrapper.
 *
 *   npm run build && npx tsx bench/client.ts   (it measures the built package)
 *   npx tsx bench/client.ts --source --rounds 2  (a quick check that the script runs, on the sources:
 *                                                 not the shipped code, so not figures to quote)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { built } from './support/built.js';

type Row = Record<string, string | number>;
type Fetch = typeof globalThis.fetch;

const BODY = JSON.stringify({ id: 'msg_123', status: 'queued' });

/**
 * Times `batches` batches of `concurrency` requests sent at once, and pushes the time per request of
 * each batch, in µs, to `into`.
 */
async function block(
  fetcher: Fetch,
  url: string,
  batches: number,
  concurrency: number,
  init: RequestInit | undefined,
  into: number[],
) {
  const one = async () => {
    const res = await fetcher(url, init);
    await res.arrayBuffer();
  };
  for (let i = 0; i < batches; i++) {
    const started = process.hrtime.bigint();
    if (concurrency === 1) await one();
    else await Promise.all(Array.from({ length: concurrency }, one));
    into.push(Number(process.hrtime.bigint() - started) / 1_000 / concurrency);
  }
}

/** The value below which a fraction `q` of the values lie. */
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

/**
 * Plain fetch plus one timer per call, set before and cleared after, with no signal: what the least
 * per-call time limit costs (the floor under any `timeoutMs`).
 */
function timerFetch(timeoutMs: number): Fetch {
  const noop = () => {};
  return async (input, init) => {
    const timer = setTimeout(noop, timeoutMs);
    timer.unref();
    try {
      return await fetch(input, init);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Plain fetch with a per-request timeout (AbortController + timer): the least any timed attempt costs. */
function timedFetch(timeoutMs: number): Fetch {
  return async (input, init) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    timer.unref();
    try {
      return await fetch(input, { ...init, signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * Plain fetch that adds an `Idempotency-Key` (a random UUID) to POST requests, as the wrapper does: the
 * least any client that keys its POSTs sends (the server reads one more header, too).
 */
function keyedFetch(): Fetch {
  return (input, init) => {
    if (init?.method !== 'POST') return fetch(input, init);
    return fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), 'idempotency-key': crypto.randomUUID() } });
  };
}

/**
 * What making one AbortSignal costs on this Node.js, in µs: every timed attempt needs one (fetch can be
 * aborted only through a signal), and plain fetch makes one of its own for every request too.
 */
export function signalCostMicros(count = 200_000): number {
  let last: AbortSignal | undefined;
  for (let i = 0; i < 20_000; i++) last = new AbortController().signal;
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) last = new AbortController().signal;
  const micros = Number(process.hrtime.bigint() - started) / 1_000 / count;
  return last === undefined ? Number.NaN : micros;
}

const pct = (ratio: number) => `${((ratio - 1) * 100).toFixed(1)}%`;

/** Runs the benchmark and returns one row per scenario. */
export async function run(
  options: { rounds?: number; requestsPerBlock?: number; source?: boolean } = {},
): Promise<Row[]> {
  const rounds = options.rounds ?? 40;
  const perBlock = options.requestsPerBlock ?? 96;
  const warmUp = Math.min(6, rounds);
  // A quota no run reaches: pacing reads and books every answer, and never holds a call.
  const limited = {
    'ratelimit-policy': '"bench";q=1000000000;w=1',
    ratelimit: '"bench";r=999999999;t=1',
  };
  const server = http.createServer((req, res) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) };
    res.writeHead(200, req.url === '/v1/limited' ? { ...headers, ...limited } : headers);
    res.end(BODY);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { createFetch } = options.source
    ? ((await import('../src/client/index.js')) as Awaited<ReturnType<typeof built<'bulwark/client'>>>)
    : await built('bulwark/client');
  const contenders: Fetch[] = [
    globalThis.fetch,
    timedFetch(30_000),
    createFetch(),
    createFetch({ timeoutMs: 30_000 }),
    keyedFetch(),
    timerFetch(30_000),
    createFetch({ pace: false }),
  ];
  const scenarios: Array<[string, number, RequestInit | undefined, string]> = [
    ['GET, 1 at a time', 1, undefined, '/v1/messages'],
    ['GET, 16 concurrent', 16, undefined, '/v1/messages'],
    ['GET, 16 concurrent, RateLimit headers⁴', 16, undefined, '/v1/limited'],
    ['POST JSON (gets a key), 1 at a time', 1, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json' } }, '/v1/messages'],
  ];
  const rows: Row[] = [];
  try {
    for (const [name, concurrency, init, path] of scenarios) {
      const url = `${base}${path}`;
      const batches = Math.max(1, Math.round(perBlock / concurrency));
      const times = contenders.map((): number[] => []);
      for (let round = 0; round < warmUp + rounds; round++) {
        for (let j = 0; j < contenders.length; j++) {
          const index = (round + j) % contenders.length;
          await block(contenders[index]!, url, batches, concurrency, init, round < warmUp ? [] : times[index]!);
        }
      }
      const [plain, timed, wrapped, wrappedTimed, keyed, timer, unpaced] = times as [
        number[],
        number[],
        number[],
        number[],
        number[],
        number[],
        number[],
      ];
      const overhead = (mine: number[], q: number) => pct(quantile(mine, q) / quantile(plain, q));
      rows.push({
        scenario: name,
        'requests each': rounds * batches * concurrency,
        'fetch µs/req': Number(quantile(plain, 0.5).toFixed(1)),
        'createFetch() µs/req': Number(quantile(wrapped, 0.5).toFixed(1)),
        'createFetch() overhead': overhead(wrapped, 0.5),
        'createFetch() overhead p10': overhead(wrapped, 0.1),
        'createFetch({ pace: false }) overhead': overhead(unpaced, 0.5),
        'fetch+timer⁵ overhead': overhead(timer, 0.5),
        'fetch+timeout² overhead': overhead(timed, 0.5),
        'fetch+timeout² overhead p10': overhead(timed, 0.1),
        'createFetch({ timeoutMs })¹ overhead': overhead(wrappedTimed, 0.5),
        'createFetch({ timeoutMs })¹ overhead p10': overhead(wrappedTimed, 0.1),
        // What the timeout itself costs inside the wrapper, beside what it costs plain fetch (the floor above).
        'timeoutMs vs createFetch()': pct(quantile(wrappedTimed, 0.5) / quantile(wrapped, 0.5)),
        ...(init?.method === 'POST' ? { 'createFetch() vs fetch+key³': pct(quantile(wrapped, 0.5) / quantile(keyed, 0.5)) } : {}),
      });
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--rounds');
  const rounds = at === -1 ? undefined : Number(args[at + 1]);
  console.table(await run({ source: args.includes('--source'), ...(rounds ? { rounds } : {}) }));
  console.log(`Node.js ${process.version}: one AbortSignal takes ${signalCostMicros().toFixed(2)} µs to make.`);
  console.log('createFetch(): the default options (breaker and retry budget per origin, retries, keys, pacing; no per-attempt timeout).');
  console.log('createFetch({ pace: false }): the defaults without pacing (no rate-limit header is read).');
  console.log('¹ createFetch({ timeoutMs: 30_000 }): the defaults plus a per-attempt timeout (its own AbortSignal per attempt).');
  console.log('² fetch+timeout: plain fetch with an AbortController and a timer per request, the floor of any timed attempt.');
  console.log('³ fetch+key: plain fetch adding an Idempotency-Key to each POST, as createFetch() does (the floor of a keyed POST).');
  console.log('⁴ the server sends draft-10 RateLimit and RateLimit-Policy headers (a quota never reached): pacing parses and books every answer.');
  console.log('timeoutMs vs createFetch(): the timed wrapper against the default one, what the timeout costs inside it (compare fetch+timeout²).');
  console.log('⁵ fetch+timer: plain fetch plus one timer per call (set and cleared, no signal), the floor under any per-call time limit.');
}
