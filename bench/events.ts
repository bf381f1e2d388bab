/**
 * Event-stream benchmark (a script, not a test): `npm run build && npx tsx bench/events.ts` (its servers run
 * the built package; `--source` runs them from the TypeScript sources instead, for a quick check without a
 * build, which is not the code that ships).
 *
 * What the `bulwark:*` diagnostics channels cost, in one run:
 * 1. In process: one rate-limit decision of the core guard (`createRateLimiter(...).check`, memory store)
 *    with no subscriber, with one (a no-op function on every channel), and with `recordMetrics` attached to
 *    an OpenTelemetry SDK meter provider; medians over batches taken in turns, as a share of no subscriber.
 * 2. Throughput: Express with `rateLimit` and `idempotency` (memory store; POSTs with a fresh
 *    Idempotency-Key, so every request publishes three events: the rate limit's allow, the claim and the
 *    completion), with no subscriber (the baseline), a second such process (the A/A check: what "nothing
 *    measurable" looks like on this machine), one no-op subscriber, and `recordMetrics` into a meter provider
 *    read by a Prometheus exporter that nobody scrapes. Each server runs in a child process and is measured
 *    in the same window as the baseline, in turns; the headline is its capacity (see `support/compare.ts`).
 *
 * No subscriber costs one `hasSubscribers` check per decision and builds nothing, so it cannot be told
 * apart from a build without the stream: the A/A row is the bound of what this machine can resolve.
 *
 * Flags: `--rounds=N` (default 5), `--seconds=N` per window (default 6), `--warm-up=N` seconds per server
 * (default 10), `--no-servers` (the in-process table only), `--source`.
 *
 * `run()` returns the table rows, so that `npm run bench` can combine them.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { RequestView } from '../src/guard/types.js';
import { CHANNELS } from '../src/events/channels.js';
import { recordMetrics } from '../src/otel/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { createRateLimiter } from '../src/throttle/rate-limiter.js';
import { built } from './support/built.js';
import { type Contender, measureCapacities, median, percent } from './support/compare.js';
import { sendLoad } from './support/load.js';
import type { Row } from './support/print-tables.js';
import { listenAndReport } from './support/server-process.js';

/** The environment variable that makes this script a server of one kind. */
export const SERVER_ENV = 'BULWARK_BENCH_EVENTS_SERVER';
/** Set (to `1`) when the servers run from the sources (`--source`). */
const SOURCE_ENV = 'BULWARK_BENCH_EVENTS_SOURCE';

type Listening = 'none' | 'one' | 'otel';
type ServerKind = 'none' | 'none-again' | 'one' | 'otel';

/** Subscribes the way `listening` says and returns the function that undoes it. */
function listen(listening: Listening): () => void {
  if (listening === 'none') return () => {};
  if (listening === 'otel') {
    return recordMetrics({ meterProvider: new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] }) });
  }
  const noop = () => {};
  for (const name of Object.values(CHANNELS)) subscribe(name, noop);
  return () => {
    for (const name of Object.values(CHANNELS)) unsubscribe(name, noop);
  };
}

const LISTENING: Record<Listening, string> = {
  none: 'no subscriber',
  one: 'one no-op subscriber on every channel',
  otel: 'recordMetrics (OpenTelemetry SDK, Prometheus exporter)',
};

// ---------------------------------------------------------------------------------------------------------
// 1. In process: one decision of the core guard.

const KEYS = Array.from({ length: 1024 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.7`);

function views(): RequestView[] {
  return KEYS.map((peer) => ({
    method: 'GET',
    path: '/',
    query: '',
    header: () => undefined,
    headerLines: () => [],
    peer,
    body: async () => ({ kind: 'none' as const }),
    request: {},
  }));
}

/** Nanoseconds per call of `fn` over one batch of `size` calls (awaiting when it returns a promise). */
async function batch(fn: (i: number) => unknown, size: number, from: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let j = 0; j < size; j++) {
    const out = fn(from + j);
    if (out instanceof Promise) await out;
  }
  return Number(process.hrtime.bigint() - start) / size;
}

async function decisionRows(rounds: number): Promise<Row[]> {
  const all = views();
  const limiter = createRateLimiter({ limit: 1e9, windowMs: 60_000, store: new MemoryStore() });
  const check = (i: number) => limiter.check(all[i & 1023]!);
  const order: Listening[] = ['none', 'one', 'otel'];
  const samples: Record<Listening, number[]> = { none: [], one: [], otel: [] };
  let i = 0;
  // Each round runs the three in turns, so that the machine's drift falls on all three alike; each turn
  // subscribes, warms up (a new subscriber's code starts cold), then measures its batches.
  for (let round = 0; round < rounds; round++) {
    for (const listening of order) {
      const stop = listen(listening);
      try {
        for (let b = 0; b < 23; b++) {
          const ns = await batch(check, 2_000, i);
          i += 2_000;
          if (b >= 3) samples[listening].push(ns);
        }
      } finally {
        stop();
      }
    }
  }
  const base = median(samples.none);
  return order.map((listening) => ({
    table: 'decision (in process)',
    guard: 'createRateLimiter().check, memory store',
    listening: LISTENING[listening],
    'median µs': (median(samples[listening]) / 1000).toFixed(2),
    'vs no subscriber': percent(median(samples[listening]) / base),
  }));
}

// ---------------------------------------------------------------------------------------------------------
// 2. Throughput: each server in a child process (this file, run with SERVER_ENV set).

async function serve(kind: ServerKind): Promise<void> {
  const http = await import('node:http');
  const { default: express } = await import('express');
  const source = process.env[SOURCE_ENV] === '1';
  const { rateLimit, idempotency } = source ? await import('../adapters/express.js') : await built('bulwark/express');
  const { MemoryStore: Store } = source ? await import('../src/index.js') : await built('bulwark');
  if (kind === 'otel' && !source) {
    // The built recordMetrics (the channels are shared by name, but the bench measures what ships).
    const otel = await built('bulwark/otel');
    otel.recordMetrics({ meterProvider: new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] }) });
  } else if (kind !== 'none-again') {
    listen(kind);
  }
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const store = new Store();
  app.use(rateLimit({ limit: 1e9, windowMs: 60_000, store }));
  app.use(express.json());
  app.use(idempotency({ store, ttlMs: 60_000 }));
  let seq = 0;
  app.post('/v1/messages', (req, res) => {
    res.status(201).json({ id: `msg_${process.pid}_${++seq}`, to: (req.body as { to?: unknown }).to, status: 'queued' });
  });
  listenAndReport(http.createServer(app));
}

const BASELINE = 'express + rateLimit + idempotency, no subscriber';

/** The servers of the throughput table and what each is measured against. */
export const CONTENDERS: readonly Contender[] = [
  { id: BASELINE, kind: 'none', baseline: BASELINE },
  { id: 'the same, a second process (A/A check)', kind: 'none-again', baseline: BASELINE },
  { id: `the same, ${LISTENING.one}`, kind: 'one', baseline: BASELINE },
  { id: `the same, ${LISTENING.otel}`, kind: 'otel', baseline: BASELINE },
];

/** Windows loaded so far: part of every key, so that no window reuses another's keys. */
let windows = 0;

async function load(port: number, seconds: number, connections: number): Promise<{ requests: number; failures: number }> {
  const run = `${Date.now().toString(36)}-${process.pid}-${++windows}`;
  const result = await sendLoad(port, seconds, connections, {
    method: 'POST',
    path: '/v1/messages',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: 'BULWARK', to: '+15550123', text: 'hello' }),
    fresh: { header: 'idempotency-key', prefix: `fresh-${run}-` },
  });
  return { requests: result.requests, failures: result.errors + result.non2xx };
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Measured rounds (in process: 20 batches of 2,000 decisions for each of the three per round). @default 5 */
  rounds?: number;
  /** Seconds per measurement window. @default 6 */
  seconds?: number;
  /** Seconds of unmeasured load on each server after it starts. @default 10 */
  warmUpSeconds?: number;
  /** Leave out the throughput table. @default false */
  skipServers?: boolean;
  /** Servers from the TypeScript sources rather than dist/. @default false */
  source?: boolean;
}

/** Runs the whole benchmark and returns its table rows. */
export async function run(options: RunOptions = {}): Promise<Row[]> {
  const rounds = options.rounds ?? 5;
  const rows = await decisionRows(rounds);
  if (options.skipServers) return rows;
  if (options.source) process.env[SOURCE_ENV] = '1';
  const servers = await measureCapacities(
    CONTENDERS,
    {
      script: fileURLToPath(import.meta.url),
      env: SERVER_ENV,
      rounds,
      seconds: options.seconds ?? 6,
      warmUpSeconds: options.warmUpSeconds ?? 10,
      load,
    },
    'throughput',
  );
  return [...rows, ...servers];
}

function cliOptions(args: readonly string[]): RunOptions {
  const options: RunOptions = {};
  const count = (arg: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`bench/events: ${arg} needs a whole number >= 1`);
    return n;
  };
  for (const arg of args) {
    const [name, value = ''] = arg.replace(/^--/, '').split('=');
    if (name === 'rounds') options.rounds = count(arg, value);
    else if (name === 'seconds') options.seconds = count(arg, value);
    else if (name === 'warm-up') options.warmUpSeconds = count(arg, value);
    else if (name === 'no-servers') options.skipServers = true;
    else if (name === 'source') options.source = true;
    else throw new TypeError(`bench/events: unknown argument ${arg} (--rounds=N --seconds=N --warm-up=N --no-servers --source)`);
  }
  return options;
}

const serverKind = process.env[SERVER_ENV] as ServerKind | undefined;
if (serverKind) {
  await serve(serverKind);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const { printTables } = await import('./support/print-tables.js');
  printTables('Events', await run(cliOptions(process.argv.slice(2))));
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
