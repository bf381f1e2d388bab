import { afterAll, describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/client/budget.js';
import { createFetch } from '../../src/client/index.js';
import { serverPool } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

/** Offers `calls` requests, `concurrency` at a time, and resolves when all have settled. */
async function offer(fetch: typeof globalThis.fetch, url: string, calls: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      const res = await fetch(url);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

describe('retry budget', () => {
  const calls = 200;

  it('holds an upstream that is down to about 1.1 times the offered load', async () => {
    const server = await servers.start([{ status: 503 }]);
    const fetch = createFetch({ retries: 3, baseDelayMs: 0, maxDelayMs: 0, breaker: false });
    await offer(fetch, server.url, calls, 20);
    // 10% of 200 calls is 20 retries; the floor (1 per second over 10 s) is lower.
    expect(server.hits.length).toBeGreaterThan(calls);
    expect(server.hits.length).toBeLessThanOrEqual(calls * 1.1);
  });

  it('is what keeps the load down: without it every call makes all its retries', async () => {
    const server = await servers.start([{ status: 503 }]);
    const fetch = createFetch({ retries: 3, baseDelayMs: 0, maxDelayMs: 0, breaker: false, retryBudget: false });
    await offer(fetch, server.url, calls, 20);
    expect(server.hits.length).toBe(calls * 4);
  });

  it('keeps a budget per origin', async () => {
    const busy = await servers.start([{ status: 503 }]);
    const quiet = await servers.start([{ status: 503 }, {}]);
    const fetch = createFetch({ retries: 3, baseDelayMs: 0, maxDelayMs: 0, breaker: false, retryBudget: { minPerSecond: 0.1 } });
    await offer(fetch, busy.url, 100, 10);
    expect(busy.hits.length).toBeLessThanOrEqual(110);
    // The other origin still has its own floor to retry with.
    expect((await fetch(quiet.url)).status).toBe(200);
    expect(quiet.hits).toHaveLength(2);
  });
});

describe('RetryBudget', () => {
  it('allows ratio * calls retries, or the floor when that is more, and forgets calls that left the window', () => {
    const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 0.5, windowMs: 10_000 });
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) budget.recordCall(t0);
    let allowed = 0;
    while (budget.tryRetry(t0 + 500)) allowed++;
    expect(allowed).toBe(10);

    // Ten seconds later the calls have left the window: only the floor (0.5/s over 10 s) remains.
    let later = 0;
    while (budget.tryRetry(t0 + 10_500)) later++;
    expect(later).toBe(5);
  });
});
