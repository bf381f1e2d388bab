import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryThrottleStore } from '../../src/stores/memory/throttle.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { RedisThrottleStore } from '../../src/stores/redis/throttle.js';
import { mulDivMod, quotient, remainder } from '../../src/throttle/exact.js';
import type { Algorithm, RateRequest, RateResult, ThrottleStore } from '../../src/throttle/store.js';
import { connectRedis, testPrefix } from '../support/redis.js';
import { GcraModel, type ModelResult, type ModelSpec, SlidingModel } from './reference-model.js';

const DAY = 86_400_000;
const MAX_UNITS = 999_999_999_999_999;

/** Rates from one per 30 days to 10^7 per second, bursts below, at and above the limit. */
const specs: fc.Arbitrary<ModelSpec> = fc
  .oneof(
    fc.constantFrom(
      { limit: 1, windowMs: DAY, burst: 1 },
      { limit: 60, windowMs: 1_000, burst: 60 },
      { limit: 1_000_000, windowMs: 1_000, burst: 1_000_000 },
      { limit: 10_000_000, windowMs: 1_000, burst: 10_000_000 },
      { limit: 700_000_000, windowMs: DAY, burst: 700_000_000 },
      { limit: 3, windowMs: 1_000, burst: 20 },
      { limit: MAX_UNITS, windowMs: 1_000_000_000, burst: MAX_UNITS },
    ),
    fc
      .record({
        limit: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 1e12 })),
        windowMs: fc.oneof(fc.constantFrom(1_000, 60_000, 3_600_000, DAY), fc.integer({ min: 1, max: 30 * DAY })),
      })
      .filter(({ limit, windowMs }) => limit / windowMs <= 10_000)
      .chain(({ limit, windowMs }) =>
        fc.record({
          limit: fc.constant(limit),
          windowMs: fc.constant(windowMs),
          burst: fc.oneof(fc.constant(limit), fc.integer({ min: 1, max: Math.min(3 * limit, MAX_UNITS) })),
        }),
      ),
  )
  .filter((s) => (s.burst * s.windowMs * 1000) / s.limit <= 2 ** 50);

/** A scenario: a spec, a start on the real clock's magnitude (~1.7e15 us), and steps of (gap in us, cost). */
const scenarios = (algorithm: Algorithm, maxSteps: number) =>
  specs.chain((spec) => {
    const capacity = algorithm === 'gcra' ? spec.burst : spec.limit;
    const intervalUs = Math.ceil((spec.windowMs * 1000) / spec.limit);
    const gap = fc.oneof(
      fc.constant(0),
      fc.integer({ min: 0, max: 1_000 }),
      fc.integer({ min: 0, max: Math.min(3 * intervalUs, 2 ** 50) }),
      fc.integer({ min: 0, max: spec.windowMs * 1000 }),
    );
    const cost = fc.oneof(
      fc.constant(1),
      fc.integer({ min: 0, max: Math.min(capacity, 10) }),
      fc.integer({ min: 0, max: capacity }),
      fc.constant(capacity),
      fc.constant(capacity - 1),
      fc.constant(capacity + 1),
    );
    return fc.record({
      spec: fc.constant(spec),
      start: fc.integer({ min: 1_700_000_000_000_000, max: 1_800_000_000_000_000 }),
      steps: fc.array(fc.tuple(gap, cost), { minLength: 1, maxLength: maxSteps }),
    });
  });

/** A store's result in whole microseconds, as the model gives it. */
function inMicros(result: RateResult, algorithm: Algorithm): ModelResult {
  return {
    allowed: result.allowed,
    remaining: result.remaining,
    resetUs: Math.round(result.resetMs * 1000),
    retryUs: result.retryAfterMs < 0 ? -1 : Math.round(result.retryAfterMs * 1000),
    nextUs: algorithm === 'gcra' || result.nextMs !== undefined ? Math.round((result.nextMs ?? 0) * 1000) : 0,
  };
}

type Scenario = { spec: ModelSpec; start: number; steps: Array<[number, number]> };

/** Runs a scenario on a store whose clock the test sets, against the model; every answer must be equal. */
async function agree(algorithm: Algorithm, scenario: Scenario, store: ThrottleStore, clock: { us: number }) {
  const { spec } = scenario;
  const model = algorithm === 'gcra' ? new GcraModel(spec) : new SlidingModel(spec);
  const request: RateRequest = {
    key: `exact:${randomUUID()}`,
    algorithm,
    limit: spec.limit,
    windowMs: spec.windowMs,
    burst: algorithm === 'gcra' ? spec.burst : spec.limit,
    cost: 0,
  };
  clock.us = scenario.start;
  for (const [gap, cost] of scenario.steps) {
    clock.us += gap;
    const expected = model.step(clock.us, cost);
    const got = inMicros(await store.consume({ ...request, cost }), algorithm);
    expect(got).toEqual(expected);
  }
}

describe('exact arithmetic', () => {
  it('mulDivMod is the exact quotient and remainder of a * b / m', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 2n ** 50n }),
        fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
        (m, a, b) => {
          fc.pre((a * b) / m < 2n ** 53n);
          mulDivMod(Number(a), Number(b), Number(m));
          expect([BigInt(quotient), BigInt(remainder)]).toEqual([(a * b) / m, (a * b) % m]);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

describe('the memory store agrees with the exact reference model', () => {
  for (const algorithm of ['gcra', 'sliding-window'] as const) {
    it(`${algorithm}: every answer, at rates from 1 a month to 10^7 a second, on a clock of ~1.7e12 ms`, async () => {
      const clock = { us: 0 };
      await fc.assert(
        fc.asyncProperty(scenarios(algorithm, 40), async (scenario) => {
          const store = new MemoryThrottleStore({ max: 100 }, () => clock.us / 1000);
          await agree(algorithm, scenario, store, clock);
        }),
        { numRuns: 400 },
      );
    });
  }

  it('the cases of issue 17: a fresh 60/s key has 59 left; 10^6/s refuses the third of 999999, 1, 1; 10^7/s refills', () => {
    let now = 1_764_000_000_000.25;
    const store = new MemoryThrottleStore({ max: 100 }, () => now);
    const gcra = (limit: number, cost: number, key: string) => store.consume({ key, algorithm: 'gcra', limit, windowMs: 1_000, burst: limit, cost });
    expect(gcra(60, 1, 'a').remaining).toBe(59);
    expect([999_999, 1, 1].map((cost) => gcra(1_000_000, cost, 'b').allowed)).toEqual([true, true, false]);
    expect(gcra(10_000_000, 10_000_000, 'c').allowed).toBe(true);
    expect(gcra(10_000_000, 1, 'c').allowed).toBe(false);
    now += 1; // one millisecond: 10,000 units, no more
    expect(gcra(10_000_000, 10_000, 'c')).toMatchObject({ allowed: true, remaining: 0 });
    expect(gcra(10_000_000, 1, 'c')).toMatchObject({ allowed: false, retryAfterMs: 0.001 });
    now += 0.001;
    expect(gcra(10_000_000, 10, 'c').allowed).toBe(true);
    expect(gcra(10_000_000, 1, 'c').allowed).toBe(false);
  });
});

describe('a real Redis agrees with the exact reference model', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = await connectRedis();
  });
  afterAll(() => {
    redis?.disconnect();
  });

  for (const algorithm of ['gcra', 'sliding-window'] as const) {
    it(`${algorithm}: every answer, one EVALSHA each, at rates from 1 a month to 10^7 a second`, async () => {
      const clock = { us: 0 };
      const options = new RedisStore(redis, { prefix: testPrefix(`exact-${algorithm}`), commandTimeoutMs: 5_000 }).options;
      const store = new RedisThrottleStore(redis, options, () => clock.us / 1000);
      await fc.assert(
        fc.asyncProperty(scenarios(algorithm, 20), async (scenario) => {
          await agree(algorithm, scenario, store, clock);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('the cases of issue 17 on Redis TIME', async () => {
    const store = new RedisStore(redis, { prefix: testPrefix('exact-time') }).throttle;
    const gcra = (limit: number, cost: number, key: string) => store.consume({ key, algorithm: 'gcra', limit, windowMs: 1_000, burst: limit, cost });
    expect((await gcra(60, 1, 'a')).remaining).toBe(59);
    // Real time passes between two scripts (a unit a microsecond): 999999 then 1 fit, and a cost over what
    // could have refilled in the next half second does not (the margin keeps a loaded machine's round trips out).
    expect((await gcra(1_000_000, 999_999, 'b')).allowed).toBe(true);
    const second = await gcra(1_000_000, 1, 'b');
    expect(second.allowed).toBe(true);
    expect((await gcra(1_000_000, second.remaining + 500_000, 'b')).allowed).toBe(false);
    // 10^7 a second: the state advances (the old float state never did, and admitted without limit).
    expect((await gcra(10_000_000, 10_000_000, 'c')).allowed).toBe(true);
    const next = await gcra(10_000_000, 10_000_000, 'c');
    expect(next.allowed).toBe(false);
    expect(next.retryAfterMs).toBeGreaterThan(900);
  });
});
