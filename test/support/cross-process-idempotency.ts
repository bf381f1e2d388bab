/**
 * The cross-process idempotency scenarios, for any store: real worker processes (Express) behind one
 * store, requests over real sockets. `expectExactlyOnce` is the concurrency scenario every store runs;
 * `describeRedisCrossProcess` is the whole suite of a Redis client (the concurrency, a handler longer than
 * its lease, a worker killed after its claim), whose workers are the app of
 * test/support/idempotency-worker-app.ts.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, redisUrl, testPrefix } from './redis.js';
import { kill, postKeyed, type Reply, sleep, type Worker, WorkerPool } from './worker-pool.js';

/** One run of {@link expectExactlyOnce}. */
export interface ExactlyOnceRun {
  /** How many keys, and how many identical concurrent requests per key. */
  keys: number;
  copies: number;
  /** The workers the requests go to, in turn. */
  workers: Worker[];
  /** The body sent with every request of the `k`-th key of a batch of five. */
  body: (k: number) => string;
  /** POSTs `body` with Idempotency-Key `key` to the handler that counts its runs. */
  post: (worker: Worker, key: string, body: string) => Promise<Reply>;
  /** How many times the handler ran, per key, as the store's side records it. */
  runs: () => Promise<Map<string, number>>;
}

/**
 * `keys` keys (`xproc-0`…), five at a time, each sent `copies` times at once over the workers, then once
 * more to every worker after all answered. Asserts that the handler ran exactly once per key; that every
 * other answer is a 409 `idempotency_conflict` or a 201 replay byte-identical to the first; and that the
 * retries after the first completed are all replays.
 */
export async function expectExactlyOnce(run: ExactlyOnceRun): Promise<void> {
  const { workers } = run;
  const keys = Array.from({ length: run.keys }, (_, i) => `xproc-${i}`);
  const byKey = new Map<string, Reply[]>();
  // Five keys at a time: 5 × copies requests in flight over the workers.
  for (let start = 0; start < run.keys; start += 5) {
    await Promise.all(
      keys.slice(start, start + 5).map(async (key, k) => {
        const body = run.body(k);
        const replies = await Promise.all(Array.from({ length: run.copies }, (_, i) => run.post(workers[(i + k) % workers.length]!, key, body)));
        // Retries after the first completed: all replays.
        replies.push(...(await Promise.all(workers.map((w) => run.post(w, key, body)))));
        byKey.set(key, replies);
      }),
    );
  }
  const counts = await run.runs();
  const total = keys.reduce((sum, key) => sum + (counts.get(key) ?? 0), 0);
  expect(total).toBe(run.keys);
  for (const key of keys) {
    expect(counts.get(key), key).toBe(1);
    const replies = byKey.get(key)!;
    const firsts = replies.filter((r) => r.status === 201 && !r.replayed);
    expect(firsts, key).toHaveLength(1);
    const original = firsts[0]!.body;
    for (const r of replies) {
      if (r === firsts[0]) continue;
      if (r.status === 409) {
        expect(JSON.parse(r.body).error).toBe('idempotency_conflict');
      } else {
        expect(r.status).toBe(201);
        expect(r.replayed).toBe(true);
        expect(r.body).toBe(original);
      }
    }
    expect(replies.slice(-workers.length).every((r) => r.replayed && r.body === original)).toBe(true);
  }
}

/** One Redis client's suite, for {@link describeRedisCrossProcess}. */
export interface RedisCrossProcessSuite {
  /** The describe block's title. */
  title: string;
  /** Path of the worker fixture: test/support/idempotency-worker-app.ts on the client under test. */
  worker: string;
  /** Name of the suite's key prefix (see testPrefix). */
  prefix: string;
  /**
   * Environment of the `i`-th of the five workers started first (0: the short-lease one).
   * @default () => ({})
   */
  workerEnv?: (i: number) => Record<string, string>;
  /**
   * Environment of the worker that hangs, for the killed-worker test.
   * @default {}
   */
  hangingEnv?: Record<string, string>;
  /**
   * How long one worker may take to start, and the five together (beforeAll).
   * @default 20_000 and 60_000
   */
  startMs?: number;
  setupMs?: number;
}

/** The short lease of the lease tests, in milliseconds. */
const LEASE_MS = 400;

/**
 * Exactly once across processes on one Redis client: four workers with the default lease (10 s) and one
 * with a 400 ms lease behind the shared Redis; runs are counted in Redis and read here through ioredis.
 *
 * @example
 * ```ts
 * describeRedisCrossProcess({ title: 'idempotency across processes (4 Express workers, one Redis)', worker: WORKER, prefix: 'idem-xproc' });
 * ```
 */
export function describeRedisCrossProcess(suite: RedisCrossProcessSuite): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const prefix = testPrefix(suite.prefix);
  const pool = new WorkerPool(suite.worker, { env: { REDIS_URL: redisUrl(), PREFIX: prefix }, startMs: suite.startMs });
  const workerEnv = suite.workerEnv ?? (() => ({}));
  const post = (worker: Worker, key: string, body: string, path = '/v1/messages') => postKeyed(worker.port, path, key, body, { agent });

  let redis: Awaited<ReturnType<typeof connectRedis>>;
  /** Four workers with the default lease (10 s). */
  let workers: Worker[] = [];
  /** A worker whose claims hold a short lease, for the lease tests. */
  let shortLease: Worker;

  beforeAll(async () => {
    redis = await connectRedis();
    const started = await Promise.all([LEASE_MS, 10_000, 10_000, 10_000, 10_000].map((lease, i) => pool.start({ LEASE_MS: String(lease), ...workerEnv(i) })));
    shortLease = started[0]!;
    workers = started.slice(1);
  }, suite.setupMs ?? 60_000);

  afterAll(async () => {
    agent.destroy();
    await pool.killAll();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  async function runs(key: string): Promise<number> {
    return Number((await redis.hget(`${prefix}runs`, key)) ?? 0);
  }

  describe(suite.title, () => {
    it('100 keys x 50 concurrent identical requests: the handler runs exactly 100 times; every other answer is a 409 or a byte-identical replay', async () => {
      await expectExactlyOnce({
        keys: 100,
        copies: 50,
        workers,
        body: (k) => JSON.stringify({ to: `+1555${k}`, text: 'hello' }),
        post,
        runs: async () => new Map(Object.entries(await redis.hgetall(`${prefix}runs`)).map(([key, n]) => [key, Number(n)])),
      });
    }, 120_000);

    it('a handler three times longer than its 400 ms lease keeps its claim: duplicates on other workers get 409 throughout', async () => {
      const key = 'slow-1';
      const body = '{"to":"+15550100"}';
      const path = `/v1/messages?ms=${LEASE_MS * 3}`;
      const first = post(shortLease, key, body, path);
      const duplicates: Reply[] = [];
      for (let i = 0; i < 5; i++) {
        await sleep(LEASE_MS / 2);
        duplicates.push(await post(workers[i % workers.length]!, key, body, path));
      }
      const original = await first;
      expect(original.status).toBe(201);
      expect(duplicates.map((d) => d.status)).toEqual([409, 409, 409, 409, 409]);
      const replay = await post(workers[2]!, key, body, path);
      expect(replay.replayed).toBe(true);
      expect(replay.body).toBe(original.body);
      expect(await runs(key)).toBe(1);
    }, 30_000);

    it('a worker killed after its claim (400 ms lease): the key is blocked for one lease, then a retry runs (not after the 24 h TTL)', async () => {
      const hanging = await pool.start({ LEASE_MS: String(LEASE_MS), HANG: '1', ...suite.hangingEnv });
      const key = 'killed-1';
      const body = '{"to":"+15550101"}';
      const lost = post(hanging, key, body).catch(() => 'connection lost');
      for (let i = 0; i < 400 && (await runs(key)) === 0; i++) await sleep(10);
      expect(await runs(key)).toBe(1);
      await kill(hanging.child);
      expect(await lost).toBe('connection lost');
      const blocked = await post(workers[0]!, key, body);
      expect(blocked.status).toBe(409);
      let retry = blocked;
      for (let i = 0; i < 100 && retry.status === 409; i++) {
        await sleep(50);
        retry = await post(workers[i % workers.length]!, key, body);
      }
      expect(retry.status).toBe(201);
      expect(retry.replayed).toBe(false);
      expect(await runs(key)).toBe(2);
      const replay = await post(workers[3]!, key, body);
      expect(replay.body).toBe(retry.body);
    }, 30_000);
  });
}
