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
 * 4. The spend-cap refund path as server capacity: Express with `spendCap` whose handler answers 422 (so
 *    every request's reservation is refunded) against the same app whose handler answers 200 (nothing
 *    refunded), on the memory store and on Redis (ioredis), in this run; the Redis app without refunds is
 *    also measured against the memory one. Each Redis app has a redis-server of its own, so that `INFO
 *    commandstats` counts its scripts alone: scripts (EVALSHA + EVAL) per response, 1 without refunds and 2
 *    with (the refund stays one round trip).
 *
 * Flags: `--rounds=N` (default 5), `--seconds=N` per window (default 6), `--only=decisions,throughput,spend`
 * (the parts to run; default all).
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
import { sendLoad } from './support/load.js';
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
  | 'koa-headers'
  | SpendKind;

/** The spend-cap servers: their store, and whether the handler answers 200 (no refund) or 422 (refunded). */
type SpendKind = `spend-${'memory' | 'redis'}-${'ok' | 'refund'}`;

/**
 * The stores' deadline per command in these servers: long, because a server is stopped (SIGSTOP) between
 * its turns and while the other servers are measured or warmed up, for up to a minute, and a command (a
 * refund sent after its response, say) still on its way when the server was stopped would find its
 * deadline passed when continued: a store "unavailable" that only the measuring made so.
 */
const STOPPED_MS = 120_000;

/** The environment variable holding the URL of a Redis spend-cap server's own redis-server. */
const redisEnvOf = (kind: SpendKind) => `BULWARK_BENCH_THROTTLE_REDIS_${kind.replaceAll('-', '_').toUpperCase()}`;

/**
 * Express with one `spendCap` (one spender: the client address, a cost of 1, a daily cap never reached)
 * before a handler that answers 200, or 422 so that every reservation is refunded (the default rule refunds
 * any status outside 2xx). The two bodies have the same length. `onStoreError: 'closed'`: a store that
 * failed would answer 503 (and print a line), never fall back to memory unnoticed; the store's deadline is
 * {@link STOPPED_MS}.
 */
async function serveSpend(kind: SpendKind): Promise<void> {
  const http = await import('node:http');
  const { default: express } = await import('express');
  const { spendCap } = await built('bulwark/express');
  let store: import('../src/throttle/store.js').HasThrottleStore;
  if (kind.startsWith('spend-redis')) {
    const { RedisStore: BuiltRedisStore } = await built('bulwark/redis');
    const redis = new Redis(process.env[redisEnvOf(kind)]!, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    store = new BuiltRedisStore(redis, { prefix: `bench-spend:${process.pid}:`, commandTimeoutMs: STOPPED_MS });
  } else {
    const { MemoryStore: BuiltMemoryStore } = await built('bulwark');
    store = new BuiltMemoryStore();
  }
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(spendCap({ daily: 1e12, store, onStoreError: 'closed' }));
  const refund = kind.endsWith('-refund');
  app.get('/', (_req, res) => {
    if (refund) res.status(422).json({ outcome: 'fail' });
    else res.status(200).json({ outcome: 'done' });
  });
  listenAndReport(http.createServer(app));
}

async function serve(kind: ServerKind): Promise<void> {
  if (kind.startsWith('spend-')) return serveSpend(kind as SpendKind);
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

async function throughputRows(rounds: number, seconds: number): Promise<Row[]> {
  return measureCapacities(
    THROUGHPUT_CONTENDERS,
    { script: fileURLToPath(import.meta.url), env: SERVER_ENV, rounds, seconds, load: getLoad() },
    'throughput',
  );
}

const SPEND_MEMORY_OK = 'express + spendCap (memory), handler 200 (no refund)';
const SPEND_REDIS_OK = 'express + spendCap (Redis), handler 200 (no refund)';

/** The spend-cap servers: each refunding app against the same app without refunds, on its store. */
export const SPEND_CONTENDERS: readonly Contender[] = [
  { id: SPEND_MEMORY_OK, kind: 'spend-memory-ok', baseline: SPEND_MEMORY_OK },
  { id: 'express + spendCap (memory), handler 422 (every request refunded)', kind: 'spend-memory-refund', baseline: SPEND_MEMORY_OK },
  { id: SPEND_REDIS_OK, kind: 'spend-redis-ok', baseline: SPEND_MEMORY_OK },
  { id: 'express + spendCap (Redis), handler 422 (every request refunded)', kind: 'spend-redis-refund', baseline: SPEND_REDIS_OK },
];

/** The column of the spend-cap table with the scripts each Redis server ran per response. */
export const SCRIPTS_PER_REQUEST = 'Redis scripts per response (EVALSHA+EVAL)';

/**
 * The spend-cap refund path as capacities ({@link SPEND_CONTENDERS}), and for each Redis server the scripts
 * its redis-server ran (EVALSHA + EVAL, from `INFO commandstats`) per response the load received, warm-up
 * included.
 */
async function spendRows(rounds: number, seconds: number): Promise<Row[]> {
  const redisKinds = SPEND_CONTENDERS.map((c) => c.kind as SpendKind).filter((kind) => kind.startsWith('spend-redis'));
  const servers = new Map<SpendKind, Awaited<ReturnType<typeof startRedisServer>>>();
  const responses = new Map<string, number>();
  const plain = getLoad();
  try {
    for (const kind of redisKinds) {
      const server = await startRedisServer();
      servers.set(kind, server);
      // Read by the server child, which is forked with this process's environment.
      process.env[redisEnvOf(kind)] = server.url;
    }
    const rows = await measureCapacities(
      SPEND_CONTENDERS,
      {
        script: fileURLToPath(import.meta.url),
        env: SERVER_ENV,
        rounds,
        seconds,
        async load(port, windowSeconds, connections, kind) {
          if (!kind.endsWith('-refund')) {
            const result = await plain(port, windowSeconds, connections, kind);
            responses.set(kind, (responses.get(kind) ?? 0) + result.requests);
            return result;
          }
          // Every answer of a refunding server is its handler's 422: only errors count as failures.
          const result = await sendLoad(port, windowSeconds, connections, { path: '/' });
          responses.set(kind, (responses.get(kind) ?? 0) + result.requests);
          return { requests: result.requests, failures: result.errors };
        },
      },
      'spend cap refund path',
    );
    const scripts = new Map<string, string>();
    for (const [kind, server] of servers) {
      const admin = new Redis(server.url);
      try {
        const calls = await commandCalls(admin);
        scripts.set(kind, (((calls.evalsha ?? 0) + (calls.eval ?? 0)) / Math.max(responses.get(kind) ?? 0, 1)).toFixed(2));
      } finally {
        admin.disconnect();
      }
    }
    return rows.map((row, i) => ({ ...row, [SCRIPTS_PER_REQUEST]: scripts.get(SPEND_CONTENDERS[i]!.kind) ?? '' }));
  } finally {
    for (const [kind, server] of servers) {
      delete process.env[redisEnvOf(kind)];
      await server.stop();
    }
  }
}

/** The parts of the benchmark. */
export type Part = 'decisions' | 'throughput' | 'spend';

/** Options of {@link run}. */
export interface RunOptions {
  /** Measured rounds of each server table. @default 5 */
  rounds?: number;
  /** Seconds per measurement window (shared in turns by the two servers of a pair). @default 6 */
  seconds?: number;
  /** Only these parts. @default all */
  only?: readonly Part[];
}

/** Runs the whole benchmark (or the parts in `only`) and returns its table rows. */
export async function run(options: RunOptions = {}): Promise<Row[]> {
  const rounds = options.rounds ?? 5;
  const seconds = options.seconds ?? 6;
  const parts = options.only ?? ['decisions', 'throughput', 'spend'];
  const rows: Row[] = [];
  if (parts.includes('decisions')) rows.push(...(await memoryRows()), ...(await redisRows()));
  if (parts.includes('throughput')) rows.push(...(await throughputRows(rounds, seconds)));
  if (parts.includes('spend')) rows.push(...(await spendRows(rounds, seconds)));
  return rows;
}

function cliOptions(args: readonly string[]): RunOptions {
  const options: RunOptions = {};
  const count = (arg: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`bench/throttle: ${arg} needs a whole number >= 1`);
    return n;
  };
  for (const arg of args) {
    const [name, value = ''] = arg.replace(/^--/, '').split('=');
    if (name === 'rounds') options.rounds = count(arg, value);
    else if (name === 'seconds') options.seconds = count(arg, value);
    else if (name === 'only') {
      const parts = value.split(',');
      for (const part of parts) {
        if (part !== 'decisions' && part !== 'throughput' && part !== 'spend') throw new TypeError(`bench/throttle: unknown part ${part} in ${arg}`);
      }
      options.only = parts as Part[];
    } else throw new TypeError(`bench/throttle: unknown argument ${arg} (--rounds=N --seconds=N --only=decisions,throughput,spend)`);
  }
  return options;
}

const serverKind = process.env[SERVER_ENV] as ServerKind | undefined;
if (serverKind) {
  await serve(serverKind);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  printTables('Throttle', await run(cliOptions(process.argv.slice(2))));
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
