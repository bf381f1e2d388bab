/**
 * Full-stack stores benchmark (a script, not a test): `npm run build && npx tsx bench/stores-http.ts` (its
 * servers run the built package).
 *
 * POST throughput of Express with `rateLimit` and `idempotency` on one store (POSTs with a fresh
 * Idempotency-Key, so every request takes a rate-limit decision, claims its key, runs and records its
 * response), on each store, as capacity against the memory-store server measured in the same window, in
 * this run: a second memory-store process (the A/A check), RedisStore on ioredis, RedisStore on node-redis 5
 * (`redis`), and PostgresStore. Each server runs in a child process; each contender is measured in the same
 * window as the memory-store server, in turns, and the headline is its capacity: the CPU time per request of
 * the memory-store server over its own (see `support/compare.ts`). That counts the Node.js process only, not
 * the CPU of redis-server or PostgreSQL, nor the time a request waits for them: the requests per second each
 * served in its turns (the last column) include that wait.
 *
 * Redis comes from REDIS_URL (default redis://127.0.0.1:6379), with a key prefix of this run; its records
 * expire within a minute and are deleted at the end. PostgreSQL comes from BULWARK_BENCH_POSTGRES_URL
 * (default postgres://postgres@127.0.0.1:5432/test), in a schema of this run (`migrate()` creates it,
 * dropped at the end). The stores' deadline per command and idempotency's `storeTimeoutMs` are long (see
 * `STOPPED_MS`), and the rate limit has `onStoreError: 'closed'`: a store that failed answers 503, counted
 * as a failure, never a silent fall-back to memory.
 *
 * Flags: `--rounds=N` (default 5), `--seconds=N` per window (default 6), `--warm-up=N` seconds per server
 * (default 10), `--only=ioredis,node-redis,postgres` (the contenders besides memory; default all).
 *
 * `run()` returns the table rows, so that `npm run bench` can combine them.
 */
import { fileURLToPath } from 'node:url';
import { built } from './support/built.js';
import { type Contender, measureCapacities } from './support/compare.js';
import { sendLoad } from './support/load.js';
import type { Row } from './support/print-tables.js';
import { listenAndReport } from './support/server-process.js';

/** The environment variable that makes this script a server of one kind. */
export const SERVER_ENV = 'BULWARK_BENCH_STORES_HTTP_SERVER';
/** The environment variable holding this run's name: the Redis key prefix and the Postgres schema. */
const RUN_ENV = 'BULWARK_BENCH_STORES_HTTP_RUN';

type Store = 'ioredis' | 'node-redis' | 'postgres';
type ServerKind = 'memory' | 'memory-again' | Store;

const redisUrl = () => process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const postgresUrl = () => process.env.BULWARK_BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';
/**
 * The stores' deadline per command (and idempotency's `storeTimeoutMs`) in these servers: long, because a
 * server is stopped (SIGSTOP) between its turns and while the other servers are measured or warmed up, for
 * up to a minute, and a command still on its way when the server was stopped would find its deadline passed
 * when continued: a store "unavailable" that only the measuring made so.
 */
const STOPPED_MS = 120_000;
/** The Redis key prefix of a run: every key this benchmark writes starts with it. */
const prefixOf = (run: string) => `bulwark-bench-http:${run}:`;
/** The PostgreSQL schema of a run (lower-case letters, digits and `_`). */
const schemaOf = (run: string) => `bulwark_bench_http_${run}`;

/** The store of a server kind, from the built package. */
async function storeOf(kind: ServerKind, run: string): Promise<import('../src/stores/memory/index.js').MemoryStore | import('../src/stores/redis/index.js').RedisStore | import('../src/stores/postgres/index.js').PostgresStore> {
  if (kind === 'memory' || kind === 'memory-again') {
    const { MemoryStore } = await built('bulwark');
    return new MemoryStore();
  }
  if (kind === 'ioredis') {
    const { Redis } = await import('ioredis');
    const { RedisStore } = await built('bulwark/redis');
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    return new RedisStore(redis, { prefix: prefixOf(run), commandTimeoutMs: STOPPED_MS });
  }
  if (kind === 'node-redis') {
    const { createClient } = await import('redis');
    const { RedisStore } = await built('bulwark/redis');
    const client = createClient({ url: redisUrl() });
    client.on('error', () => {});
    await client.connect();
    return new RedisStore(client, { prefix: prefixOf(run), commandTimeoutMs: STOPPED_MS });
  }
  const { default: pg } = await import('pg');
  const { PostgresStore } = await built('bulwark/postgres');
  // As many connections as the load has, so that no request waits for the pool.
  const pool = new pg.Pool({ connectionString: postgresUrl(), max: 16 });
  pool.on('error', () => {});
  const store = new PostgresStore(pool, { schema: schemaOf(run), commandTimeoutMs: STOPPED_MS });
  await store.migrate();
  return store;
}

async function serve(kind: ServerKind): Promise<void> {
  const http = await import('node:http');
  const { default: express } = await import('express');
  const { rateLimit, idempotency } = await built('bulwark/express');
  const store = await storeOf(kind, process.env[RUN_ENV]!);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(rateLimit({ limit: 1e9, windowMs: 60_000, store, onStoreError: 'closed' }));
  app.use(express.json());
  app.use(idempotency({ store, ttlMs: 60_000, storeTimeoutMs: STOPPED_MS }));
  let seq = 0;
  app.post('/v1/messages', (req, res) => {
    res.status(201).json({ id: `msg_${process.pid}_${++seq}`, to: (req.body as { to?: unknown }).to, status: 'queued' });
  });
  listenAndReport(http.createServer(app));
}

const BASELINE = 'express + rateLimit + idempotency (MemoryStore)';

const STORE_NAMES: Record<Store, string> = {
  ioredis: 'RedisStore on ioredis',
  'node-redis': 'RedisStore on node-redis 5',
  postgres: 'PostgresStore (pg Pool)',
};

/** The servers of the table and what each is measured against. */
export function contenders(stores: readonly Store[] = ['ioredis', 'node-redis', 'postgres']): Contender[] {
  return [
    { id: BASELINE, kind: 'memory', baseline: BASELINE },
    { id: 'the same, a second process (A/A check)', kind: 'memory-again', baseline: BASELINE },
    ...stores.map((store) => ({ id: `express + rateLimit + idempotency (${STORE_NAMES[store]})`, kind: store, baseline: BASELINE })),
  ];
}

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

/** Deletes what a run left in Redis and PostgreSQL (its keys would expire on their own; its schema would not). */
async function cleanUp(run: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefixOf(run)}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch (error) {
    console.error(`bench/stores-http: could not delete the Redis keys ${prefixOf(run)}* (they expire within a minute): ${String(error)}`);
  } finally {
    redis.disconnect();
  }
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: postgresUrl(), max: 1 });
  try {
    await pool.query(`DROP SCHEMA IF EXISTS ${schemaOf(run)} CASCADE`);
  } catch (error) {
    console.error(`bench/stores-http: could not drop the schema ${schemaOf(run)}: ${String(error)}`);
  } finally {
    await pool.end();
  }
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Measured rounds. @default 5 */
  rounds?: number;
  /** Seconds per measurement window. @default 6 */
  seconds?: number;
  /** Seconds of unmeasured load on each server after it starts. @default 10 */
  warmUpSeconds?: number;
  /** The stores measured against the memory store. @default all three */
  stores?: readonly Store[];
}

/** Runs the whole benchmark and returns its table rows. */
export async function run(options: RunOptions = {}): Promise<Row[]> {
  const run = `${process.pid}_${Date.now().toString(36)}`;
  // Read by the server children, which are forked with this process's environment.
  process.env[RUN_ENV] = run;
  try {
    return await measureCapacities(
      contenders(options.stores),
      {
        script: fileURLToPath(import.meta.url),
        env: SERVER_ENV,
        rounds: options.rounds ?? 5,
        seconds: options.seconds ?? 6,
        warmUpSeconds: options.warmUpSeconds ?? 10,
        load,
      },
      'throughput (Express, rateLimit + idempotency, fresh keys)',
    );
  } finally {
    delete process.env[RUN_ENV];
    await cleanUp(run);
  }
}

function cliOptions(args: readonly string[]): RunOptions {
  const options: RunOptions = {};
  const count = (arg: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`bench/stores-http: ${arg} needs a whole number >= 1`);
    return n;
  };
  for (const arg of args) {
    const [name, value = ''] = arg.replace(/^--/, '').split('=');
    if (name === 'rounds') options.rounds = count(arg, value);
    else if (name === 'seconds') options.seconds = count(arg, value);
    else if (name === 'warm-up') options.warmUpSeconds = count(arg, value);
    else if (name === 'only') {
      const stores = value.split(',');
      for (const store of stores) {
        if (!(store in STORE_NAMES)) throw new TypeError(`bench/stores-http: unknown store ${store} in ${arg} (ioredis, node-redis, postgres)`);
      }
      options.stores = stores as Store[];
    } else throw new TypeError(`bench/stores-http: unknown argument ${arg} (--rounds=N --seconds=N --warm-up=N --only=ioredis,node-redis,postgres)`);
  }
  return options;
}

const serverKind = process.env[SERVER_ENV] as ServerKind | undefined;
if (serverKind) {
  await serve(serverKind);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const { printTables } = await import('./support/print-tables.js');
  printTables('Stores over HTTP', await run(cliOptions(process.argv.slice(2))));
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
