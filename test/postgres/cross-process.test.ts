/**
 * PostgresStore across processes: real Express workers behind one real PostgreSQL. Idempotency runs a
 * handler once per key; the transactional mode keeps a side effect and its record together when a
 * worker is SIGKILLed between its write and its response; rate limits stay exact across 4 processes.
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectExactlyOnce } from '../support/cross-process-idempotency.js';
import { exited, postKeyed, request, sleep, type Worker, WorkerPool } from '../support/worker-pool.js';
import { databaseUrl, testStore } from './support.js';

const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const PREFIX = `x${process.pid}_`;
const LEASE_MS = 400;
const workerPool = new WorkerPool(fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url)), { env: { DATABASE_URL: databaseUrl(), PREFIX } });

const post = (port: number, path: string, key: string, body: string, extra: Record<string, string> = {}) =>
  postKeyed(port, path, key, body, { agent, headers: { 'x-account': 'acct_1', ...extra } });

let pool: pg.Pool;
let workers: Worker[] = [];

beforeAll(async () => {
  ({ pool } = await testStore(PREFIX)); // fails with one line when PostgreSQL is missing
  await pool.query(`CREATE TABLE IF NOT EXISTS bulwark_test.${PREFIX}runs (key text PRIMARY KEY, n integer NOT NULL)`);
  await pool.query(`CREATE TABLE IF NOT EXISTS bulwark_test.${PREFIX}orders (id serial PRIMARY KEY, key text, worker integer)`);
  workers = await Promise.all([1, 2, 3, 4].map(() => workerPool.start({ LIMIT: '100' })));
}, 60_000);

afterAll(async () => {
  agent.destroy();
  await workerPool.killAll();
  for (const table of ['runs', 'orders', 'idempotency', 'rate', 'spend']) await pool.query(`DROP TABLE IF EXISTS bulwark_test.${PREFIX}${table}`);
  for (const fn of ['gcra', 'sliding', 'spend_decide', 'spend_refund', 'gcra_refund', 'sliding_refund']) {
    await pool.query(`DROP FUNCTION IF EXISTS bulwark_test.${PREFIX}${fn}`);
  }
});

async function ordersOf(key: string): Promise<number> {
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM bulwark_test.${PREFIX}orders WHERE key = $1`, [key]);
  return rows[0].n as number;
}

describe('PostgresStore idempotency across processes (4 Express workers, one PostgreSQL)', () => {
  it('40 keys x 25 concurrent identical requests: the handler runs exactly 40 times; every other answer is a 409 or a byte-identical replay', async () => {
    await expectExactlyOnce({
      keys: 40,
      copies: 25,
      workers,
      body: (k) => JSON.stringify({ to: `+1555${k}` }),
      post: (worker, key, body) => post(worker.port, '/v1/messages', key, body),
      runs: async () => {
        const { rows } = await pool.query(`SELECT key, n FROM bulwark_test.${PREFIX}runs`);
        return new Map(rows.map((r) => [r.key as string, r.n as number]));
      },
    });
  }, 120_000);
});

describe('exactly once inside the application transaction (PostgresStore.transaction), SIGKILL mid-request', () => {
  it('killed between its write and the commit: nothing is committed, and a retry after the lease runs it once', async () => {
    const doomed = await workerPool.start({ LEASE_MS: String(LEASE_MS) });
    const key = 'order-before-commit';
    const body = '{"item":"book"}';
    const lost = post(doomed.port, '/v1/orders', key, body, { 'x-kill': 'before-commit' }).catch(() => 'connection lost');
    expect(await lost).toBe('connection lost');
    await exited(doomed.child);
    expect(await ordersOf(key)).toBe(0);
    let retry = await post(workers[0]!.port, '/v1/orders', key, body);
    for (let i = 0; i < 100 && retry.status === 409; i++) {
      await sleep(50);
      retry = await post(workers[i % 4]!.port, '/v1/orders', key, body);
    }
    expect(retry.status).toBe(201);
    expect(retry.replayed).toBe(false);
    expect(await ordersOf(key)).toBe(1);
    const replay = await post(workers[2]!.port, '/v1/orders', key, body);
    expect(replay).toMatchObject({ status: 201, replayed: true, body: retry.body });
    expect(await ordersOf(key)).toBe(1);
  }, 30_000);

  it('killed between the commit and its response: the write and its record are both committed, and a retry replays it at once without running', async () => {
    const doomed = await workerPool.start({ LEASE_MS: String(LEASE_MS) });
    const key = 'order-after-commit';
    const body = '{"item":"lamp"}';
    const lost = post(doomed.port, '/v1/orders', key, body, { 'x-kill': 'after-commit' }).catch(() => 'connection lost');
    expect(await lost).toBe('connection lost');
    await exited(doomed.child);
    expect(await ordersOf(key)).toBe(1);
    const { rows } = await pool.query(`SELECT id FROM bulwark_test.${PREFIX}orders WHERE key = $1`, [key]);
    for (const worker of workers) {
      const retry = await post(worker.port, '/v1/orders', key, body);
      expect(retry.status).toBe(201);
      expect(retry.replayed).toBe(true);
      expect(JSON.parse(retry.body)).toEqual({ id: rows[0].id, item: 'lamp' });
    }
    await sleep(LEASE_MS * 2);
    expect((await post(workers[1]!.port, '/v1/orders', key, body)).replayed).toBe(true);
    expect(await ordersOf(key)).toBe(1);
  }, 30_000);

  it('not killed: the captured response replaces the provisional one; the order is written once', async () => {
    const key = 'order-plain';
    const body = '{"item":"pen"}';
    const first = await post(workers[0]!.port, '/v1/orders', key, body);
    expect(first).toMatchObject({ status: 201, replayed: false });
    const replay = await post(workers[3]!.port, '/v1/orders', key, body);
    expect(replay).toMatchObject({ status: 201, replayed: true, body: first.body });
    expect(await ordersOf(key)).toBe(1);
  });
});

describe('PostgresStore rate limits across 4 processes', () => {
  const fire = (costs: number[], prefixKey: string) =>
    Promise.all(costs.map((cost, i) => request(workers[i % 4]!.port, { method: 'GET', path: `/limited?k=${prefixKey}`, agent, headers: { 'x-cost': String(cost) } }).then((r) => r.status)));

  it('1,000 concurrent requests at one key with limit 100 admit exactly 100', async () => {
    const statuses = await fire(Array.from({ length: 1_000 }, () => 1), 'a');
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(900);
  }, 60_000);

  it('with random costs 1-5 at a fresh key, the admitted costs sum to at most the limit', async () => {
    await pool.query(`DELETE FROM bulwark_test.${PREFIX}rate`);
    const costs = Array.from({ length: 600 }, () => 1 + Math.floor(Math.random() * 5));
    const statuses = await fire(costs, 'b');
    const admitted = statuses.reduce((sum, status, i) => sum + (status === 200 ? costs[i]! : 0), 0);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(admitted).toBeLessThanOrEqual(100);
    expect(admitted).toBeGreaterThanOrEqual(96);
  }, 60_000);
});
