/**
 * Stores benchmark (a script, not a test): `npx tsx bench/stores.ts`.
 *
 * 1. The cost of one rate-limit decision (the whole guard, GCRA) on every store, as a ratio to the memory
 *    store in this run: memory, RedisStore on ioredis and on node-redis 5 (a redis-server of its own), and
 *    PostgresStore (127.0.0.1:5432, database `test`, a schema of its own). Median over batches, one
 *    decision at a time, and decisions per second with 16 in flight.
 * 2. The spend-cap refund path: a spend cap whose requests all do no work (each reservation refunded) against
 *    one whose requests all succeed (no refund), on each store, and the Redis round trips of each (a refund
 *    must stay one EVALSHA).
 *
 * `run()` returns the table rows, so that `npm run bench` can combine them.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createClient } from 'redis';
import type { Outcome, RequestView } from '../src/guard/types.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { createRateLimiter } from '../src/throttle/rate-limiter.js';
import { createSpendCap } from '../src/throttle/spend-cap.js';
import type { HasThrottleStore } from '../src/throttle/store.js';
import { commandCalls, startRedisServer } from '../test/support/redis.js';
import { median } from './support/compare.js';
import { printTables, type Row } from './support/print-tables.js';

const KEYS = Array.from({ length: 1024 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.7`);
const VIEWS: RequestView[] = KEYS.map((peer) => ({
  method: 'POST',
  path: '/v1/messages',
  query: '',
  header: () => undefined,
  headerLines: () => [],
  peer,
  body: () => ({ kind: 'none' as const }),
  request: {},
}));
const FAILED: Outcome = { status: 500, replayed: false, thrown: false, ran: true, completed: true };
const DONE: Outcome = { status: 201, replayed: false, thrown: false, ran: true, completed: true };

/** Median microseconds per awaited call of `fn`, over `batches` batches of `size` (after 3 warm-up batches). */
async function perCall(fn: (i: number) => unknown, batches: number, size: number): Promise<number> {
  const samples: number[] = [];
  let i = 0;
  for (let b = 0; b < batches + 3; b++) {
    const start = process.hrtime.bigint();
    for (let j = 0; j < size; j++) {
      const out = fn(i++);
      if (out instanceof Promise) await out;
    }
    if (b >= 3) samples.push(Number(process.hrtime.bigint() - start) / size / 1000);
  }
  return median(samples);
}

/** Calls per second of `fn` with `inFlight` callers for `ms`. */
async function perSecond(fn: (i: number) => unknown, inFlight: number, ms: number): Promise<number> {
  let done = 0;
  let i = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await fn(i++);
        done++;
      }
    }),
  );
  return (done * 1000) / ms;
}

interface Subject {
  name: string;
  store: HasThrottleStore;
  /** Script calls (EVALSHA + EVAL) so far, for Redis stores. */
  trips?: () => Promise<number>;
}

export async function run(): Promise<Row[]> {
  const server = await startRedisServer();
  const admin = new Redis(server.port, '127.0.0.1');
  const ioredis = new Redis(server.port, '127.0.0.1');
  const nodeRedis = createClient({ url: `redis://127.0.0.1:${server.port}` });
  nodeRedis.on('error', () => {});
  await nodeRedis.connect();
  const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 16, statement_timeout: 2000 });
  const schema = `bulwark_bench_${process.pid}`;
  const postgres = new PostgresStore(pool, { schema, commandTimeoutMs: 2000 });
  await postgres.migrate();
  const trips = async () => {
    const calls = await commandCalls(admin);
    return (calls.evalsha ?? 0) + (calls.eval ?? 0);
  };
  const subjects: Subject[] = [
    { name: 'memory', store: new MemoryStore() },
    { name: 'RedisStore (ioredis)', store: new RedisStore(ioredis, { prefix: 'bench-io:' }), trips },
    { name: 'RedisStore (node-redis 5)', store: new RedisStore(nodeRedis, { prefix: 'bench-nr:' }), trips },
    { name: 'PostgresStore', store: postgres },
  ];
  const rows: Row[] = [];
  try {
    let memoryUs = 0;
    let memoryRate = 0;
    for (const subject of subjects) {
      const limiter = createRateLimiter({ limit: 1e9, windowMs: 60_000, store: subject.store, onStoreError: 'closed' });
      const decide = (i: number) => limiter.check(VIEWS[i % VIEWS.length]!);
      const us = await perCall(decide, 7, subject.name === 'memory' ? 20_000 : 300);
      const rate = await perSecond(decide, 16, 1500);
      if (subject.name === 'memory') {
        memoryUs = us;
        memoryRate = rate;
      }
      rows.push({
        table: 'rate-limit decision',
        store: subject.name,
        'median µs (1 at a time)': us.toFixed(us < 10 ? 2 : 1),
        'vs memory': `${(us / memoryUs).toFixed(1)}x`,
        'decisions/s (16 in flight)': Math.round(rate),
        'share of memory': `${((rate / memoryRate) * 100).toFixed(1)}%`,
      });
    }
    for (const subject of subjects) {
      const outcomes: Array<[string, Outcome]> = [
        ['every request succeeds (no refund)', DONE],
        ['every request fails (refunded)', FAILED],
      ];
      let without = 0;
      for (const [label, outcome] of outcomes) {
        const cap = createSpendCap({ daily: 1e12, key: () => 'acct-bench', store: subject.store, onStoreError: 'closed' });
        const request = async (i: number) => {
          const decision = await cap.check(VIEWS[i % VIEWS.length]!);
          if (decision.type === 'next') decision.onOutcome?.(outcome);
        };
        const before = subject.trips ? await subject.trips() : 0;
        const n = subject.name === 'memory' ? 20_000 : 400;
        const started = performance.now();
        for (let i = 0; i < n; i++) await request(i);
        // The refunds are sent without waiting: a round trip on the same connection waits for them.
        if (subject.name.includes('ioredis')) await ioredis.ping();
        if (subject.name.includes('node-redis')) await nodeRedis.ping();
        const us = ((performance.now() - started) * 1000) / n;
        const after = subject.trips ? await subject.trips() : 0;
        if (outcome === DONE) without = us;
        rows.push({
          table: 'spend cap refund path',
          store: subject.name,
          requests: label,
          'µs per request (1 at a time)': us.toFixed(us < 10 ? 2 : 1),
          'vs no refund': outcome === DONE ? '1.00x' : `${(us / without).toFixed(2)}x`,
          'scripts per request': subject.trips ? ((after - before) / n).toFixed(2) : '',
        });
      }
    }
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
    await nodeRedis.quit().catch(() => {});
    ioredis.disconnect();
    admin.disconnect();
    await server.stop();
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  printTables('Stores: decisions and refunds, ratios against the memory store in this run', await run());
  console.log(`(${Math.round((Date.now() - started) / 1000)} s)`);
}
