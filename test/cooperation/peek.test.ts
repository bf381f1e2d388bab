/**
 * `peek(key)` reads a rate limit's or a spend cap's quota without spending it: one store call, no
 * write. The Express and Koa middleware carry it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as koaAdapter from '../../adapters/koa.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { createRateLimiter } from '../../src/throttle/rate-limiter.js';
import { createSpendCap } from '../../src/throttle/spend-cap.js';
import { closeRedis, redisClient, STORES, storeOf } from './support.js';

beforeAll(async () => {
  await redisClient();
});
afterAll(closeRedis);

const view = (key: string) =>
  ({ method: 'POST', path: '/v1/messages', query: '', header: (name: string) => (name === 'x-key' ? key : undefined), headerLines: () => [], peer: '127.0.0.1', body: () => ({ kind: 'none' }), request: key }) as never;

describe('peek', () => {
  for (const kind of STORES) {
    for (const algorithm of ['gcra', 'sliding-window'] as const) {
      it(`${kind}, ${algorithm}: a rate limiter's peek reads the remaining units and writes nothing`, async () => {
        const store = storeOf(kind);
        const limiter = createRateLimiter<string>({ limit: 5, windowMs: 3_600_000, algorithm, store, key: (k) => k });
        expect(await limiter.peek('a')).toEqual({ limit: 5, remaining: 5, resetMs: 0 });
        for (let i = 0; i < 3; i++) await limiter.check(view('a'));
        for (let i = 0; i < 5; i++) expect((await limiter.peek('a')).remaining).toBe(2);
        expect((await limiter.peek('b')).remaining).toBe(5);
        if (store instanceof RedisStore) {
          const redis = await redisClient();
          expect(await redis.keys(`${store.options.prefix}*`)).toHaveLength(algorithm === 'gcra' ? 1 : 2);
        }
        await expect(limiter.peek(42 as never)).rejects.toThrow(TypeError);
      });
    }

    it(`${kind}: a spend cap's peek reads each period's total and writes nothing`, async () => {
      const store = storeOf(kind);
      const cap = createSpendCap<string>({ daily: 10, monthly: 100, store, key: (k) => k, cost: 4 });
      const decision = await cap.check(view('acct'));
      expect(decision.type).toBe('next');
      const peek = await cap.peek('acct');
      expect(peek.daily).toMatchObject({ limit: 10, used: 4, remaining: 6 });
      expect(peek.monthly).toMatchObject({ limit: 100, used: 4, remaining: 96 });
      expect(peek.daily!.resetMs).toBeGreaterThan(0);
      expect(peek.daily!.resetMs).toBeLessThanOrEqual(86_400_000);
      expect((await cap.peek('acct')).daily!.used).toBe(4);
      expect((await cap.peek('other')).daily!.used).toBe(0);
    });
  }

  it('the Express and Koa middleware carry peek', async () => {
    for (const adapter of [expressAdapter, koaAdapter]) {
      const limiter = adapter.rateLimit({ limit: 2, windowMs: 60_000 });
      expect(typeof limiter).toBe('function');
      expect(await limiter.peek('203.0.113.7')).toEqual({ limit: 2, remaining: 2, resetMs: 0 });
      const cap = adapter.spendCap({ daily: 3, key: () => 'acct' });
      expect((await cap.peek('acct')).daily).toMatchObject({ limit: 3, used: 0, remaining: 3 });
    }
  });
});
