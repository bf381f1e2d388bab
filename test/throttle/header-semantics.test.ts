import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/guard/types.js';
import { MemoryThrottleStore } from '../../src/stores/memory/throttle.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { RedisThrottleStore } from '../../src/stores/redis/throttle.js';
import { createRateLimiter, type RateLimitOptions } from '../../src/throttle/rate-limiter.js';
import type { ThrottleStore } from '../../src/throttle/store.js';
import { connectRedis, testPrefix } from '../support/redis.js';
import { parseList } from './structured-fields.js';
import { view } from './view.js';

const DAY = 86_400_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function header(d: Decision, name: string): string | undefined {
  return d.headers?.find(([n]) => n === name)?.[1];
}

/** The RateLimit-Policy and RateLimit of a decision, parsed by a structured-field parser (throws if invalid). */
function parsed(d: Decision) {
  const policy = parseList(header(d, 'ratelimit-policy')!);
  const state = parseList(header(d, 'ratelimit')!);
  expect(policy).toHaveLength(1);
  expect(state).toHaveLength(1);
  const { q, w } = policy[0]!.params as { q: number; w: number };
  const { r, t } = state[0]!.params as { r: number; t?: number };
  for (const n of [q, w, r, ...(t === undefined ? [] : [t])]) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
  expect(Object.keys(state[0]!.params).filter((k) => k !== 'r' && k !== 't')).toEqual([]);
  return { q, w, r, t };
}

type Mode = 'draft-10' | 'draft-11';

const scenarios = fc
  .record({
    limit: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 10_000_000 }), fc.constant(999_999_999_999_999)),
    windowMs: fc.oneof(fc.constantFrom(1_000, 60_000, DAY), fc.integer({ min: 1, max: 10 * DAY })),
    over: fc.constantFrom(0.5, 1, 2),
    algorithm: fc.constantFrom('gcra' as const, 'sliding-window' as const),
    mode: fc.constantFrom<Mode>('draft-10', 'draft-11'),
  })
  .filter(({ limit, windowMs }) => limit / windowMs <= 10_000 || limit === 999_999_999_999_999)
  .map((s) => {
    const burst = s.algorithm === 'gcra' ? Math.max(1, Math.min(999_999_999_999_999, Math.round(s.limit * s.over))) : s.limit;
    const windowMs = s.limit === 999_999_999_999_999 ? 1_000_000 : s.windowMs;
    return { ...s, windowMs, burst };
  })
  .filter((s) => (s.burst * s.windowMs * 1000) / s.limit <= 2 ** 50)
  .chain((s) =>
    fc.record({
      s: fc.constant(s),
      steps: fc.array(
        fc.tuple(
          fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: s.windowMs })),
          fc.oneof(fc.constant(1), fc.integer({ min: 1, max: s.burst }), fc.constant(s.burst)),
        ),
        { minLength: 1, maxLength: 25 },
      ),
    }),
  );

/**
 * Runs one scenario through a limiter on `store` (whose clock is `clock.ms`) and checks every header:
 * structured fields, r <= q, t as the mode defines it, Retry-After >= t, and admission after exactly
 * Retry-After seconds. A cost-0 probe (which consumes nothing) looks at the bucket at other instants.
 */
async function check(store: ThrottleStore, clock: { ms: number }, scenario: { s: any; steps: Array<[number, number]> }) {
  const { s, steps } = scenario;
  let n = 1;
  const options: RateLimitOptions<any> = {
    limit: s.limit,
    windowMs: s.windowMs,
    algorithm: s.algorithm,
    headers: s.mode,
    cost: () => n,
    key: () => 'k',
    name: `p${Math.random().toString(36).slice(2)}`,
    store: { throttle: store },
    onStoreError: 'closed', // a store failure shows as a 503, never hidden by the fallback
    onStoreSwitch: () => {},
    ...(s.algorithm === 'gcra' ? { burst: s.burst } : {}),
  };
  const limiter = createRateLimiter<any>(options);
  const decide = async (cost: number) => {
    n = cost;
    return limiter.check(view());
  };
  const remainingAt = async (ms: number) => {
    const back = clock.ms;
    clock.ms = ms;
    const probe = await decide(0);
    clock.ms = back;
    return parsed(probe).r;
  };
  clock.ms = 1_764_000_000_000 + Math.floor(Math.random() * 1e9);
  for (const [gap, cost] of steps) {
    clock.ms += gap;
    const d = await decide(cost);
    const { q, w, r, t } = parsed(d);
    expect(q).toBe(s.limit);
    expect(w).toBe(Math.ceil(s.windowMs / 1000));
    expect(r).toBeLessThanOrEqual(q);
    const at = clock.ms;
    if (d.type === 'next') {
      if (t === undefined) continue;
      if (s.mode === 'draft-10') {
        // More quota is there after t seconds (r counts at most q, so look at it below q).
        if (r < q) expect(await remainingAt(at + t * 1000)).toBeGreaterThan(r);
      } else {
        // Within t seconds no more than r: just before the end of the window, still r at most.
        if (t > 0) expect(await remainingAt(at + t * 1000 - 0.001)).toBeLessThanOrEqual(r);
      }
      continue;
    }
    expect(d.status).toBe(429);
    const retryAfter = Number(header(d, 'retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
    expect(t).toBeDefined();
    expect(retryAfter).toBeGreaterThanOrEqual(t!);
    if (s.mode === 'draft-10') expect(t).toBe(retryAfter);
    clock.ms = at + retryAfter * 1000;
    expect((await decide(cost)).type).toBe('next');
  }
}

describe('rate-limit headers mean what the draft says', () => {
  it('memory store: every header parses, r <= q, t as defined, Retry-After >= t, and a retry after Retry-After is admitted', async () => {
    const clock = { ms: 0 };
    const store = new MemoryThrottleStore({ max: 10_000 }, () => clock.ms);
    await fc.assert(
      fc.asyncProperty(scenarios, (scenario) => check(store, clock, scenario)),
      { numRuns: 400 },
    );
  });

  it('the cases of issue 17: 3 per 60 s, four at once; burst 20 over limit 10; 15-digit limits', () => {
    const clock = { ms: 1_764_000_000_000 };
    const store = { throttle: new MemoryThrottleStore({ max: 100 }, () => clock.ms) };
    const three = createRateLimiter<any>({ limit: 3, windowMs: 60_000, store });
    const decisions = [1, 2, 3, 4].map(() => three.check(view()) as Decision);
    expect(decisions.map((d) => header(d, 'ratelimit'))).toEqual([
      '"3-in-60s";r=2;t=20',
      '"3-in-60s";r=1;t=20',
      '"3-in-60s";r=0;t=20',
      '"3-in-60s";r=0;t=20',
    ]);
    expect(header(decisions[3]!, 'retry-after')).toBe('20');

    const burst = createRateLimiter<any>({ limit: 10, windowMs: 60_000, burst: 20, store });
    const first = burst.check(view()) as Decision;
    expect(parsed(first)).toMatchObject({ q: 10, r: 10 });

    const huge = createRateLimiter<any>({ limit: 999_999_999_999_999, windowMs: 1_000_000, store });
    expect(parsed(huge.check(view()) as Decision)).toMatchObject({ q: 999_999_999_999_999, r: 999_999_999_999_998 });
    expect(() => createRateLimiter({ limit: 1e15, windowMs: 1_000 })).toThrow(/options\.limit/);
    expect(() => createRateLimiter({ limit: 10, windowMs: 1_000, burst: 1e15 })).toThrow(/options\.burst/);
    expect(() => createRateLimiter({ limit: 1, windowMs: 2 ** 50 })).toThrow(/options\.windowMs/);
    expect(() => createRateLimiter({ limit: 1, windowMs: DAY, burst: 20_000 })).toThrow(/options\.burst/);
  });

  it("'draft-11': t is the effective window, rounded down, and on a 429 counts until more quota, not until Retry-After", () => {
    const clock = { ms: 1_764_000_000_000 };
    const store = { throttle: new MemoryThrottleStore({ max: 100 }, () => clock.ms) };
    let n = 1;
    const limiter = createRateLimiter<any>({ limit: 3, windowMs: 10_000, headers: 'draft-11', cost: () => n, store });
    const one = limiter.check(view()) as Decision;
    expect(header(one, 'ratelimit')).toBe('"3-in-10s";r=2;t=3'); // one more unit in 3.33 s
    n = 3;
    const refused = limiter.check(view()) as Decision;
    expect(header(refused, 'ratelimit')).toBe('"3-in-10s";r=2;t=3');
    expect(header(refused, 'retry-after')).toBe('4');
    n = 0;
    expect(header(createRateLimiter<any>({ limit: 3, windowMs: 10_000, headers: 'draft-11', cost: 0, store, name: 'fresh' }).check(view()) as Decision, 'ratelimit')).toBe(
      '"fresh";r=3',
    );
  });
});

describe('rate-limit headers on Redis', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = await connectRedis();
  });
  afterAll(() => {
    redis?.disconnect();
  });

  it('with a test clock in place of TIME: the same properties as the memory store', async () => {
    const clock = { ms: 0 };
    const options = new RedisStore(redis, { prefix: testPrefix('headers'), commandTimeoutMs: 5_000 }).options;
    const store = new RedisThrottleStore(redis, options, () => clock.ms);
    await fc.assert(
      fc.asyncProperty(scenarios, (scenario) => check(store, clock, scenario)),
      { numRuns: 40 },
    );
  });

  it('on Redis TIME: Retry-After equals t on a 429, and a retry after exactly Retry-After is admitted', async () => {
    const limiter = createRateLimiter<any>({ limit: 2, windowMs: 2_000, store: new RedisStore(redis, { prefix: testPrefix('headers-time') }) });
    expect((await limiter.check(view())).type).toBe('next');
    expect((await limiter.check(view())).type).toBe('next');
    const refused = await limiter.check(view());
    expect(refused.type === 'respond' && refused.status).toBe(429);
    const retryAfter = Number(header(refused, 'retry-after'));
    expect(retryAfter).toBe(1);
    expect(parsed(refused).t).toBe(retryAfter);
    await sleep(retryAfter * 1000);
    expect((await limiter.check(view())).type).toBe('next');
  });
});
