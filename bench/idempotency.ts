/**
 * Idempotency benchmark (a script, not a test): `npm run build && npx tsx bench/idempotency.ts` (it measures the built package).
 *
 * POST throughput of Express and Koa with bulwark's `idempotency` (memory store and Redis store), with a
 * fresh key on every request (each one claims, runs and completes) and with one key replayed, against the
 * same bare server in this run; and against express-idempotency (its in-memory adapter) in the same Express
 * app. Each server runs in a child process; each contender is measured in the same window as the server it is
 * compared with, and the headline is its capacity: the CPU time per request of the other over its own (see
 * `support/compare.ts` for why).
 * Redis comes from REDIS_URL (default redis://127.0.0.1:6379); records written here expire after a minute.
 *
 * `run()` returns the table rows, so that a combined `npm run bench` can call it.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { built } from './support/built.js';
import { type Contender, measureCapacities } from './support/compare.js';
import { type LoadShape, sendLoad } from './support/load.js';
import { listenAndReport } from './support/server-process.js';
import type { Row } from './support/print-tables.js';

type ServerKind =
  | 'express-bare'
  | 'express-memory'
  | 'express-redis'
  | 'express-peer'
  | 'koa-bare'
  | 'koa-memory'
  | 'koa-redis'
  | 'koa-minimal';
type Mode = 'bare' | 'fresh keys' | 'replays';

const require = createRequire(import.meta.url);
/** The environment variable that makes this script a server of one kind. */
export const SERVER_ENV = 'BULWARK_BENCH_IDEMPOTENCY_SERVER';
const BODY = JSON.stringify({ to: '+15550100', text: 'Your code is 123456', tags: ['otp', 'eu'] });

async function serve(kind: ServerKind): Promise<void> {
  const http = await import('node:http');
  const prefix = `bulwark-bench:${process.pid}:`;
  const redisStore = async () => {
    const { Redis } = await import('ioredis');
    const { RedisStore } = await built('bulwark/redis');
    const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
    redis.on('error', () => {});
    return new RedisStore(redis, { prefix });
  };
  let seq = 0;
  const reply = (to: unknown) => ({ id: `msg_${process.pid}_${++seq}`, to, status: 'queued' });
  let handler: import('node:http').RequestListener;
  if (kind.startsWith('express')) {
    const { default: express } = await import('express');
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.use(express.json());
    if (kind === 'express-memory' || kind === 'express-redis') {
      const { idempotency } = await built('bulwark/express');
      const { MemoryStore } = await built('bulwark');
      app.use(idempotency({ store: kind === 'express-memory' ? new MemoryStore() : await redisStore(), ttlMs: 60_000 }));
    }
    let peer: { isHit(req: unknown): boolean } | undefined;
    if (kind === 'express-peer') {
      const lib = require('express-idempotency') as {
        idempotency: () => import('express').RequestHandler;
        getSharedIdempotencyService: () => { isHit(req: unknown): boolean };
      };
      app.use(lib.idempotency());
      peer = lib.getSharedIdempotencyService();
    }
    app.post('/v1/messages', (req, res) => {
      if (peer?.isHit(req)) return;
      res.status(201).json(reply((req.body as { to?: unknown }).to));
    });
    handler = app;
  } else {
    const { default: Koa } = await import('koa');
    const { default: bodyParser } = await import('@koa/bodyparser');
    const app = new Koa();
    app.use(bodyParser() as unknown as import('koa').Middleware);
    if (kind === 'koa-memory' || kind === 'koa-redis') {
      const { idempotency } = await built('bulwark/koa');
      const { MemoryStore } = await built('bulwark');
      app.use(idempotency({ store: kind === 'koa-memory' ? new MemoryStore() : await redisStore(), ttlMs: 60_000 }));
    }
    if (kind === 'koa-minimal') app.use(await minimalIdempotency());
    app.use((ctx) => {
      if (ctx.method !== 'POST' || ctx.path !== '/v1/messages') return;
      ctx.status = 201;
      ctx.body = reply((ctx.request as { body?: { to?: unknown } }).body?.to);
    });
    handler = app.callback();
  }
  listenAndReport(http.createServer(handler));
}

/**
 * A reference, not a contender: the least an idempotency middleware does for a fresh key, and nothing
 * more (no lease, no canonical JSON, no store interface, no capture of streams or headers): hash the scoped
 * key and the body, claim in a Map, run, keep the response (up to as many as bulwark's memory store keeps)
 * and send it. What it costs is what any implementation pays on this server.
 */
async function minimalIdempotency(): Promise<import('koa').Middleware> {
  const { hash } = await import('node:crypto');
  const running = new Set<string>();
  const done = new Map<string, { fingerprint: string; status: number; body: string }>();
  // Oldest first out, through a ring of keys (a Map's own iteration order would walk its deleted entries).
  const ring: Array<string | undefined> = new Array(100_000).fill(undefined);
  let at = 0;
  return async (ctx, next) => {
    const key = ctx.get('idempotency-key');
    if (ctx.method !== 'POST' || !key) return next();
    const scoped = hash('sha256', `${ctx.get('authorization')}\u0000${key}`, 'base64url');
    const fingerprint = hash('sha256', `${ctx.method}\u0000${ctx.path}\u0000${JSON.stringify(ctx.request.body)}`, 'base64url');
    const stored = done.get(scoped);
    if (stored) {
      ctx.status = stored.status;
      ctx.body = stored.body;
      return;
    }
    if (running.has(scoped)) {
      ctx.status = 409;
      return;
    }
    running.add(scoped);
    await next();
    const body = JSON.stringify(ctx.body);
    running.delete(scoped);
    const oldest = ring[at];
    if (oldest !== undefined) done.delete(oldest);
    ring[at] = scoped;
    at = (at + 1) % ring.length;
    done.set(scoped, { fingerprint, status: ctx.status, body });
    ctx.body = body;
  };
}

/** Windows loaded so far by this process: part of every key, so that no window reuses another's keys. */
let windows = 0;

/**
 * The requests of a contender: POSTs of the same JSON body, each with an `Idempotency-Key`: a fresh one
 * per request, or one key replayed (the bare servers get fresh keys and ignore them, so that both sides of
 * a comparison receive the same bytes). `run` is part of every key: no two loads share keys.
 */
export function loadShape(kind: string, run: string): LoadShape {
  const replays = modeOf(kind) === 'replays';
  return {
    method: 'POST',
    path: '/v1/messages',
    headers: { 'content-type': 'application/json', ...(replays ? { 'idempotency-key': `replay-${run}` } : {}) },
    body: BODY,
    ...(replays ? {} : { fresh: { header: 'idempotency-key', prefix: `fresh-${run}-` } }),
  };
}

/** The load of a contender ({@link loadShape}) for `seconds`, with keys of this window only. */
async function load(port: number, seconds: number, connections: number, kind: string): Promise<{ requests: number; failures: number }> {
  // Keys of this window only: a fresh key is never one an earlier window (or run) used.
  const run = `${Date.now().toString(36)}-${process.pid}-${++windows}`;
  const result = await sendLoad(port, seconds, connections, loadShape(kind, run));
  // Fresh keys and bare servers answer 201 unless something failed. A replayed key answers its stored 201,
  // except to the duplicates that arrive while its first request still runs: 409, as designed.
  return { requests: result.requests, failures: result.errors + (modeOf(kind) === 'replays' ? 0 : result.non2xx) };
}

/** A contender's server kind is `<server>|<mode>`: one server process per server and mode. */
export const serverOf = (kind: string) => kind.split('|')[0] as ServerKind;
const modeOf = (kind: string) => (kind.split('|')[1] ?? 'bare') as Mode;

/** Options of {@link run}. */
export interface RunOptions {
  /** Measured rounds. @default 5 */
  rounds?: number;
  /** Seconds per measurement window (shared in turns by the two servers of a pair). @default 6 */
  seconds?: number;
  /** Only these frameworks (for a quicker run while tuning). @default both */
  frameworks?: ReadonlyArray<'express' | 'koa'>;
  /** Leave out the Redis-store contenders. @default false */
  skipRedis?: boolean;
}

/** The servers of the table and what each is measured against (also counted by bench/instructions). */
export function contenders(options: RunOptions): Contender[] {
  const frameworks = options.frameworks ?? ['express', 'koa'];
  const stores = options.skipRedis ? (['memory'] as const) : (['memory', 'redis'] as const);
  const list: Contender[] = [];
  for (const framework of frameworks) {
    const bare = `${framework} bare`;
    list.push({ id: bare, kind: `${framework}-bare`, baseline: bare });
    for (const store of stores) {
      for (const mode of ['fresh keys', 'replays'] as const) {
        list.push({ id: `${framework} + bulwark idempotency (${store}), ${mode}`, kind: `${framework}-${store}|${mode}`, baseline: bare });
      }
    }
    if (framework === 'koa') {
      list.push({ id: 'koa + a minimal idempotency middleware (reference), fresh keys', kind: 'koa-minimal|fresh keys', baseline: bare });
    }
    if (framework === 'express') {
      for (const mode of ['fresh keys', 'replays'] as const) {
        const peer = `express + express-idempotency (memory), ${mode}`;
        list.push({ id: peer, kind: `express-peer|${mode}`, baseline: bare });
        list.push({ id: `express + bulwark idempotency (memory), ${mode}, against express-idempotency`, kind: `express-memory|${mode}`, baseline: peer });
      }
    }
  }
  return list;
}

/**
 * Runs the whole benchmark and returns its table rows: each contender measured in the same window as the
 * server it is compared with, its capacity being the CPU time per request of that server over its own
 * (see `support/compare.ts`).
 */
export async function run(options: RunOptions = {}): Promise<Row[]> {
  return measureCapacities(contenders(options), {
    script: fileURLToPath(import.meta.url),
    env: SERVER_ENV,
    rounds: options.rounds ?? 5,
    seconds: options.seconds ?? 6,
    load,
  });
}

function cliOptions(args: readonly string[]): RunOptions {
  const options: RunOptions = {};
  for (const arg of args) {
    const [name, value = ''] = arg.replace(/^--/, '').split('=');
    if (name === 'rounds') options.rounds = Number(value);
    else if (name === 'seconds') options.seconds = Number(value);
    else if (name === 'only') options.frameworks = value.split(',') as Array<'express' | 'koa'>;
    else if (name === 'no-redis') options.skipRedis = true;
    else throw new TypeError(`bench/idempotency: unknown argument ${arg} (--rounds=N --seconds=N --only=koa,express --no-redis)`);
  }
  return options;
}

const serverKind = process.env[SERVER_ENV];
if (serverKind) {
  await serve(serverOf(serverKind));
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  console.table(await run(cliOptions(process.argv.slice(2))));
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
