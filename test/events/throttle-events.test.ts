/**
 * Every rate-limit and spend-cap decision is published on its `bulwark:*` channel, and every switch of a
 * store between unavailable and available on `bulwark:store`: driven by real requests through the
 * adapters over real sockets (and `guard()` called directly), with exact event sequences, keys only as
 * digests, and stores that die (a redis-server killed and restarted, a client on a dead port).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guard } from '../../adapters/fetch.js';
import { CHANNELS, hashKey, type RateLimitEvent, type SpendCapEvent, type StoreEvent } from '../../src/events/channels.js';
import { NEXT } from '../../src/guard/respond.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import type { StoreSwitchEvent } from '../../src/throttle/outage.js';
import { createRateLimiter } from '../../src/throttle/rate-limiter.js';
import { type AppSpec, nativeHeader, send, startServer, type Variant } from '../support/matrix.js';
import { freePort, type OwnRedisServer, startRedisServer, TEST_CLIENT_OPTIONS, testPrefix } from '../support/redis.js';
import { view } from '../throttle/view.js';

/** Collects what one channel publishes until `stop()`. */
function listen<T>(name: string): { events: T[]; stop(): void } {
  const events: T[] = [];
  const onMessage = (message: unknown) => events.push(message as T);
  subscribe(name, onMessage);
  return { events, stop: () => unsubscribe(name, onMessage) };
}

async function until(what: string, holds: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const ADAPTERS: Variant[] = ['express5', 'koa3', 'fetch', 'hono', 'fastify5'];
const SECRET = 'acct-secret-7f3a';

const route = {
  method: 'POST' as const,
  path: '/v1/messages',
  handler: (req: { header(name: string): string | undefined }) => {
    const status = Number(req.header('x-answer') ?? '202');
    return { status, json: { ok: status < 300 } };
  },
};

const post = (cost: number, answer = '202', extra: Record<string, string> = {}) => ({
  method: 'POST',
  path: '/v1/messages',
  headers: { 'x-account': SECRET, 'x-cost': String(cost), 'x-answer': answer, ...extra },
  body: '{}',
});

const keyAndCost = (variant: Variant) => {
  const header = nativeHeader(variant);
  return {
    key: (request: unknown) => header(request, 'x-account') ?? 'nobody',
    cost: (request: unknown) => Number(header(request, 'x-cost') ?? '1'),
  };
};

describe('bulwark:rate-limit through the adapters', () => {
  for (const variant of ADAPTERS) {
    it(`${variant}: allow, refund, throttle and too-costly, in order, the key only as a digest`, async () => {
      const spec: AppSpec = {
        guards: [{ kind: 'rateLimit', options: { name: 'api', limit: 2, windowMs: 60_000, skipFailedRequests: true, ...keyAndCost(variant) } }],
        routes: [route],
        errors: { onError: () => {} },
      };
      const server = await startServer(variant, spec);
      const channel = listen<RateLimitEvent>(CHANNELS.rateLimit);
      try {
        const statuses: number[] = [];
        statuses.push((await send(server.url, post(1))).status);
        statuses.push((await send(server.url, post(1, '500'))).status);
        await until('the refund event', () => channel.events.some((e) => e.decision === 'refund'));
        statuses.push((await send(server.url, post(1))).status);
        statuses.push((await send(server.url, post(1))).status);
        statuses.push((await send(server.url, post(5))).status);
        expect(statuses).toEqual([202, 500, 202, 429, 422]);

        const key = hashKey(`rl:api:${SECRET}`);
        const base = { guard: 'rateLimit', policy: 'api', key, limit: 2, mode: 'enforce', wouldDeny: false, source: 'store' };
        const events = channel.events.filter((e) => e.policy === 'api');
        const throttle = events[4]!;
        expect(throttle.retryAfterMs).toBeGreaterThan(25_000);
        expect(throttle.retryAfterMs).toBeLessThanOrEqual(30_000);
        expect(events).toEqual([
          { ...base, decision: 'allow', cost: 1, remaining: 1 },
          { ...base, decision: 'allow', cost: 1, remaining: 0 },
          { ...base, decision: 'refund', cost: 1, remaining: 0 },
          { ...base, decision: 'allow', cost: 1, remaining: 0 },
          { ...base, decision: 'throttle', cost: 1, remaining: 0, retryAfterMs: throttle.retryAfterMs },
          { ...base, decision: 'too-costly', cost: 5, remaining: 0 },
        ]);
        expect(JSON.stringify(channel.events)).not.toContain(SECRET);
      } finally {
        channel.stop();
        await server.close();
      }
    });
  }
});

describe('bulwark:spend-cap through the adapters', () => {
  for (const variant of ADAPTERS) {
    it(`${variant}: allow, deny with its period, refund, and a keyed retry marked retried`, async () => {
      const spec: AppSpec = {
        guards: [{ kind: 'spendCap', options: { name: 'sms', daily: 3, ...keyAndCost(variant) } }],
        routes: [route],
        errors: { onError: () => {} },
      };
      const server = await startServer(variant, spec);
      const channel = listen<SpendCapEvent>(CHANNELS.spendCap);
      try {
        const statuses: number[] = [];
        statuses.push((await send(server.url, post(2))).status);
        statuses.push((await send(server.url, post(2))).status);
        statuses.push((await send(server.url, post(1, '500'))).status);
        await until('the refund event', () => channel.events.some((e) => e.decision === 'refund'));
        statuses.push((await send(server.url, post(1, '202', { 'idempotency-key': 'k1' }))).status);
        statuses.push((await send(server.url, post(1, '202', { 'idempotency-key': 'k1' }))).status);
        expect(statuses).toEqual([202, 403, 500, 202, 202]);

        const key = hashKey(`sc:sms:${SECRET}`);
        const base = { guard: 'spendCap', policy: 'sms', key, mode: 'enforce', wouldDeny: false, source: 'store' };
        expect(channel.events.filter((e) => e.policy === 'sms')).toEqual([
          { ...base, decision: 'allow', cost: 2 },
          { ...base, decision: 'deny', cost: 2, period: 'daily' },
          { ...base, decision: 'allow', cost: 1 },
          { ...base, decision: 'refund', cost: 1 },
          { ...base, decision: 'allow', cost: 1 },
          { ...base, decision: 'allow', cost: 1, retried: true },
        ]);
        expect(JSON.stringify(channel.events)).not.toContain(SECRET);
      } finally {
        channel.stop();
        await server.close();
      }
    });
  }
});

describe('no subscriber', () => {
  it('publishes nothing and the decision is the shared NEXT, answered synchronously', () => {
    const limiter = createRateLimiter({ limit: 5, windowMs: 60_000, headers: false, key: () => 'k', name: 'quiet' });
    const decision = limiter.check(view());
    expect(decision).toBe(NEXT);
    const channel = listen<RateLimitEvent>(CHANNELS.rateLimit);
    limiter.check(view());
    channel.stop();
    limiter.check(view());
    expect(channel.events.map((e) => e.remaining)).toEqual([3]);
  });
});

describe('a Redis store that dies and comes back (a redis-server of the test own)', () => {
  let server: OwnRedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url, { ...TEST_CLIENT_OPTIONS, retryStrategy: () => 50 });
    redis.on('error', () => {});
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('express5: degraded then recovered on bulwark:store for each guard, decisions from the fallback meanwhile', async () => {
    const store = new RedisStore(redis, { prefix: testPrefix('events-outage'), commandTimeoutMs: 200 });
    const switches: StoreSwitchEvent[] = [];
    const onStoreSwitch = (event: StoreSwitchEvent) => switches.push(event);
    const spec: AppSpec = {
      guards: [
        { kind: 'rateLimit', options: { name: 'outage-rl', limit: 100, windowMs: 60_000, store, key: () => 'one', onStoreSwitch } },
        { kind: 'spendCap', options: { name: 'outage-sc', daily: 100, store, key: () => 'one', onStoreSwitch } },
      ],
      routes: [route],
      errors: { onError: () => {} },
    };
    const app = await startServer('express5', spec);
    const stores = listen<StoreEvent>(CHANNELS.store);
    const limits = listen<RateLimitEvent>(CHANNELS.rateLimit);
    const spends = listen<SpendCapEvent>(CHANNELS.spendCap);
    try {
      expect((await send(app.url, post(1))).status).toBe(202);
      await server.kill();
      expect((await send(app.url, post(1))).status).toBe(202);
      expect(stores.events).toEqual([
        { guard: 'rateLimit', decision: 'degraded', policy: 'outage-rl', outage: 'fallback' },
        { guard: 'spendCap', decision: 'degraded', policy: 'outage-sc', outage: 'fallback' },
      ]);
      await server.restart();
      const deadline = Date.now() + 15_000;
      while (stores.events.length < 4 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect((await send(app.url, post(1))).status).toBe(202);
      }
      const of = (guard: string) => stores.events.filter((e) => e.guard === guard).map((e) => e.decision);
      expect(of('rateLimit')).toEqual(['degraded', 'recovered']);
      expect(of('spendCap')).toEqual(['degraded', 'recovered']);
      // The hook still hears every switch, the channel beside it.
      expect(switches.map((e) => `${e.name} ${e.state}`).sort()).toEqual(
        ['rateLimit "outage-rl" degraded', 'rateLimit "outage-rl" recovered', 'spendCap "outage-sc" degraded', 'spendCap "outage-sc" recovered'],
      );
      const sources = (events: Array<{ source: string }>) => events.map((e) => e.source);
      const rl = sources(limits.events.filter((e) => e.policy === 'outage-rl'));
      const sc = sources(spends.events.filter((e) => e.policy === 'outage-sc'));
      for (const seen of [rl, sc]) {
        expect(seen[0]).toBe('store');
        expect(seen[1]).toBe('fallback');
        expect(seen.at(-1)).toBe('store');
      }
    } finally {
      stores.stop();
      limits.stop();
      spends.stop();
      await app.close();
    }
  }, 30_000);
});

describe("a store on a dead port: 'open' and 'closed' decide, and say so", () => {
  let redis: Redis;
  beforeAll(async () => {
    const port = await freePort();
    redis = new Redis(port, '127.0.0.1', { ...TEST_CLIENT_OPTIONS, enableOfflineQueue: false, retryStrategy: () => 1000 });
    redis.on('error', () => {});
  });
  afterAll(() => redis.disconnect());

  it("guard(): 'open' admits with source 'open'; 'closed' answers 503 with source 'closed'", async () => {
    const store = new RedisStore(redis, { prefix: 'dead:', commandTimeoutMs: 100 });
    const handler = () => new Response('ok');
    const open = guard(handler, {
      errors: { onError: () => {} },
      rateLimit: { name: 'dead-open', limit: 10, windowMs: 60_000, store, key: () => SECRET, onStoreError: 'open', logger: { warn() {}, error() {} } },
      spendCap: { name: 'dead-open', daily: 10, store, key: () => SECRET, onStoreError: 'open', logger: { warn() {}, error() {} } },
    });
    const closed = guard(handler, {
      errors: { onError: () => {} },
      rateLimit: { name: 'dead-closed', limit: 10, windowMs: 60_000, store, key: () => SECRET, onStoreError: 'closed', logger: { warn() {}, error() {} } },
    });
    const closedCap = guard(handler, {
      errors: { onError: () => {} },
      spendCap: { name: 'dead-closed', daily: 10, store, key: () => SECRET, onStoreError: 'closed', logger: { warn() {}, error() {} } },
    });
    const stores = listen<StoreEvent>(CHANNELS.store);
    const limits = listen<RateLimitEvent>(CHANNELS.rateLimit);
    const spends = listen<SpendCapEvent>(CHANNELS.spendCap);
    try {
      const request = () => new Request('http://x/v1', { method: 'POST' });
      expect((await open(request())).status).toBe(200);
      expect((await closed(request())).status).toBe(503);
      expect((await closedCap(request())).status).toBe(503);
      expect(stores.events).toEqual([
        { guard: 'rateLimit', decision: 'degraded', policy: 'dead-open', outage: 'open' },
        { guard: 'spendCap', decision: 'degraded', policy: 'dead-open', outage: 'open' },
        { guard: 'rateLimit', decision: 'degraded', policy: 'dead-closed', outage: 'closed' },
        { guard: 'spendCap', decision: 'degraded', policy: 'dead-closed', outage: 'closed' },
      ]);
      const rlKey = (name: string) => hashKey(`rl:${name}:${SECRET}`);
      const scKey = (name: string) => hashKey(`sc:${name}:${SECRET}`);
      expect(limits.events).toEqual([
        { guard: 'rateLimit', decision: 'allow', policy: 'dead-open', key: rlKey('dead-open'), cost: 1, limit: 10, remaining: 10, source: 'open', mode: 'enforce', wouldDeny: false },
        {
          guard: 'rateLimit',
          decision: 'throttle',
          policy: 'dead-closed',
          key: rlKey('dead-closed'),
          cost: 1,
          limit: 10,
          remaining: 0,
          retryAfterMs: 1000,
          source: 'closed',
          mode: 'enforce',
          wouldDeny: false,
        },
      ]);
      expect(spends.events).toEqual([
        { guard: 'spendCap', decision: 'allow', policy: 'dead-open', key: scKey('dead-open'), cost: 1, source: 'open', mode: 'enforce', wouldDeny: false },
        { guard: 'spendCap', decision: 'deny', policy: 'dead-closed', key: scKey('dead-closed'), cost: 1, source: 'closed', mode: 'enforce', wouldDeny: false },
      ]);
    } finally {
      stores.stop();
      limits.stop();
      spends.stop();
    }
  });
});

describe('a refund on a store without refunds', () => {
  it('publishes no refund event (nothing was given back)', async () => {
    const memory = new MemoryStore();
    const store = { throttle: { consume: memory.throttle.consume.bind(memory.throttle), spend: memory.throttle.spend.bind(memory.throttle) } };
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const limiter = createRateLimiter({ name: 'norefund', limit: 5, windowMs: 60_000, store, key: () => 'k', skipFailedRequests: true });
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    expect(warnings).toEqual(['bulwark: rateLimit "norefund": the store has no refundRate(); units are never given back']);
    const channel = listen<RateLimitEvent>(CHANNELS.rateLimit);
    try {
      const decision = await limiter.check(view());
      expect(decision.type === 'next' && decision.onOutcome).toBeFalsy();
      expect(channel.events.map((e) => e.decision)).toEqual(['allow']);
    } finally {
      channel.stop();
    }
  });
});
