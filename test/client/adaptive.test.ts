/**
 * Client-side adaptive throttling (the SRE book's formula) against a fault server that fails most
 * requests, with a seeded random source so that every run draws the same refusals.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AdaptiveThrottle } from '../../src/client/adaptive.js';
import { createBreakers, createFetch, LoadShedError } from '../../src/client/index.js';
import { serverPool, settle } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A server that accepts one request in ten (503 for the rest). */
const mostlyFailing = () => servers.start((_hit, index) => (index % 10 === 0 ? {} : { status: 503 }));

async function run(fetch: ReturnType<typeof createFetch>, url: string, calls: number) {
  let shed = 0;
  const statuses: number[] = [];
  const probabilities: number[] = [];
  for (let i = 0; i < calls; i++) {
    const outcome = await settle(fetch(url));
    if (outcome.ok) {
      statuses.push(outcome.value.status);
      await outcome.value.arrayBuffer();
    } else if (outcome.error instanceof LoadShedError) {
      shed++;
      probabilities.push(outcome.error.probability);
      expect(outcome.error.code).toBe('load_shed');
      expect(outcome.error.origin).toBe(new URL(url).origin);
    } else throw outcome.error;
  }
  return { shed, statuses, probabilities };
}

describe('adaptive throttling', () => {
  it('sheds most calls to an origin that fails 9 in 10: they never reach it, and what it sees tends to k times what it accepts', async () => {
    const server = await mostlyFailing();
    const fetch = createFetch({ retries: 0, breaker: false, retryBudget: false, adaptiveThrottle: { random: seeded(7) } });
    const { shed, statuses, probabilities } = await run(fetch, server.url, 300);
    expect(shed + statuses.length).toBe(300);
    expect(server.hits).toHaveLength(statuses.length);
    // Without shedding the server would see all 300; with k = 2 and 10% accepted, it sees about
    // requests * (k * 0.1) once the window fills: far fewer than half.
    expect(server.hits.length).toBeLessThan(120);
    expect(shed).toBeGreaterThan(180);
    for (const p of probabilities) expect(p > 0 && p < 1).toBe(true);
  });

  it('is deterministic with a seeded random source', async () => {
    const outcomes: number[] = [];
    for (let round = 0; round < 2; round++) {
      const server = await mostlyFailing();
      const fetch = createFetch({ retries: 0, breaker: false, retryBudget: false, adaptiveThrottle: { random: seeded(42) } });
      outcomes.push((await run(fetch, server.url, 100)).shed);
    }
    expect(outcomes[0]).toBe(outcomes[1]);
  });

  it('never sheds while the origin accepts (nor for 4xx, which are accepted answers)', async () => {
    const server = await servers.start((_hit, index) => (index % 2 === 0 ? {} : { status: 404 }));
    const fetch = createFetch({ retries: 0, breaker: false, adaptiveThrottle: { random: seeded(1) } });
    const { shed } = await run(fetch, server.url, 100);
    expect(shed).toBe(0);
    expect(server.hits).toHaveLength(100);
  });

  it('is off by default: every call reaches a failing origin', async () => {
    const server = await mostlyFailing();
    const fetch = createFetch({ retries: 0, breaker: false });
    const { shed } = await run(fetch, server.url, 100);
    expect(shed).toBe(0);
    expect(server.hits).toHaveLength(100);
  });

  it('a shed retry ends the call with the answer it has (the 503), never an error', async () => {
    const server = await servers.start([{ status: 503 }]);
    // random() = 0 refuses whenever the probability is above 0.
    const fetch = createFetch({ retries: 3, baseDelayMs: 1, maxDelayMs: 2, breaker: false, retryBudget: false, adaptiveThrottle: { random: () => 0 } });
    const res = await fetch(server.url);
    expect(res.status).toBe(503);
    // The first 503 makes p = 1/2, so the first retry is shed: one request reached the server.
    expect(server.hits).toHaveLength(1);
  });

  it('is shared through a registry: what one wrapper saw sheds the calls of the other', async () => {
    const server = await servers.start([{ status: 503 }]);
    const breakers = createBreakers({ breaker: false, retryBudget: false, adaptiveThrottle: { random: () => 0 } });
    const a = createFetch({ breakers, retries: 0 });
    const b = createFetch({ breakers, retries: 0 });
    expect((await a(server.url)).status).toBe(503);
    const outcome = await settle(b(server.url));
    expect((outcome as { error: unknown }).error).toBeInstanceOf(LoadShedError);
    expect(server.hits).toHaveLength(1);
    expect(() => createFetch({ breakers, adaptiveThrottle: true })).toThrow(/adaptiveThrottle/);
  });

  it('refuses bad options with a TypeError naming them', () => {
    expect(() => createFetch({ adaptiveThrottle: { k: 0.5 } })).toThrow(/adaptiveThrottle\.k/);
    expect(() => createFetch({ adaptiveThrottle: { window: 1 } as never })).toThrow(/adaptiveThrottle\.window\b/);
    expect(() => createFetch({ adaptiveThrottle: { random: 1 } as never })).toThrow(/adaptiveThrottle\.random/);
    expect(() => createBreakers({ adaptiveThrottle: 'on' as never })).toThrow(/createBreakers: options\.adaptiveThrottle/);
  });
});

describe('AdaptiveThrottle', () => {
  it('refuses with probability max(0, (requests - k * accepts) / (requests + 1)) over a sliding window', () => {
    const start = Date.now();
    const throttle = new AdaptiveThrottle({ k: 2, windowMs: 1000, random: () => 0.5 });
    for (let i = 0; i < 10; i++) throttle.record(i < 5, start);
    expect(throttle.probability(start)).toBe(0); // 10 - 2 * 5 = 0
    for (let i = 0; i < 10; i++) throttle.record(false, start);
    expect(throttle.probability(start)).toBeCloseTo((20 - 10) / 21);
    expect(throttle.refuses(start)).toBe(0); // 0.476 < 0.5: let through
    throttle.record(false, start);
    throttle.record(false, start);
    // (22 - 10) / 23 = 0.52 > 0.5: refused, and the refusal counts as a request.
    expect(throttle.refuses(start)).toBeCloseTo(12 / 23);
    expect(throttle.probability(start)).toBeCloseTo(13 / 24);
    // Past the window everything is forgotten.
    expect(throttle.probability(start + 1100)).toBe(0);
  });
});
