/**
 * RedisStore on node-redis 4 and 5 (single node and cluster), each on redis-servers of the test's own: one
 * EVALSHA per decision, EVAL only after NOSCRIPT, the eviction-policy warning (CONFIG GET, or INFO where
 * CONFIG is disabled), replies whatever the client's RESP version and type mapping, and a killed server:
 * every decision rejects within `commandTimeoutMs` (offline queue on or off), guards answer 503, nothing is
 * rejected unhandled, and decisions go back to Redis when it returns.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import { RESP_TYPES } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler, idempotency, rateLimit } from '../../adapters/express.js';
import { StoreUnavailableError } from '../../src/stores/store-error.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { type AnyNodeRedis, closeNodeRedis, connectNodeRedis, connectNodeRedisCluster } from '../support/node-redis.js';
import { commandCalls, type OwnRedisCluster, startCluster, testPrefix } from '../support/redis.js';
import { type PrivateRedis, startPrivateRedis } from '../support/redis-server.js';

const DEADLINE_MS = 300;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
// One unit refills in 10^6 ms: remaining counts are exact for the length of a test.
const rate = { key: 'k', algorithm: 'gcra' as const, limit: 1000, windowMs: 1_000_000_000, burst: 1000, cost: 1 };
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

/** Settles with the decision's outcome, or 'hang' if it has none well past the deadline. */
async function outcome(decision: Promise<unknown>): Promise<unknown> {
  return Promise.race([decision.then(() => 'answered', (err: unknown) => err), sleep(DEADLINE_MS + 2_000).then(() => 'hang')]);
}

async function policyWarnings(store: RedisStore): Promise<string[]> {
  const warnings: string[] = [];
  const watched = new RedisStore(store.redis, { prefix: store.options.prefix, onWarning: (message) => warnings.push(message) });
  for (let i = 0; i < 5; i++) await watched.idempotency.claim(`policy-${i}`, 'fp', `t${i}`, 1_000, 10_000);
  for (let i = 0; i < 50 && warnings.length === 0; i++) await sleep(20);
  await sleep(50);
  return warnings;
}

it('bulwark loads neither redis nor ioredis: src/ imports them for their types only', () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) files.push(path);
    }
  };
  walk(join(import.meta.dirname, '../../src'));
  walk(join(import.meta.dirname, '../../adapters'));
  const loads = files.filter((file) =>
    /^\s*import\s+(?!type\s)[^;]*from\s+['"](redis|redis4|ioredis|@redis\/[^'"]+)['"]|(require|import)\(\s*['"](redis|ioredis)/m.test(readFileSync(file, 'utf8')),
  );
  expect(loads).toEqual([]);
});

it('refuses a client of neither library with a TypeError naming both', () => {
  expect(() => new RedisStore({ sendCommand: () => {} } as never)).toThrow(
    /^RedisStore: redis must be an ioredis Redis or Cluster, or a node-redis client or cluster/,
  );
  expect(() => new RedisStore(null as never)).toThrow(TypeError);
});

describe.each([5, 4] as const)('node-redis %i on its own redis-server', (version) => {
  let server: PrivateRedis;
  let client: AnyNodeRedis;
  beforeAll(async () => {
    server = await startPrivateRedis();
    client = await connectNodeRedis(version, server.url);
  });
  afterAll(async () => {
    if (client) await closeNodeRedis(client);
    await server?.stop();
  });

  it(`node-redis ${version}: one round trip (one EVALSHA) per decision in the steady state, idempotency included`, async () => {
    const store = new RedisStore(client, { prefix: testPrefix(`nr${version}-rt`), onWarning: () => {} });
    await store.throttle.consume(rate);
    expect(await store.idempotency.claim('warm', 'fp', 't0', 1_000, 10_000)).toEqual({ type: 'claimed' });
    expect(await store.idempotency.complete('warm', 't0', null, 10_000)).toBe(true); // every script loaded once
    await sleep(100); // the policy check, once, in the background
    await server.admin.config('RESETSTAT');
    for (let i = 0; i < 20; i++) await store.throttle.consume(rate);
    for (let i = 0; i < 10; i++) {
      expect(await store.idempotency.claim(`k${i}`, 'fp', `t${i}`, 1_000, 10_000)).toEqual({ type: 'claimed' });
      expect(await store.idempotency.complete(`k${i}`, `t${i}`, { status: 201, headers: [['x', 'y']], body: new Uint8Array([1, 2]) }, 10_000)).toBe(true);
    }
    const calls = await commandCalls(server.admin);
    expect(calls.evalsha).toBe(40);
    expect(calls.eval ?? 0).toBe(0);
    const replay = await store.idempotency.claim('k3', 'fp', 'other', 1_000, 10_000);
    expect(replay).toEqual({ type: 'completed', fingerprint: 'fp', response: { status: 201, headers: [['x', 'y']], body: new Uint8Array([1, 2]) } });
  });

  it(`node-redis ${version}: after SCRIPT FLUSH: EVAL once on NOSCRIPT, then EVALSHA again`, async () => {
    const store = new RedisStore(client, { prefix: testPrefix(`nr${version}-flush`) });
    const request = { ...rate, algorithm: 'sliding-window' as const, limit: 5, burst: 5 };
    expect((await store.throttle.consume(request)).remaining).toBe(4);
    await server.admin.script('FLUSH');
    await server.admin.config('RESETSTAT');
    expect((await store.throttle.consume(request)).remaining).toBe(3);
    expect((await store.throttle.consume(request)).remaining).toBe(2);
    const calls = await commandCalls(server.admin);
    expect(calls.eval).toBe(1);
    expect(calls.evalsha).toBe(2);
  });

  it(`node-redis ${version}: warns once when maxmemory-policy may evict idempotency records, and not under noeviction`, async () => {
    const store = new RedisStore(client, { prefix: testPrefix(`nr${version}-policy`) });
    await server.admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      const warnings = await policyWarnings(store);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^bulwark: RedisStore: Redis maxmemory-policy is allkeys-lru: /);
    } finally {
      await server.admin.config('SET', 'maxmemory-policy', 'noeviction');
    }
    expect(await policyWarnings(store)).toEqual([]);
  });

  it(`node-redis ${version}: a killed server: every decision rejects within the deadline (offline queue on and off), guards answer 503, then Redis is used again`, async () => {
    const queueless = await connectNodeRedis(version, server.url, { disableOfflineQueue: true });
    const prefix = testPrefix(`nr${version}-down`);
    const stores = [client, queueless].map((redis) => new RedisStore(redis, { prefix, commandTimeoutMs: DEADLINE_MS, onWarning: () => {} }));
    const app = express();
    app.use(idempotency({ store: stores[0]!, storeTimeoutMs: DEADLINE_MS }));
    app.use(rateLimit({ limit: 100, windowMs: 60_000, store: stores[1]!, onStoreError: 'closed', key: () => 'one' }));
    app.post('/', (_req, res) => {
      res.status(201).json({ ok: true });
    });
    app.use(errorHandler({ onError: () => {} }));
    const listener = http.createServer(app);
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/`;
    const post = (key: string) => fetch(url, { method: 'POST', headers: { 'idempotency-key': key }, signal: AbortSignal.timeout(DEADLINE_MS * 4 + 3_000) });
    try {
      expect((await post('before')).status).toBe(201);
      await server.kill();
      for (let round = 0; round < 3; round++) {
        for (const store of stores) {
          expect(await outcome(store.throttle.consume(rate))).toBeInstanceOf(StoreUnavailableError);
          expect(await outcome(store.idempotency.claim(`down-${round}`, 'fp', 't', 1_000, 10_000))).toBeInstanceOf(StoreUnavailableError);
        }
      }
      const answer = await post('during');
      expect(answer.status).toBe(503);
      expect(((await answer.json()) as { error: string }).error).toBe('service_unavailable');
      await server.restart();
      let status = 0;
      for (let i = 0; i < 100 && status !== 201; i++) {
        await sleep(50);
        status = (await post(`after-${i}`)).status;
      }
      expect(status).toBe(201);
      for (const store of stores) expect((await store.throttle.consume(rate)).allowed).toBe(true);
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await closeNodeRedis(queueless);
    }
  }, 30_000);
});

describe('node-redis 5: the client options do not change what the store reads', () => {
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await startPrivateRedis();
  });
  afterAll(() => server?.stop());

  it('RESP3, and a type mapping that answers bytes as Buffers: the same decisions and replays', async () => {
    const { createClient } = await import('redis');
    const resp3 = createClient({ url: server.url, RESP: 3 });
    const mapped = createClient({
      url: server.url,
      RESP: 3,
      commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.SIMPLE_STRING]: Buffer, [RESP_TYPES.NUMBER]: String } },
    });
    for (const client of [resp3, mapped]) {
      client.on('error', () => {});
      await client.connect();
    }
    try {
      const proxy = resp3.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.SIMPLE_STRING]: Buffer });
      for (const redis of [resp3, mapped, proxy]) {
        const store = new RedisStore(redis, { prefix: testPrefix('nr5-types'), onWarning: () => {} });
        expect((await store.throttle.consume({ ...rate, limit: 2, burst: 2 })).remaining).toBe(1);
        expect(await store.idempotency.claim('a', 'fp', 't', 1_000, 10_000)).toEqual({ type: 'claimed' });
        const inFlight = await store.idempotency.claim('a', 'fp', 'u', 1_000, 10_000);
        expect(inFlight).toMatchObject({ type: 'in_flight', fingerprint: 'fp' });
        expect(typeof (inFlight as { leaseRemainingMs: unknown }).leaseRemainingMs).toBe('number');
        expect(await store.idempotency.renew('a', 't', 1_000)).toBe(true);
        expect(await store.idempotency.complete('a', 't', { status: 200, statusText: 'Fine ✓', headers: [['h', 'v']], body: new Uint8Array([0, 255]) }, 10_000)).toBe(true);
        expect(await store.idempotency.claim('a', 'fp', 'w', 1_000, 10_000)).toEqual({
          type: 'completed',
          fingerprint: 'fp',
          response: { status: 200, statusText: 'Fine ✓', headers: [['h', 'v']], body: new Uint8Array([0, 255]) },
        });
        await server.admin.config('SET', 'maxmemory-policy', 'volatile-lru');
        expect(await policyWarnings(store)).toHaveLength(1);
        await server.admin.config('SET', 'maxmemory-policy', 'noeviction');
      }
    } finally {
      resp3.destroy();
      mapped.destroy();
    }
  });

  it('a decision the offline queue still holds at the deadline is dropped: it never runs when the client reconnects', async () => {
    const client = await connectNodeRedis(5, server.url);
    const prefix = testPrefix('nr5-late');
    const store = new RedisStore(client, { prefix, commandTimeoutMs: DEADLINE_MS, onWarning: () => {} });
    try {
      await server.kill();
      expect(await outcome(store.throttle.consume({ ...rate, key: 'late' }))).toBeInstanceOf(StoreUnavailableError);
      expect(await outcome(store.idempotency.claim('late', 'fp', 't', 60_000, 60_000))).toBeInstanceOf(StoreUnavailableError);
      await server.restart();
      for (let i = 0; i < 100 && !client.isReady; i++) await sleep(50);
      expect(await client.ping()).toBe('PONG'); // after anything still queued
      expect(await server.admin.keys(`${prefix}*`)).toEqual([]);
      // The key is free: a retry is claimed at once, not blocked by a claim that ran late.
      expect(await store.idempotency.claim('late', 'fp', 't2', 1_000, 10_000)).toEqual({ type: 'claimed' });
    } finally {
      await closeNodeRedis(client);
    }
  }, 20_000);

  it('node-redis 4 with disableOfflineQueue refuses at once while disconnected, and nothing runs late', async () => {
    const client = await connectNodeRedis(4, server.url, { disableOfflineQueue: true });
    const prefix = testPrefix('nr4-late');
    const store = new RedisStore(client, { prefix, commandTimeoutMs: DEADLINE_MS, onWarning: () => {} });
    try {
      await server.kill();
      expect(await outcome(store.idempotency.claim('late', 'fp', 't', 60_000, 60_000))).toBeInstanceOf(StoreUnavailableError);
      await server.restart();
      for (let i = 0; i < 100 && !client.isReady; i++) await sleep(50);
      expect(await client.ping()).toBe('PONG');
      expect(await server.admin.keys(`${prefix}*`)).toEqual([]);
    } finally {
      await closeNodeRedis(client);
    }
  }, 20_000);
});

describe('node-redis cluster clients on a 3-primary Redis Cluster', () => {
  let cluster: OwnRedisCluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  afterAll(() => cluster?.stop());

  it.each([5, 4] as const)('node-redis %i: one EVALSHA per decision on the slot\'s node, EVAL after SCRIPT FLUSH, and the policy warning', async (version) => {
    const client = await connectNodeRedisCluster(version, cluster.nodes);
    const admin = cluster.connect();
    try {
      const store = new RedisStore(client, { prefix: testPrefix(`nr${version}-cluster`), onWarning: () => {} });
      const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`);
      for (const key of keys) await store.throttle.consume({ ...rate, key });
      const nodes = admin.nodes('master');
      await Promise.all(nodes.map((node) => node.config('RESETSTAT')));
      for (const key of keys) await store.throttle.consume({ ...rate, key });
      const calls = await Promise.all(nodes.map((node) => commandCalls(node)));
      expect(calls.reduce((sum, c) => sum + (c.evalsha ?? 0), 0)).toBe(keys.length);
      expect(calls.reduce((sum, c) => sum + (c.eval ?? 0), 0)).toBe(0);
      expect(calls.filter((c) => (c.evalsha ?? 0) > 0).length).toBeGreaterThan(1);

      await Promise.all(nodes.map((node) => node.script('FLUSH')));
      for (const key of keys) expect((await store.throttle.consume({ ...rate, key })).remaining).toBe(rate.limit - 3);
      const after = await Promise.all(nodes.map((node) => commandCalls(node)));
      expect(after.reduce((sum, c) => sum + (c.eval ?? 0), 0)).toBeGreaterThanOrEqual(1);
      expect(after.reduce((sum, c) => sum + (c.eval ?? 0), 0)).toBeLessThanOrEqual(nodes.length);

      await Promise.all(nodes.map((node) => node.config('SET', 'maxmemory-policy', 'allkeys-random')));
      try {
        const warnings = await policyWarnings(store);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain('allkeys-random');
      } finally {
        await Promise.all(nodes.map((node) => node.config('SET', 'maxmemory-policy', 'noeviction')));
      }
    } finally {
      await closeNodeRedis(client);
      admin.disconnect();
    }
  }, 30_000);
});

describe('the eviction policy through INFO where CONFIG is disabled', () => {
  it.each([5, 4] as const)('node-redis %i', async (version) => {
    const server = await startPrivateRedis({ args: ['--maxmemory-policy', 'volatile-ttl', '--rename-command', 'CONFIG', ''] });
    const client = await connectNodeRedis(version, server.url);
    try {
      const warnings = await policyWarnings(new RedisStore(client, { prefix: testPrefix(`nr${version}-info`) }));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('volatile-ttl');
    } finally {
      await closeNodeRedis(client);
      await server.stop();
    }
  });
});
