import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Decision } from '../../src/guard/types.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { createSpendCap, type SpendCapOptions } from '../../src/throttle/spend-cap.js';
import { connectRedis, testPrefix } from '../support/redis.js';
import { view } from './view.js';

afterEach(() => {
  vi.useRealTimers();
});

async function decide(cap: ReturnType<typeof createSpendCap<any>>, extra: Record<string, unknown> = {}): Promise<Decision> {
  return cap.check(view('203.0.113.7', {}, extra));
}

function body(d: Decision): Record<string, unknown> {
  if (d.type !== 'respond') throw new Error('expected a response');
  return JSON.parse(String(d.body));
}

describe('spend cap', () => {
  it('answers 403 spend_limit_exceeded with period daily, spends nothing when refused, resets the next day', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2025-03-14T10:00:00Z'));
    let n = 4;
    const cap = createSpendCap<any>({ daily: 10, cost: () => n, key: (req) => req.account });
    expect((await decide(cap, { account: 'a' })).type).toBe('next');
    expect((await decide(cap, { account: 'a' })).type).toBe('next');
    const refused = await decide(cap, { account: 'a' });
    expect(refused.type === 'respond' && refused.status).toBe(403);
    expect(body(refused)).toEqual({ message: 'This request would exceed your daily spend limit.', error: 'spend_limit_exceeded', period: 'daily' });
    expect(refused.type === 'respond' && refused.headers.find(([k]) => k === 'content-type')?.[1]).toBe('application/json; charset=utf-8');
    n = 2;
    expect((await decide(cap, { account: 'a' })).type).toBe('next'); // 10 of 10: the refused 4 spent nothing
    expect((await decide(cap, { account: 'b' })).type).toBe('next');
    vi.setSystemTime(new Date('2025-03-15T00:00:01Z'));
    n = 10;
    expect((await decide(cap, { account: 'a' })).type).toBe('next');
  });

  it('names the monthly period when the month cap is the one exceeded, and moves both counters together', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2025-03-01T12:00:00Z'));
    const cap = createSpendCap<any>({ daily: 5, monthly: 12, cost: 5, key: () => 'acct' });
    expect((await decide(cap)).type).toBe('next');
    expect(body(await decide(cap)).period).toBe('daily');
    vi.setSystemTime(new Date('2025-03-02T12:00:00Z'));
    expect((await decide(cap)).type).toBe('next');
    vi.setSystemTime(new Date('2025-03-03T12:00:00Z'));
    const refused = await decide(cap);
    expect(body(refused)).toMatchObject({ error: 'spend_limit_exceeded', period: 'monthly' });
    vi.setSystemTime(new Date('2025-04-01T00:00:00Z'));
    expect((await decide(cap)).type).toBe('next');
  });

  it('follows calendar days in the configured time zone', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tokyo = createSpendCap<any>({ daily: 1, timeZone: 'Asia/Tokyo', key: () => 'acct' });
    const utc = createSpendCap<any>({ daily: 1, key: () => 'acct' });
    vi.setSystemTime(new Date('2025-03-14T14:59:00Z')); // 23:59 in Tokyo
    expect((await decide(tokyo)).type).toBe('next');
    expect((await decide(utc)).type).toBe('next');
    vi.setSystemTime(new Date('2025-03-14T15:01:00Z')); // 00:01 on the 15th in Tokyo, still the 14th in UTC
    expect((await decide(tokyo)).type).toBe('next');
    expect((await decide(utc)).type).toBe('respond');
  });

  it('a custom message keeps the code and period', async () => {
    const cap = createSpendCap<any>({ daily: 0, message: (p) => `This send would exceed your ${p} spend limit.` });
    expect(body(await decide(cap))).toEqual({
      message: 'This send would exceed your daily spend limit.',
      error: 'spend_limit_exceeded',
      period: 'daily',
    });
  });

  it('a throwing cost function gives a generic 500', async () => {
    const cap = createSpendCap<any>({ daily: 10, cost: () => { throw new Error('secret'); } });
    const d = await decide(cap);
    expect(d.type === 'respond' && d.status).toBe(500);
    expect(JSON.stringify(d)).not.toContain('secret');
  });

  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{}, /options\.daily or options\.monthly/],
    [{ daily: -1 }, /options\.daily/],
    [{ monthly: 1.5 }, /options\.monthly/],
    [{ daily: 1, cost: -2 }, /options\.cost/],
    [{ daily: 1, key: 'x' }, /options\.key/],
    [{ daily: 1, skip: 'x' }, /options\.skip/],
    [{ daily: 1, timeZone: 'Mars/Olympus' }, /options\.timeZone/],
    [{ daily: 1, store: { throttle: {} } }, /options\.store/],
    [{ daily: 1, name: 'a b' }, /options\.name/],
    [{ daily: 1, onStoreError: 'maybe' }, /options\.onStoreError/],
    [{ daily: 1, message: 'x' }, /options\.message/],
  ];
  for (const [options, message] of cases) {
    it(`refuses ${JSON.stringify(options)}`, () => {
      expect(() => createSpendCap(options as SpendCapOptions)).toThrow(message);
    });
  }
});

describe('spend cap: costs and totals near 2^53 stay exact', () => {
  const MAX = Number.MAX_SAFE_INTEGER;
  for (const kind of ['memory', 'redis'] as const) {
    it(`${kind}: totals that would pass 2^53 are refused, never wrapped or rounded into the cap`, async () => {
      const redis = kind === 'redis' ? await connectRedis() : undefined;
      try {
        const store = redis ? new RedisStore(redis, { prefix: testPrefix('spend-big') }) : undefined;
        let n = MAX - 1;
        const cap = createSpendCap<any>({ daily: MAX, cost: () => n, key: () => 'big', onStoreError: 'closed', onStoreSwitch: () => {}, ...(store ? { store } : {}) });
        const status = async () => {
          const d = await decide(cap);
          return d.type === 'respond' ? d.status : 200;
        };
        expect(await status()).toBe(200); // MAX - 1 spent
        n = 2; // MAX + 1: past 2^53, where doubles round
        expect(await status()).toBe(403);
        n = 3;
        expect(await status()).toBe(403);
        n = MAX;
        expect(await status()).toBe(403);
        n = 1; // exactly MAX
        expect(await status()).toBe(200);
        n = 1;
        expect(await status()).toBe(403);
        n = 0;
        expect(await status()).toBe(200);
      } finally {
        redis?.disconnect();
      }
    });
  }
});
