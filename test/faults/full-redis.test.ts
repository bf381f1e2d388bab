/**
 * Redis out of memory, and Redis that may evict: on redis-servers of the test's own.
 *
 * At `maxmemory` with `noeviction`, Redis refuses the write of a whole response; the engine retries it
 * within storeTimeoutMs, then records the key as completed but not replayable (a write Redis still
 * accepts), so a retry after the lease never runs the handler again; the lease keeps being renewed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/stores/redis/index.js';
import { type PrivateRedis, startPrivateRedis } from '../support/redis-server.js';
import { killWorkers, post, runsOf, sleep, startWorker, until, type Worker } from './fixtures/workers.js';

const LEASE_MS = 300;
const servers: PrivateRedis[] = [];

afterAll(async () => {
  await killWorkers();
  await Promise.all(servers.map((server) => server.stop()));
});

describe('Redis at maxmemory with noeviction', () => {
  let server: PrivateRedis;
  let worker: Worker;

  beforeAll(async () => {
    server = await startPrivateRedis({ args: ['--maxmemory-policy', 'noeviction'] });
    servers.push(server);
    worker = await startWorker(server.url, { PREFIX: 'full:', LEASE_MS: String(LEASE_MS), STORE_TIMEOUT_MS: '300' });
  }, 30_000);

  it('the handler runs once: its caller gets the 201, duplicates get 409 while it runs past its lease, a retry after it gets 422 idempotency_key_used, reported once', async () => {
    expect((await post(worker.port, 'warm')).status).toBe(201);
    const slow = `ms=${LEASE_MS * 3}`;
    const first = post(worker.port, 'full-1', slow);
    await until(() => runsOf('full-1', worker) === 1);
    await server.admin.config('SET', 'maxmemory', '1');
    // The handler outlives its lease three times over: renewals still succeed at maxmemory.
    for (let i = 0; i < 3; i++) {
      await sleep(LEASE_MS * 0.8);
      const duplicate = await post(worker.port, 'full-1', slow);
      expect(duplicate.status).toBe(409);
      expect(JSON.parse(duplicate.body).error).toBe('idempotency_conflict');
    }
    const reply = await first;
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.body).id).toMatch(/^run_/);
    expect(worker.reports).toEqual(['not_replayable']);
    await sleep(LEASE_MS * 1.5);
    for (let i = 0; i < 3; i++) {
      const retry = await post(worker.port, 'full-1', slow);
      expect(retry.status).toBe(422);
      expect(JSON.parse(retry.body)).toMatchObject({ error: 'idempotency_key_used', replayable: false });
    }
    expect(runsOf('full-1', worker)).toBe(1);

    // Memory back: normal service, with replays of the same bytes.
    await server.admin.config('SET', 'maxmemory', '0');
    const fresh = await post(worker.port, 'full-2');
    expect(fresh.status).toBe(201);
    const replay = await post(worker.port, 'full-2');
    expect(replay.replayed).toBe(true);
    expect(replay.body).toBe(fresh.body);
    expect(runsOf('full-2', worker)).toBe(1);
    expect(worker.reports).toEqual(['not_replayable']);
    expect(worker.alive()).toBe(true);
  }, 20_000);
});

describe('Redis at maxmemory with noeviction refuses fresh keys', () => {
  it('claims of fresh keys are refused (a 503 upstream), and the memory Redis holds does not grow with them', async () => {
    const server = await startPrivateRedis({ args: ['--maxmemory-policy', 'noeviction'] });
    servers.push(server);
    const store = new RedisStore(server.client(), { prefix: 'oom:', onWarning: () => {} });
    // A lapsed claim to take over at maxmemory: its record is there already.
    expect((await store.idempotency.claim('stale', 'fp', 't0', 1, 60_000)).type).toBe('claimed');
    await sleep(5);
    const used = async () => Number(/used_memory:(\d+)/.exec(String(await server.admin.info('memory')))?.[1]);
    await server.admin.config('SET', 'maxmemory', String((await used()) + 1));
    const before = await used();
    let refused = 0;
    for (let i = 0; i < 2_000; i++) {
      try {
        await store.idempotency.claim(`fresh-${i}-${'x'.repeat(40)}`, 'fp'.repeat(20), `t${i}`, 60_000, 60_000);
      } catch {
        refused++;
      }
    }
    expect(refused).toBe(2_000);
    expect(await used()).toBeLessThan(before + 64 * 1024);
    // Taking over a lapsed claim replaces a record in place, and still works at maxmemory.
    expect((await store.idempotency.claim('stale', 'fp', 't1', 60_000, 60_000)).type).toBe('claimed');
    await server.admin.config('SET', 'maxmemory', '0');
  }, 30_000);
});

describe('RedisStore warns once when maxmemory-policy may evict its keys', () => {
  async function warningsFrom(args: string[]): Promise<{ warnings: string[]; configCalls: number }> {
    const server = await startPrivateRedis({ args });
    servers.push(server);
    const warnings: string[] = [];
    const store = new RedisStore(server.client(), { prefix: 'policy:', onWarning: (message) => warnings.push(message) });
    for (let i = 0; i < 20; i++) {
      const result = await store.idempotency.claim(`k${i}`, 'fp', `t${i}`, 1000, 60_000);
      expect(result.type).toBe('claimed');
    }
    await sleep(100);
    const stats = String(await server.admin.call(args.includes('INFO') ? 'INFO_HIDDEN' : 'INFO', 'commandstats'));
    const calls = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
    return { warnings, configCalls: calls('config\\|get') };
  }

  it('allkeys-lru: one line naming the policy, after one CONFIG GET for twenty claims', async () => {
    const { warnings, configCalls } = await warningsFrom(['--maxmemory-policy', 'allkeys-lru', '--maxmemory', '64mb']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^bulwark: RedisStore: Redis maxmemory-policy is allkeys-lru: /);
    expect(warnings[0]).not.toMatch(/k\d|fp|t\d/);
    expect(configCalls).toBe(1);
  });

  it('volatile-ttl with CONFIG renamed away (as managed Redis does): read from INFO memory', async () => {
    const { warnings } = await warningsFrom(['--maxmemory-policy', 'volatile-ttl', '--rename-command', 'CONFIG', '']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('volatile-ttl');
  });

  it('silent under noeviction, and silent when neither CONFIG nor INFO answers', async () => {
    expect((await warningsFrom(['--maxmemory-policy', 'noeviction'])).warnings).toEqual([]);
    const hidden = await warningsFrom(['--maxmemory-policy', 'allkeys-lru', '--rename-command', 'CONFIG', '', '--rename-command', 'INFO', 'INFO_HIDDEN']);
    expect(hidden.warnings).toEqual([]);
  });
});
