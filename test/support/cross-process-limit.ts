/**
 * Limit accuracy across processes on one Redis, for any client: four Express workers (the app of
 * test/support/limit-worker-app.ts on the client under test), forked with an IPC channel, share one key;
 * 1,000 concurrent requests must admit exactly the limit.
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, redisUrl, testPrefix } from './redis.js';

/** One client's suite, for {@link describeCrossProcessLimit}. */
export interface CrossProcessLimitSuite {
  /** The describe block's title. */
  title: string;
  /** Path of the worker fixture. */
  worker: string;
  /** Name of the suite's key prefix (see testPrefix). */
  prefix: string;
  /**
   * Environment of the `i`-th worker of four.
   * @default () => ({})
   */
  workerEnv?: (i: number) => Record<string, string>;
  /**
   * Timeout of each test; undefined: vitest's.
   * @default undefined
   */
  testMs?: number;
}

async function startWorkers(suite: CrossProcessLimitSuite, count: number, env: Record<string, string>): Promise<{ ports: number[]; children: ChildProcess[] }> {
  const children: ChildProcess[] = [];
  const ports = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const child = fork(suite.worker, [], {
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, ...env, REDIS_URL: redisUrl(), ...suite.workerEnv?.(i) },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      children.push(child);
      return new Promise<number>((resolve, reject) => {
        child.once('message', (message) => resolve((message as { port: number }).port));
        child.once('exit', (code) => reject(new Error(`worker exited with ${code} before listening`)));
      });
    }),
  );
  return { ports, children };
}

function get(agent: http.Agent, port: number, cost: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent, headers: { 'x-cost': String(cost) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

/**
 * The accuracy suite: fresh workers (and a fresh key prefix) per test, exiting when disconnected.
 *
 * @example
 * ```ts
 * describeCrossProcessLimit({ title: 'accuracy across 4 processes sharing one Redis', worker: WORKER, prefix: 'xproc' });
 * ```
 */
export function describeCrossProcessLimit(suite: CrossProcessLimitSuite): void {
  describe(suite.title, () => {
    const children: ChildProcess[] = [];
    beforeAll(async () => {
      const redis = await connectRedis(); // fails with one line when Redis is missing
      redis.disconnect();
    });
    afterAll(() => {
      for (const child of children) if (child.connected) child.disconnect();
    });

    async function fire(limit: number, costs: number[]): Promise<number[]> {
      const workers = await startWorkers(suite, 4, { LIMIT: String(limit), PREFIX: testPrefix(suite.prefix) });
      children.push(...workers.children);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
      try {
        return await Promise.all(costs.map((cost, i) => get(agent, workers.ports[i % 4]!, cost)));
      } finally {
        agent.destroy();
        for (const child of workers.children) child.disconnect();
      }
    }

    it('1,000 concurrent requests at one key with limit 100 admit exactly 100', async () => {
      const statuses = await fire(100, Array.from({ length: 1_000 }, () => 1));
      expect(statuses.filter((s) => s === 200)).toHaveLength(100);
      expect(statuses.filter((s) => s === 429)).toHaveLength(900);
    }, suite.testMs);

    it('with random costs 1-5 the admitted costs sum to at most the limit', async () => {
      const costs = Array.from({ length: 1_000 }, () => 1 + Math.floor(Math.random() * 5));
      const statuses = await fire(100, costs);
      const admitted = statuses.reduce((sum, status, i) => sum + (status === 200 ? costs[i]! : 0), 0);
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
      expect(admitted).toBeLessThanOrEqual(100);
      expect(admitted).toBeGreaterThanOrEqual(96);
    }, suite.testMs);
  });
}
