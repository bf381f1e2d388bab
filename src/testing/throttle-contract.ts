import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import type { HasThrottleStore, RateRequest, ThrottleStore } from '../throttle/store.js';
import type { StoreFactory } from './store-contract.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The throttle side of the store contract: atomic decisions under concurrency, refused requests
 * consume nothing, Retry-After that is neither early nor late, costs larger than the bucket, and the
 * all-or-nothing spend counters of spend caps. Runs on real time (a store may take its time from its own
 * server), so it waits about a second in total.
 *
 * @param factory - makes a fresh store for each test.
 * @param name - the store's name, put before every test title (`MemoryStore: throttle (gcra): ...`), so that
 *   a line about one test says which store it ran on. @default undefined: the titles alone
 *
 * @example
 * ```ts
 * import { throttleStoreContract } from 'bulwark/testing';
 * throttleStoreContract(() => ({ store: new MemoryStore() }), 'MemoryStore');
 * ```
 */
export function throttleStoreContract(factory: StoreFactory, name?: string): void {
  // Each title names the store, so a line about one test (a slow one, a failure) says which store it ran on.
  const title = (text: string): string => (name === undefined ? text : `${name}: ${text}`);
  let cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    const pending = cleanups;
    cleanups = [];
    for (const cleanup of pending) await cleanup();
  });
  const open = async (): Promise<ThrottleStore> => {
    const made = await factory();
    if (made.cleanup) cleanups.push(made.cleanup);
    const store = made.store as HasThrottleStore;
    expect(typeof store?.throttle?.consume).toBe('function');
    expect(typeof store?.throttle?.spend).toBe('function');
    return store.throttle;
  };
  const rate = (over: Partial<RateRequest> = {}): RateRequest => ({
    key: `contract:${randomUUID()}`,
    algorithm: 'gcra',
    limit: 20,
    windowMs: 3_600_000,
    burst: 20,
    cost: 1,
    ...over,
  });

  for (const algorithm of ['gcra', 'sliding-window'] as const) {
    it(title(`throttle (${algorithm}): 60 concurrent decisions at one key with room for 20 admit exactly 20`), async () => {
      const store = await open();
      const request = rate({ algorithm });
      const results = await Promise.all(Array.from({ length: 60 }, () => store.consume({ ...request })));
      expect(results.filter((r) => r.allowed)).toHaveLength(20);
      for (const r of results) {
        if (r.allowed) expect(r.retryAfterMs).toBe(0);
        else {
          expect(r.retryAfterMs).toBeGreaterThan(0);
          expect(r.remaining).toBe(0);
        }
      }
      expect(results.map((r) => r.remaining).sort((a, b) => a - b).slice(-1)[0]).toBe(19);
    });

    it(title(`throttle (${algorithm}): concurrent random costs never sum beyond the limit`), async () => {
      const store = await open();
      const request = rate({ algorithm, limit: 50, burst: 50 });
      const costs = Array.from({ length: 80 }, (_, i) => 1 + ((i * 7) % 5));
      const results = await Promise.all(costs.map((cost) => store.consume({ ...request, cost })));
      const admitted = results.reduce((sum, r, i) => sum + (r.allowed ? costs[i]! : 0), 0);
      expect(admitted).toBeLessThanOrEqual(50);
      expect(admitted).toBeGreaterThanOrEqual(46); // every refusal happened with fewer than its cost left
    });

    it(title(`throttle (${algorithm}): a refused request consumes nothing`), async () => {
      const store = await open();
      const request = rate({ algorithm, limit: 10, burst: 10 });
      expect((await store.consume({ ...request, cost: 8 })).allowed).toBe(true);
      for (let i = 0; i < 10; i++) expect((await store.consume({ ...request, cost: 3 })).allowed).toBe(false);
      const last = await store.consume({ ...request, cost: 2 });
      expect(last.allowed).toBe(true);
      expect(last.remaining).toBe(0);
    });

    it(title(`throttle (${algorithm}): a cost beyond the bucket is refused with retryAfterMs -1 and consumes nothing`), async () => {
      const store = await open();
      const request = rate({ algorithm, limit: 5, burst: 5 });
      const refused = await store.consume({ ...request, cost: 6 });
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBe(-1);
      const admitted = await store.consume({ ...request, cost: 5 });
      expect(admitted.allowed).toBe(true);
      expect(admitted.remaining).toBe(0);
    });

    it(title(`throttle (${algorithm}): cost 0 is admitted on an empty bucket and reports it`), async () => {
      const store = await open();
      const request = rate({ algorithm, limit: 3, burst: 3 });
      expect((await store.consume({ ...request, cost: 3 })).allowed).toBe(true);
      const probe = await store.consume({ ...request, cost: 0 });
      expect(probe.allowed).toBe(true);
      expect(probe.remaining).toBe(0);
      expect(probe.resetMs).toBeGreaterThan(3_500_000);
    });

    it(title(`throttle (${algorithm}): retryAfterMs is neither early nor late`), async () => {
      const store = await open();
      const request = rate({ algorithm, limit: 2, windowMs: 600, burst: 2 });
      expect((await store.consume(request)).allowed).toBe(true);
      expect((await store.consume(request)).allowed).toBe(true);
      const refused = await store.consume(request);
      expect(refused.allowed).toBe(false);
      const expected = algorithm === 'gcra' ? 300 : 600;
      expect(refused.retryAfterMs).toBeGreaterThan(expected - 150);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(expected + 1);
      await sleep(Math.max(0, refused.retryAfterMs - 80));
      expect((await store.consume(request)).allowed).toBe(false);
      await sleep(120);
      expect((await store.consume(request)).allowed).toBe(true);
    });

    it(title(`throttle (${algorithm}): keys are independent`), async () => {
      const store = await open();
      const a = rate({ algorithm, limit: 1, burst: 1 });
      const b = rate({ algorithm, limit: 1, burst: 1 });
      expect((await store.consume(a)).allowed).toBe(true);
      expect((await store.consume(a)).allowed).toBe(false);
      expect((await store.consume(b)).allowed).toBe(true);
      expect((await store.consume({ ...a, key: `${a.key}{x}` })).allowed).toBe(true);
    });
  }

  it(title('throttle: GCRA refills at limit per window and never holds more than burst'), async () => {
    const store = await open();
    const request = rate({ limit: 10, windowMs: 1_000, burst: 3 });
    const first = await store.consume(request);
    expect(first.allowed).toBe(true);
    expect(first.remaining).toBe(2);
    expect(first.resetMs).toBeGreaterThan(50);
    expect(first.resetMs).toBeLessThanOrEqual(101);
    await sleep(400);
    const later = await store.consume({ ...request, cost: 3 });
    expect(later.allowed).toBe(true);
    expect(later.remaining).toBe(0);
  });

  it(title('throttle: GCRA is exact at high rates (a fresh 60/s key has 59 left; 10^7/s neither loses nor invents units)'), async () => {
    const store = await open();
    const sixty = rate({ limit: 60, windowMs: 1_000, burst: 60 });
    expect((await store.consume(sixty)).remaining).toBe(59);
    const fast = rate({ limit: 10_000_000, windowMs: 1_000, burst: 10_000_000 });
    expect((await store.consume({ ...fast, cost: 9_999_999 })).allowed).toBe(true);
    // A second later at most, the bucket has refilled less than 10^7 units: a full bucket's cost is refused.
    const full = await store.consume({ ...fast, cost: 10_000_000 });
    expect(full.allowed).toBe(false);
    expect(full.retryAfterMs).toBeGreaterThan(0);
    expect(full.retryAfterMs).toBeLessThanOrEqual(1_000);
    if (full.nextMs !== undefined) expect(full.nextMs).toBeLessThanOrEqual(full.retryAfterMs);
  });

  /** A counter whose current period (by the real clock) is `current`, between two others. */
  const counter = (current: string, limit: number, ttlMs = 60_000) => {
    const now = Date.now();
    return { periods: [`${current}-prev`, current, `${current}-next`] as const, starts: [now - 60_000, now + 60_000] as const, limit, ttlMs };
  };

  it(title('spend: counters add all or nothing and name the first exceeded'), async () => {
    const store = await open();
    const key = `contract:${randomUUID()}`;
    const counters = [counter('d2025-03-14', 10), counter('m2025-03', 12)];
    expect(await store.spend({ key, counters, cost: 7 })).toEqual({ allowed: true, exceeded: -1, used: [7, 7] });
    expect(await store.spend({ key, counters, cost: 4 })).toEqual({ allowed: false, exceeded: 0, used: [7, 7] });
    const nextDay = [counter('d2025-03-15', 10), counters[1]!];
    expect(await store.spend({ key, counters: nextDay, cost: 6 })).toEqual({ allowed: false, exceeded: 1, used: [0, 7] });
    expect(await store.spend({ key, counters: nextDay, cost: 5 })).toEqual({ allowed: true, exceeded: -1, used: [5, 12] });
    expect(await store.spend({ key, counters: nextDay, cost: 0 })).toEqual({ allowed: true, exceeded: -1, used: [5, 12] });
  });

  it(title("spend: the store's clock picks the period, whatever the caller took for the current one"), async () => {
    const store = await open();
    const key = `contract:${randomUUID()}`;
    const now = Date.now();
    const periods = ['d2025-03-13', 'd2025-03-14', 'd2025-03-15'] as const;
    // A caller whose clock ran ahead: to it, the 14th began a minute from now (the 13th is still on).
    const ahead = [{ periods, starts: [now + 60_000, now + 120_000] as const, limit: 5, ttlMs: 60_000 }];
    // A caller whose clock ran behind: to it, the 14th ended a minute ago (the 15th is on).
    const behind = [{ periods, starts: [now - 120_000, now - 60_000] as const, limit: 5, ttlMs: 60_000 }];
    // A caller on time: the 14th is on.
    const onTime = [{ periods, starts: [now - 60_000, now + 60_000] as const, limit: 5, ttlMs: 60_000 }];
    expect(await store.spend({ key, counters: ahead, cost: 2 })).toEqual({ allowed: true, exceeded: -1, used: [2] });
    expect(await store.spend({ key, counters: behind, cost: 2 })).toEqual({ allowed: true, exceeded: -1, used: [2] });
    expect(await store.spend({ key, counters: onTime, cost: 2 })).toEqual({ allowed: true, exceeded: -1, used: [2] });
    expect(await store.spend({ key, counters: onTime, cost: 3 })).toEqual({ allowed: true, exceeded: -1, used: [5] });
    expect(await store.spend({ key, counters: ahead, cost: 4 })).toEqual({ allowed: false, exceeded: 0, used: [2] });
  });

  it(title('spend: 60 concurrent spends with room for 20 record exactly 20'), async () => {
    const store = await open();
    const key = `contract:${randomUUID()}`;
    const counters = [counter('d2025-01-01', 20)];
    const results = await Promise.all(Array.from({ length: 60 }, () => store.spend({ key, counters, cost: 1 })));
    expect(results.filter((r) => r.allowed)).toHaveLength(20);
    expect(Math.max(...results.flatMap((r) => r.used))).toBe(20);
  });

  it(title('spend: a refund gives a spend back once, in the period it went into, never below zero'), async () => {
    const store = await open();
    expect(typeof store.refundSpend).toBe('function');
    const key = `contract:${randomUUID()}`;
    const day = counter('d2025-01-01', 10);
    const first = await store.spend({ key, counters: [day], cost: 6, receiptTtlMs: 60_000 });
    expect(first).toMatchObject({ allowed: true, used: [6] });
    expect(first.receipt).toBeDefined();
    const second = await store.spend({ key, counters: [day], cost: 3, receiptTtlMs: 60_000 });
    expect((await store.refundSpend!(first.receipt!)).refunded).toBe(true);
    // Applied twice, it refunds once.
    expect((await store.refundSpend!(first.receipt!)).refunded).toBe(false);
    expect(await store.spend({ key, counters: [day], cost: 0 })).toMatchObject({ allowed: true, used: [3] });
    // The refund goes to the period the spend counted in, even once the store's clock is in the next one.
    const now = Date.now();
    const nextDay = [{ periods: day.periods, starts: [now - 120_000, now - 60_000] as const, limit: 10, ttlMs: 60_000 }];
    const tomorrow = await store.spend({ key, counters: nextDay, cost: 4, receiptTtlMs: 60_000 });
    expect(tomorrow).toMatchObject({ allowed: true, used: [4] });
    expect((await store.refundSpend!(second.receipt!)).refunded).toBe(true);
    expect(await store.spend({ key, counters: [day], cost: 0 })).toMatchObject({ used: [0] });
    expect(await store.spend({ key, counters: nextDay, cost: 0 })).toMatchObject({ used: [4] });
    // Never below zero: a refund into a counter that went down already takes it to zero at most.
    const a = await store.spend({ key, counters: [day], cost: 5, receiptTtlMs: 60_000 });
    const b = await store.spend({ key, counters: [day], cost: 5, receiptTtlMs: 60_000 });
    await Promise.all([store.refundSpend!(a.receipt!), store.refundSpend!(b.receipt!), store.refundSpend!(a.receipt!)]);
    expect(await store.spend({ key, counters: [day], cost: 0 })).toMatchObject({ used: [0] });
    // No receipt without receiptTtlMs, nor for a refused spend.
    expect((await store.spend({ key, counters: [day], cost: 1 })).receipt).toBeUndefined();
    expect((await store.spend({ key, counters: [day], cost: 50, receiptTtlMs: 60_000 })).receipt).toBeUndefined();
  });

  it(title('spend: 100 concurrent spends and refunds of half of them leave exactly the other half'), async () => {
    const store = await open();
    const key = `contract:${randomUUID()}`;
    const counters = [counter('d2025-01-01', 1_000_000), counter('m2025-01', 1_000_000)];
    const costs = Array.from({ length: 100 }, (_, i) => 1 + ((i * 13) % 17));
    const kept = await Promise.all(
      costs.map(async (cost, i) => {
        const result = await store.spend({ key, counters, cost, receiptTtlMs: 60_000 });
        if (i % 2 === 0) return cost;
        await Promise.all([store.refundSpend!(result.receipt!), store.refundSpend!(result.receipt!)]);
        return 0;
      }),
    );
    const total = kept.reduce((sum, cost) => sum + cost, 0);
    expect(await store.spend({ key, counters, cost: 0 })).toMatchObject({ used: [total, total] });
  });

  it(title('spend: a named receipt tells a retry from a new spend: held, it is admitted without charging, whatever room is left'), async () => {
    const store = await open();
    const key = `contract:${randomUUID()}`;
    const counters = [counter('d2025-01-01', 10)];
    const first = await store.spend({ key, counters, cost: 6, receiptTtlMs: 60_000, receiptId: 'k1' });
    expect(first).toMatchObject({ allowed: true, used: [6] });
    const retry = await store.spend({ key, counters, cost: 6, receiptTtlMs: 60_000, receiptId: 'k1' });
    expect(retry).toMatchObject({ allowed: true, used: [6], retried: true });
    expect(retry.receipt).toBeUndefined();
    expect(await store.spend({ key, counters, cost: 6, receiptTtlMs: 60_000, receiptId: 'k2' })).toMatchObject({ allowed: false, used: [6] });
    // Another spender's receipt of the same name is another receipt.
    expect(await store.spend({ key: `${key}-other`, counters, cost: 6, receiptTtlMs: 60_000, receiptId: 'k1' })).toMatchObject({ allowed: true, used: [6] });
    // Refunded, it is gone: the next spend of that name is charged again.
    expect((await store.refundSpend!(first.receipt!)).refunded).toBe(true);
    expect(await store.spend({ key, counters, cost: 6, receiptTtlMs: 60_000, receiptId: 'k1' })).toMatchObject({ allowed: true, used: [6] });
    // Forced: recorded past the limit.
    expect(await store.spend({ key, counters, cost: 6, receiptTtlMs: 60_000, receiptId: 'k1', force: true })).toMatchObject({ allowed: true, used: [12] });
  });

  for (const algorithm of ['gcra', 'sliding-window'] as const) {
    it(title(`throttle (${algorithm}): a refund gives the units back once, never past the bucket`), async () => {
      const store = await open();
      expect(typeof store.refundRate).toBe('function');
      const request = rate({ algorithm, limit: 10, burst: 10 });
      const a = await store.consume({ ...request, cost: 4 });
      const b = await store.consume({ ...request, cost: 6 });
      expect(b).toMatchObject({ allowed: true, remaining: 0 });
      expect((await store.consume({ ...request, cost: 1 })).allowed).toBe(false);
      expect((await store.refundRate!(a.receipt!)).refunded).toBe(true);
      expect((await store.consume({ ...request, cost: 0 })).remaining).toBe(4);
      expect((await store.refundRate!(b.receipt!)).refunded).toBe(true);
      expect((await store.consume({ ...request, cost: 0 })).remaining).toBe(10);
      if (algorithm === 'sliding-window') expect((await store.refundRate!(b.receipt!)).refunded).toBe(false);
      // Never past the bucket: a full bucket takes no more.
      expect((await store.consume({ ...request, cost: 0 })).remaining).toBe(10);
      expect((await store.consume({ ...request, cost: 10 })).allowed).toBe(true);
      expect((await store.consume({ ...request, cost: 1 })).allowed).toBe(false);
    });
  }

  it(title('spend: a counter is forgotten after its ttl'), async () => {
    const store = await open();
    const key = `contract:${randomUUID()}`;
    const counters = [counter('d2025-01-01', 5, 150)];
    expect((await store.spend({ key, counters, cost: 5 })).allowed).toBe(true);
    expect((await store.spend({ key, counters, cost: 1 })).allowed).toBe(false);
    await sleep(300);
    expect(await store.spend({ key, counters, cost: 1 })).toEqual({ allowed: true, exceeded: -1, used: [1] });
  });
}
