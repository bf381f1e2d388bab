import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Decision } from '../../src/guard/types.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { hashTag } from '../../src/stores/redis/script.js';
import type { StoreSwitchEvent } from '../../src/throttle/outage.js';
import { createRateLimiter } from '../../src/throttle/rate-limiter.js';
import { createSpendCap } from '../../src/throttle/spend-cap.js';
import { commandCalls, connectRedis, type OwnRedisServer, startRedisServer, TEST_CLIENT_OPTIONS, testPrefix } from '../support/redis.js';
import { view } from './view.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function client(url: string): Redis {
  const redis = new Redis(url, { ...TEST_CLIENT_OPTIONS, retryStrategy: () => 50 });
  redis.on('error', () => {});
  return redis;
}

describe('RedisStore throttle side on its own redis-server', () => {
  let server: OwnRedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = client(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('makes one round trip (one EVALSHA) per decision in the steady state', async () => {
    const store = new RedisStore(redis, { prefix: testPrefix('rt') });
    const request = { key: 'k', algorithm: 'gcra' as const, limit: 100, windowMs: 60_000, burst: 100, cost: 1 };
    await store.throttle.consume(request);
    await redis.config('RESETSTAT');
    for (let i = 0; i < 50; i++) await store.throttle.consume(request);
    const calls = await commandCalls(redis);
    expect(calls.evalsha).toBe(50);
    expect(calls.eval ?? 0).toBe(0);
  });

  it('recovers after SCRIPT FLUSH with EVAL on NOSCRIPT, then EVALSHA again', async () => {
    const store = new RedisStore(redis, { prefix: testPrefix('flush') });
    const request = { key: 'k', algorithm: 'sliding-window' as const, limit: 5, windowMs: 60_000, burst: 5, cost: 1 };
    expect((await store.throttle.consume(request)).allowed).toBe(true);
    await redis.script('FLUSH');
    await redis.config('RESETSTAT');
    expect((await store.throttle.consume(request)).remaining).toBe(3);
    expect((await store.throttle.consume(request)).remaining).toBe(2);
    const calls = await commandCalls(redis);
    expect(calls.eval).toBe(1);
    expect(calls.evalsha).toBe(2);
  });

  it('takes time from Redis TIME, not from the application clock', async () => {
    const prefix = testPrefix('time');
    const store = new RedisStore(redis, { prefix });
    const [seconds] = (await redis.time()) as unknown as [string | number];
    const spy = vi.spyOn(Date, 'now').mockReturnValue(0);
    const perf = vi.spyOn(performance, 'now').mockReturnValue(-1e12);
    try {
      const result = await store.throttle.consume({ key: 'k', algorithm: 'gcra', limit: 10, windowMs: 10_000, burst: 10, cost: 1 });
      expect(result.allowed).toBe(true);
      expect(result.resetMs).toBeCloseTo(1_000, 0);
    } finally {
      spy.mockRestore();
      perf.mockRestore();
    }
    // The arrival time: whole microseconds and a fraction over the limit.
    const [us, frac] = String(await redis.get(`${prefix}rl:${hashTag('k')}`)).split(':').map(Number);
    expect(frac).toBe(0);
    expect(Math.abs(us! - (Number(seconds) * 1_000_000 + 1_000_000))).toBeLessThan(5_000_000);
  });

  it('spend caps count in the day of Redis TIME: hosts whose clocks put them in other days share one daily counter', async () => {
    const store = new RedisStore(redis, { prefix: testPrefix('spend-time') });
    const cap = () => createSpendCap<any>({ daily: 5, cost: 2, key: () => 'acct', store, onStoreError: 'closed' });
    const [seconds] = (await redis.time()) as unknown as [string | number];
    const redisNow = Number(seconds) * 1000;
    const midnight = Math.floor(redisNow / 86_400_000) * 86_400_000; // the UTC day Redis is in began here
    const hosts = [
      { clock: redisNow, cap: cap() },
      { clock: midnight + 86_400_000 + 60_000, cap: cap() }, // already tomorrow, by its clock
      { clock: midnight - 60_000, cap: cap() }, // still yesterday, by its clock
    ];
    const clock = vi.spyOn(Date, 'now');
    const decisions: Array<Decision['type'] | number> = [];
    try {
      for (const host of hosts) {
        clock.mockReturnValue(host.clock);
        const decision = await host.cap.check(view());
        decisions.push(decision.type === 'respond' ? decision.status : decision.type);
      }
    } finally {
      clock.mockRestore();
    }
    // 2 + 2 of 5 fit in today's counter; the third host's 2 would make 6.
    expect(decisions).toEqual(['next', 'next', 403]);
  });

  it('keeps working after the server restarts (scripts are gone)', async () => {
    const store = new RedisStore(redis, { prefix: testPrefix('restart') });
    const request = { key: 'k', algorithm: 'gcra' as const, limit: 5, windowMs: 60_000, burst: 5, cost: 1 };
    expect((await store.throttle.consume(request)).allowed).toBe(true);
    await server.restart();
    for (let i = 0; i < 100 && redis.status !== 'ready'; i++) await sleep(50);
    expect((await store.throttle.consume(request)).remaining).toBe(4); // fresh server: state is gone, the script reloads
  });
});

describe('outage: Redis killed mid-load', () => {
  let server: OwnRedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function load(
    limiter: ReturnType<typeof createRateLimiter<any>>,
    ms: number,
    during: Array<[number, () => Promise<void>]>,
  ): Promise<Array<{ took: number; decision: Decision }>> {
    const out: Array<{ took: number; decision: Decision }> = [];
    const start = Date.now();
    let stop = false;
    const actions = (async () => {
      for (const [at, action] of during) {
        await sleep(Math.max(0, start + at - Date.now()));
        await action();
      }
    })();
    const workers = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const t0 = performance.now();
        const decision = await limiter.check(view());
        out.push({ took: performance.now() - t0, decision });
        await sleep(5);
      }
    });
    await sleep(ms);
    stop = true;
    await Promise.all([...workers, actions]);
    return out;
  }

  it("default 'fallback': decisions keep coming within the timeout, from a local limiter, and Redis is used again when it returns", async () => {
    const redis = client(server.url);
    const events: StoreSwitchEvent[] = [];
    const limiter = createRateLimiter<any>({
      limit: 100_000,
      windowMs: 60_000,
      key: () => 'load',
      store: new RedisStore(redis, { prefix: 'outage:', commandTimeoutMs: 200 }),
      onStoreSwitch: (event) => events.push(event),
    });
    try {
      const results = await load(limiter, 3_500, [
        [500, () => server.kill()],
        [1_500, () => server.restart()],
      ]);
      expect(results.length).toBeGreaterThan(100);
      expect(Math.max(...results.map((r) => r.took))).toBeLessThan(200 + 150);
      expect(results.every((r) => r.decision.type === 'next' && r.decision.headers?.some(([n]) => n === 'ratelimit'))).toBe(true);
      expect(events.map((e) => e.state)).toEqual(['degraded', 'recovered']);
      expect(events[0]!.mode).toBe('fallback');
      const check = client(server.url);
      try {
        expect(await check.get(`outage:rl:${hashTag('rl:100000-in-60s:load')}`)).toMatch(/^\d{16}:\d+$/);
      } finally {
        check.disconnect();
      }
    } finally {
      redis.disconnect();
    }
  });

  it("'closed' answers 503 service_unavailable while Redis is down; 'open' admits without headers", async () => {
    const redis = client(server.url);
    const store = new RedisStore(redis, { prefix: 'outage2:', commandTimeoutMs: 150 });
    const closed = createRateLimiter<any>({ limit: 10, windowMs: 60_000, store, onStoreError: 'closed', onStoreSwitch: () => {} });
    const open = createRateLimiter<any>({ limit: 10, windowMs: 60_000, store, onStoreError: 'open', onStoreSwitch: () => {} });
    try {
      expect((await closed.check(view())).type).toBe('next');
      await server.kill();
      const t0 = performance.now();
      const refused = await closed.check(view());
      expect(performance.now() - t0).toBeLessThan(150 + 150);
      expect(refused.type === 'respond' && refused.status).toBe(503);
      expect(refused.type === 'respond' && JSON.parse(String(refused.body)).error).toBe('service_unavailable');
      expect(await open.check(view())).toEqual({ type: 'next' });
    } finally {
      await server.restart();
      redis.disconnect();
    }
  });
});

describe('rate limiter on the shared Redis', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = await connectRedis();
  });
  afterAll(() => {
    redis?.disconnect();
  });

  it('refuses with an exact Retry-After and headers computed from Redis state', async () => {
    const limiter = createRateLimiter<any>({ limit: 2, windowMs: 4_000, store: new RedisStore(redis, { prefix: testPrefix('limiter') }) });
    expect((await limiter.check(view())).type).toBe('next');
    const second = await limiter.check(view());
    expect(second.type === 'next' && second.headers).toEqual([
      ['ratelimit-policy', '"2-in-4s";q=2;w=4'],
      ['ratelimit', '"2-in-4s";r=0;t=2'],
    ]);
    const refused = await limiter.check(view());
    expect(refused.type === 'respond' && refused.status).toBe(429);
    expect(refused.type === 'respond' && refused.headers.find(([n]) => n === 'retry-after')?.[1]).toBe('2');
  });
});
