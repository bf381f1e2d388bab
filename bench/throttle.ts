/**
 * Throttle benchmark (a script, not a test): `npm run build && npx tsx bench/throttle.ts` (its servers run the built package).
 *
 * 1. The cost of one decision: bulwark's limiter on the memory store, against express-rate-limit's
 *    MemoryStore and rate-limiter-flexible's RateLimiterMemory; and on Redis (a redis-server of its own),
 *    against rate-limit-redis and RateLimiterRedis. Medians over batches.
 * 2. Redis round trips per bulwark decision, read from `INFO commandstats` (EVALSHA + EVAL calls).
 * 3. Express and Koa throughput with the memory-store limiter as a ratio to the same bare server, and
 *    Express with express-rate-limit, all in this run. Each server runs in a child process; each contender
 *    is measured in the same window as the server it is compared with (in turns), and the headline is its capacity:
 *    the CPU time per request of the other over its own (see `support/compare.ts` for why).
 *
 * `run()` returns the table rows, so that `npm run bench` can combine them.
 */
import { fileURLToPath } from 'node:url';
import { MemoryStore as ErlMemoryStore } from 'express-rate-limit';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisStore as RlrRedisStore } from 'rate-limit-redis';
import type { RequestView } from '../src/guard/types.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { createRateLimiter } from '../src/throttle/rate-limiter.js';
import { commandCalls, startRedisServer } from '../test/support/redis.js';
import { built } from './support/built.js';
import { printTables, type Row } from './support/print-tables.js';
import { type Contender, getLoad, measureCapacities, median } from './support/compare.js';
import { listenAndReport } from './support/server-process.js';

/** The environment variable that makes this script a server of one kind. */
export const SERVER_ENV = 'BULWARK_BENCH_THROTTLE_SERVER';
const KEYS = Array.from({ length: 1024 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.7`);

/** Median nanoseconds per call of `fn` over `batches` batches of `size` calls (awaiting when it returns a promise). */
async function perCall(fn: (i: number) => unknown, batches: number, size: number): Promise<number> {
  const samples: number[] = [];
  let i = 0;
  for (let b = 0; b < batches + 3; b++) {
    const start = process.hrtime.bigint();
    for (let j = 0; j < size; j++) {
      const out = fn(i++);
      if (out instanceof Promise) await out;
    }
    if (b >= 3) samples.push(Number(process.hrtime.bigint() - start) / size);
  }
  return median(samples);
}

const us = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);

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

async function memoryRows(): Promise<Row[]> {
  const all = views();
  const limiter = createRateLimiter({ limit: 1e9, windowMs: 60_000, store: new MemoryStore() });
  const erl = new ErlMemoryStore();
  erl.init({ windowMs: 60_000 } as never);
  const rlf = new RateLimiterMemory({ points: 1e9, duration: 60 });
  const rows: Row[] = [];
  const bulwark = await perCall((i) => limiter.check(all[i & 1023]!), 200, 2_000);
  rows.push({ table: 'decision', store: 'memory', library: 'bulwark rateLimit (GCRA, whole guard)', 'median µs': us(bulwark), 'vs bulwark': '1.00x' });
  for (const [library, fn] of [
    ['express-rate-limit MemoryStore.increment', (i: number) => erl.increment(KEYS[i & 1023]!)],
    ['rate-limiter-flexible RateLimiterMemory.consume', (i: number) => rlf.consume(KEYS[i & 1023]!)],
  ] as const) {
    const ns = await perCall(fn, 200, 2_000);
    rows.push({ table: 'decision', store: 'memory', library, 'median µs': us(ns), 'vs bulwark': `${(ns / bulwark).toFixed(2)}x` });
  }
  erl.shutdown();
  return rows;
}

async function redisRows(): Promise<Row[]> {
  const server = await startRedisServer();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const rows: Row[] = [];
  try {
    const store = new RedisStore(redis, { prefix: 'bench:' });
    const request = { key: '', algorithm: 'gcra' as const, limit: 1e9, windowMs: 60_000, burst: 1e9, cost: 1 };
    const consume = (i: number) => store.throttle.consume({ ...request, key: KEYS[i & 1023]! });
    await consume(0);
    await redis.config('RESETSTAT');
    const decisions = 2_000;
    for (let i = 0; i < decisions; i++) await consume(i);
    const calls = await commandCalls(redis);
    const trips = ((calls.evalsha ?? 0) + (calls.eval ?? 0)) / decisions;
    const inner = Object.entries(calls)
      .filter(([name]) => !['evalsha', 'eval', 'config', 'info'].includes(name))
      .reduce((sum, [, n]) => sum + n, 0);
    rows.push({
      table: 'redis commands',
      decisions,
      'EVALSHA+EVAL per decision': trips.toFixed(2),
      'commands inside the script per decision': (inner / decisions).toFixed(2),
    });

    const bulwark = await perCall(consume, 40, 200);
    rows.push({ table: 'decision', store: 'redis', library: 'bulwark RedisStore (GCRA)', 'median µs': us(bulwark), 'vs bulwark': '1.00x' });
    const rlr = new RlrRedisStore({
      prefix: 'bench-rlr:',
      sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as never,
    });
    rlr.init({ windowMs: 60_000 } as never);
    const rlf = new RateLimiterRedis({ storeClient: redis, points: 1e9, duration: 60, keyPrefix: 'bench-rlf' });
    for (const [library, fn] of [
      ['express-rate-limit + rate-limit-redis', (i: number) => rlr.increment(KEYS[i & 1023]!)],
      ['rate-limiter-flexible RateLimiterRedis', (i: number) => rlf.consume(KEYS[i & 1023]!)],
    ] as const) {
      await fn(0);
      const ns = await perCall(fn, 40, 200);
      rows.push({ table: 'decision', store: 'redis', library, 'median µs': us(ns), 'vs bulwark': `${(ns / bulwark).toFixed(2)}x` });
    }
  } finally {
    redis.disconnect();
    await server.stop();
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// Throughput: each server in a child process (this file, run with SERVER_ENV set).

type ServerKind =
  | 'express-bare'
  | 'express-bulwark'
  | 'express-bulwark-quiet'
  | 'express-erl'
  | 'express-erl-quiet'
  | 'express-erl-defaults'
  | 'express-empty'
  | 'koa-bare'
  | 'koa-bare-again'
  | 'koa-bulwark'
  | 'koa-bulwark-quiet'
  | 'koa-empty'
  | 'koa-headers';

async function serve(kind: ServerKind): Promise<void> {
  const http = await import('node:http');
  let handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
  if (kind.startsWith('express')) {
    const { default: express } = await import('express');
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    if (kind === 'express-bulwark' || kind === 'express-bulwark-quiet') {
      const { rateLimit } = await built('bulwark/express');
      app.use(rateLimit({ limit: 1e9, windowMs: 60_000, ...(kind === 'express-bulwark-quiet' ? { headers: false } : {}) }));
    } else if (kind === 'express-erl-quiet') {
      // Reference: both limiters without headers, what the limiters themselves cost.
      const { rateLimit } = await import('express-rate-limit');
      app.use(rateLimit({ windowMs: 60_000, limit: 1e9, standardHeaders: false, legacyHeaders: false, validate: false }));
    } else if (kind === 'express-erl') {
      // The same kind of headers as bulwark's default: IETF RateLimit-Policy / RateLimit.
      const { rateLimit } = await import('express-rate-limit');
      app.use(rateLimit({ windowMs: 60_000, limit: 1e9, standardHeaders: 'draft-8', legacyHeaders: false, validate: false }));
    } else if (kind === 'express-erl-defaults') {
      // As most apps deploy it: its default X-RateLimit-* headers.
      const { rateLimit } = await import('express-rate-limit');
      app.use(rateLimit({ windowMs: 60_000, limit: 1e9 }));
    } else if (kind === 'express-empty') {
      // Reference: what one middleware layer costs in Express, whatever it does.
      app.use((_req, _res, next) => next());
    }
    app.get('/', (_req, res) => {
      res.type('text/plain').send('ok');
    });
    handler = app as unknown as typeof handler;
  } else {
    const { default: Koa } = await import('koa');
    const app = new Koa();
    if (kind === 'koa-bulwark' || kind === 'koa-bulwark-quiet') {
      const { rateLimit } = await built('bulwark/koa');
      app.use(rateLimit({ limit: 1e9, windowMs: 60_000, ...(kind === 'koa-bulwark-quiet' ? { headers: false } : {}) }));
    } else if (kind === 'koa-empty') {
      // References for what a limiter cannot avoid: a middleware layer, and two headers on every response.
      app.use((_ctx, next) => next());
    } else if (kind === 'koa-headers') {
      let remaining = 1e9;
      app.use((ctx, next) => {
        ctx.res.setHeader('ratelimit-policy', '"1000000000-in-60s";q=1000000000;w=60');
        ctx.res.setHeader('ratelimit', `"1000000000-in-60s";r=${--remaining};t=1`);
        return next();
      });
    }
    app.use((ctx) => {
      ctx.type = 'text/plain';
      ctx.body = 'ok';
    });
    handler = app.callback() as unknown as typeof handler;
  }
  listenAndReport(http.createServer(handler));
}

const ERL_IETF = 'express + express-rate-limit (memory, draft-8 headers)';
const ERL_DEFAULTS = 'express + express-rate-limit (memory, its defaults)';
const ERL_QUIET = 'express + express-rate-limit (memory, no headers)';

/** The servers of the throughput table and what each is measured against (also counted by bench/instructions). */
export const THROUGHPUT_CONTENDERS: readonly Contender[] = [
  { id: 'express bare', kind: 'express-bare', baseline: 'express bare' },
  { id: 'express + bulwark rateLimit (memory)', kind: 'express-bulwark', baseline: 'express bare' },
  { id: ERL_IETF, kind: 'express-erl', baseline: 'express bare' },
  { id: ERL_DEFAULTS, kind: 'express-erl-defaults', baseline: 'express bare' },
  { id: 'express + bulwark rateLimit, against express-rate-limit (draft-8 headers)', kind: 'express-bulwark', baseline: ERL_IETF },
  { id: 'express + bulwark rateLimit, against express-rate-limit (its defaults)', kind: 'express-bulwark', baseline: ERL_DEFAULTS },
  { id: 'express + an empty middleware (reference)', kind: 'express-empty', baseline: 'express bare' },
  // References without any rate-limit headers: what each limiter itself costs, apart from writing headers.
  { id: ERL_QUIET, kind: 'express-erl-quiet', baseline: 'express bare' },
  { id: 'express + bulwark rateLimit, headers: false, against express-rate-limit without headers (reference)', kind: 'express-bulwark-quiet', baseline: ERL_QUIET },
  { id: 'koa bare', kind: 'koa-bare', baseline: 'koa bare' },
  // A second bare process measured like the others: how far apart identical servers come out (A/A).
  { id: 'koa bare, a second process (A/A check)', kind: 'koa-bare-again', baseline: 'koa bare' },
  { id: 'koa + bulwark rateLimit (memory)', kind: 'koa-bulwark', baseline: 'koa bare' },
  { id: 'koa + an empty middleware (reference)', kind: 'koa-empty', baseline: 'koa bare' },
  { id: 'koa + a middleware setting the two RateLimit headers (reference)', kind: 'koa-headers', baseline: 'koa bare' },
  { id: 'koa + bulwark rateLimit (memory), headers: false (reference)', kind: 'koa-bulwark-quiet', baseline: 'koa bare' },
];

async function throughputRows(rounds: number): Promise<Row[]> {
  return measureCapacities(THROUGHPUT_CONTENDERS, { script: fileURLToPath(import.meta.url), env: SERVER_ENV, rounds, load: getLoad() }, 'throughput');
}

/** Runs the whole benchmark and returns its table rows. */
export async function run(options: { rounds?: number } = {}): Promise<Row[]> {
  return [...(await memoryRows()), ...(await redisRows()), ...(await throughputRows(options.rounds ?? 5))];
}

const serverKind = process.env[SERVER_ENV] as ServerKind | undefined;
if (serverKind) {
  await serve(serverKind);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  printTables('Throttle', await run());
}
