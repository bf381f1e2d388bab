import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/guard/types.js';
import { MemoryThrottleStore } from '../../src/stores/memory/throttle.js';
import { ApiError } from '../../src/errors/api-error.js';
import { MAX_HEADER_INTEGER } from '../../src/throttle/headers.js';
import { createRateLimiter, type RateLimitOptions } from '../../src/throttle/rate-limiter.js';
import { matrix, nativeHeader, type Variant } from '../support/matrix.js';
import { view } from './view.js';

function fakeClock(start = 1_700_000_000_000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

function limiterAt(options: Omit<RateLimitOptions<any>, 'store'>, clock: { now: () => number }) {
  const throttle = new MemoryThrottleStore({ max: 10_000 }, clock.now);
  return createRateLimiter<any>({ ...options, store: { throttle } });
}

function decide(limiter: ReturnType<typeof createRateLimiter<any>>, extra: Record<string, unknown> = {}): Decision {
  const d = limiter.check(view('203.0.113.7', {}, extra));
  if (d instanceof Promise) throw new Error('the memory store decides synchronously');
  return d;
}

function header(d: Decision, name: string): string | undefined {
  return d.headers?.find(([n]) => n === name)?.[1];
}

describe('rate limiter on a fake clock', () => {
  it('admits burst at once, then refuses with 429 throttled and the documented body', () => {
    const clock = fakeClock();
    const limiter = limiterAt({ limit: 3, windowMs: 10_000 }, clock);
    for (let i = 0; i < 3; i++) expect(decide(limiter).type).toBe('next');
    const refused = decide(limiter);
    expect(refused.type).toBe('respond');
    if (refused.type !== 'respond') return;
    expect(refused.status).toBe(429);
    expect(JSON.parse(String(refused.body))).toEqual({ message: 'Too many requests. Wait for Retry-After seconds.', error: 'throttled' });
    expect(header(refused, 'retry-after')).toBe('4'); // one unit refills every 3.33 s
    expect(header(refused, 'content-type')).toBe('application/json; charset=utf-8');
  });

  it('Retry-After is exact: admitted after exactly that many seconds, refused one second earlier', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom('gcra' as const, 'sliding-window' as const),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 40 }),
        (limit, windowMs, burst, algorithm, steps) => {
          const clock = fakeClock();
          const options = algorithm === 'gcra' ? { limit, windowMs, burst, algorithm } : { limit, windowMs, algorithm };
          const capacity = algorithm === 'gcra' ? burst : limit;
          let n = 0;
          const limiter = limiterAt({ ...options, cost: () => n }, clock);
          for (const [gap, cost] of steps) {
            clock.t += gap;
            n = Math.min(cost, capacity);
            const d = decide(limiter);
            if (d.type === 'next') continue;
            expect(d.status).toBe(429);
            const seconds = Number(header(d, 'retry-after'));
            expect(Number.isInteger(seconds) && seconds >= 1).toBe(true);
            const at = clock.t;
            if (seconds > 1) {
              clock.t = at + (seconds - 1) * 1000;
              expect(decide(limiter).type).toBe('respond');
            }
            clock.t = at + seconds * 1000;
            expect(decide(limiter).type).toBe('next');
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('no window-length span admits more than limit + burst (GCRA) or limit (sliding window)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 10, max: 5_000 }),
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom('gcra' as const, 'sliding-window' as const),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 3 })), { minLength: 1, maxLength: 150 }),
        (limit, windowMs, burst, algorithm, steps) => {
          const clock = fakeClock(0);
          let n = 1;
          const options = algorithm === 'gcra' ? { limit, windowMs, burst, algorithm } : { limit, windowMs, algorithm };
          const limiter = limiterAt({ ...options, cost: () => n }, clock);
          const capacity = algorithm === 'gcra' ? burst : limit;
          const admitted: Array<[number, number]> = [];
          for (const [gap, cost] of steps) {
            clock.t += gap;
            n = Math.min(cost, capacity);
            if (decide(limiter).type === 'next') admitted.push([clock.t, n]);
          }
          for (const [start] of admitted) {
            let closed = 0;
            let halfOpen = 0;
            for (const [t, c] of admitted) {
              if (t >= start && t <= start + windowMs) closed += c;
              if (t >= start && t < start + windowMs) halfOpen += c;
            }
            if (algorithm === 'gcra') expect(closed).toBeLessThanOrEqual(limit + burst);
            else expect(halfOpen).toBeLessThanOrEqual(limit);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a refused request consumes nothing', () => {
    const clock = fakeClock();
    const limiter = limiterAt({ limit: 10, windowMs: 10_000 }, clock);
    let n = 8;
    const costly = limiterAt({ limit: 10, windowMs: 10_000, cost: () => n }, clock);
    expect(decide(costly).type).toBe('next'); // 2 left
    n = 3;
    for (let i = 0; i < 50; i++) expect(decide(costly).type).toBe('respond');
    n = 2;
    const d = decide(costly);
    expect(d.type).toBe('next');
    expect(header(d, 'ratelimit')).toBe('"10-in-10s";r=0;t=1'); // one more unit in 1 s (the bucket is full in 10 s)
    expect(decide(limiter).type).toBe('next');
  });

  it('a cost larger than the bucket is a 422 invalid_request without Retry-After, and locks nothing out', () => {
    const clock = fakeClock();
    let n = 6;
    const limiter = limiterAt({ limit: 10, windowMs: 60_000, burst: 5, cost: () => n }, clock);
    const d = decide(limiter);
    expect(d.type).toBe('respond');
    if (d.type !== 'respond') return;
    expect(d.status).toBe(422);
    expect(header(d, 'retry-after')).toBeUndefined();
    const body = JSON.parse(String(d.body));
    expect(body.error).toBe('invalid_request');
    expect(body.message).toContain('costs 6');
    n = 5;
    expect(decide(limiter).type).toBe('next');
  });

  it('a cost of 0 is admitted even when the bucket is empty, and reports the state', () => {
    const clock = fakeClock();
    let n = 2;
    const limiter = limiterAt({ limit: 2, windowMs: 1_000, cost: () => n }, clock);
    expect(decide(limiter).type).toBe('next');
    n = 0;
    const d = decide(limiter);
    expect(d.type).toBe('next');
    expect(header(d, 'ratelimit')).toBe('"2-in-1s";r=0;t=1');
  });

  it('windows of 30 days work and state is one number per key', () => {
    const clock = fakeClock();
    const day = 86_400_000;
    const limiter = limiterAt({ limit: 30, windowMs: 30 * day }, clock);
    for (let i = 0; i < 30; i++) expect(decide(limiter).type).toBe('next');
    const d = decide(limiter);
    expect(d.type === 'respond' && header(d, 'retry-after')).toBe(String(day / 1000));
    clock.t += day;
    expect(decide(limiter).type).toBe('next');
    expect(decide(limiter).type).toBe('respond');
  });

  it('a cost function, a key function and skip receive the framework request', () => {
    const clock = fakeClock();
    const seen: unknown[] = [];
    const limiter = limiterAt(
      {
        limit: 1,
        windowMs: 1_000,
        key: (req) => {
          seen.push(req);
          return String(req.account);
        },
        skip: (req) => req.account === 'admin',
      },
      clock,
    );
    expect(decide(limiter, { account: 'a' }).type).toBe('next');
    expect(decide(limiter, { account: 'a' }).type).toBe('respond');
    expect(decide(limiter, { account: 'b' }).type).toBe('next');
    const skipped = decide(limiter, { account: 'admin' });
    expect(skipped).toEqual({ type: 'next' });
    expect((seen[0] as { account: string }).account).toBe('a');
  });

  it('async key, cost and skip functions work', async () => {
    const limiter = createRateLimiter<any>({
      limit: 2,
      windowMs: 60_000,
      key: async () => 'k',
      cost: async () => 2,
      skip: async () => false,
    });
    expect((await limiter.check(view())).type).toBe('next');
    expect((await limiter.check(view())).type).toBe('respond');
  });

  it('a throwing key, cost or skip function gives a generic 500, never a rejection', async () => {
    for (const bad of [
      { key: () => { throw new Error('secret detail'); } },
      { cost: () => Number.NaN },
      { cost: () => -1 },
      { skip: async () => { throw new Error('secret detail'); } },
      { key: async () => 42 as unknown as string },
    ]) {
      const limiter = createRateLimiter<any>({ limit: 2, windowMs: 60_000, ...bad });
      const d = await limiter.check(view());
      expect(d.type).toBe('respond');
      if (d.type !== 'respond') continue;
      expect(d.status).toBe(500);
      expect(String(d.body)).not.toContain('secret');
    }
  });
});

describe('default key', () => {
  it('groups IPv6 clients by /56 and treats IPv4-mapped IPv6 as IPv4', () => {
    const limiter = createRateLimiter<any>({ limit: 1, windowMs: 60_000 });
    const at = (peer: string) => {
      const d = limiter.check(view(peer));
      if (d instanceof Promise) throw new Error('sync expected');
      return d.type;
    };
    expect(at('2001:db8:0:1200::1')).toBe('next');
    expect(at('2001:db8:0:12ff:ffff::9')).toBe('respond'); // same /56
    expect(at('2001:db8:0:1300::1')).toBe('next'); // another /56
    expect(at('198.51.100.4')).toBe('next');
    expect(at('::ffff:198.51.100.4')).toBe('respond');
    expect(at('198.51.100.5')).toBe('next');
  });

  it('uses the trusted proxy chain like the allowlist', () => {
    const limiter = createRateLimiter<any>({ limit: 1, windowMs: 60_000, trustProxy: ['10.0.0.0/8'] });
    const at = (xff: string) => {
      const d = limiter.check(view('10.0.0.2', { 'x-forwarded-for': xff }));
      if (d instanceof Promise) throw new Error('sync expected');
      return d.type;
    };
    expect(at('203.0.113.1')).toBe('next');
    expect(at('203.0.113.2')).toBe('next');
    expect(at('203.0.113.1, 10.0.0.9')).toBe('respond');
  });

  it('ipv6Subnet changes the grouping', () => {
    const limiter = createRateLimiter<any>({ limit: 1, windowMs: 60_000, ipv6Subnet: 64 });
    expect((limiter.check(view('2001:db8:0:1200::1')) as Decision).type).toBe('next');
    expect((limiter.check(view('2001:db8:0:1201::1')) as Decision).type).toBe('next');
    expect((limiter.check(view('2001:db8:0:1201::2')) as Decision).type).toBe('respond');
  });

  it('requests without an address share one bucket', () => {
    const limiter = createRateLimiter<any>({ limit: 1, windowMs: 60_000 });
    expect((limiter.check(view(null)) as Decision).type).toBe('next');
    expect((limiter.check(view('not an address')) as Decision).type).toBe('respond');
  });
});

describe('MemoryStore bound', () => {
  it('one million distinct keys stay within max', () => {
    const throttle = new MemoryThrottleStore({ max: 5_000 });
    const request = { key: '', algorithm: 'gcra' as const, limit: 10, windowMs: 60_000, burst: 10, cost: 1 };
    for (let i = 0; i < 1_000_000; i++) {
      request.key = `k${i}`;
      throttle.consume(request);
      if (i % 100_000 === 0) expect(throttle.size).toBeLessThanOrEqual(5_000);
    }
    expect(throttle.size).toBe(5_000);
  });
});

describe('option validation', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ limit: 0, windowMs: 1 }, /options\.limit/],
    [{ limit: 1.5, windowMs: 1 }, /options\.limit/],
    [{ limit: 1, windowMs: -1 }, /options\.windowMs/],
    [{ limit: 1, windowMs: 1, burst: 0 }, /options\.burst/],
    [{ limit: 1, windowMs: 1, burst: 2, algorithm: 'sliding-window' }, /options\.burst/],
    [{ limit: 1, windowMs: 1, cost: -1 }, /options\.cost/],
    [{ limit: 1, windowMs: 1, cost: 'x' }, /options\.cost/],
    [{ limit: 1, windowMs: 1, key: 'x' }, /options\.key/],
    [{ limit: 1, windowMs: 1, skip: true }, /options\.skip/],
    [{ limit: 1, windowMs: 1, store: {} }, /options\.store/],
    [{ limit: 1, windowMs: 1, headers: 'draft-6' }, /options\.headers/],
    [{ limit: 1, windowMs: 1, algorithm: 'leaky' }, /options\.algorithm/],
    [{ limit: 1, windowMs: 1, onStoreError: 'retry' }, /options\.onStoreError/],
    [{ limit: 1, windowMs: 1, onStoreSwitch: 1 }, /options\.onStoreSwitch/],
    [{ limit: 1, windowMs: 1, trustProxy: ['not-a-cidr'] }, /options\.trustProxy/],
    [{ limit: 1, windowMs: 1, forwarded: 'yes' }, /options\.forwarded/],
    [{ limit: 1, windowMs: 1, ipv6Subnet: 129 }, /options\.ipv6Subnet/],
    [{ limit: 1, windowMs: 1, name: 'caf\u00e9' }, /options\.name/],
  ];
  for (const [options, message] of cases) {
    it(`refuses ${JSON.stringify(options)}`, () => {
      expect(() => createRateLimiter(options as unknown as RateLimitOptions)).toThrow(TypeError);
      expect(() => createRateLimiter(options as unknown as RateLimitOptions)).toThrow(message);
    });
  }
});

describe('per-request limits (a function limit)', () => {
  const perPlan = (variant: Variant) => {
    const header = nativeHeader(variant);
    return {
      name: 'plans',
      windowMs: 60_000,
      key: (req: unknown) => header(req, 'x-account') ?? 'anonymous',
      // A promise, as a plan read from a database would be.
      limit: async (req: unknown) => (header(req, 'x-plan') === 'pro' ? 3 : 1),
    };
  };
  const get = (account: string, plan: string) => ({ path: '/v1/messages', headers: { 'x-account': account, 'x-plan': plan } });

  matrix(
    'rateLimit: two keys on different plans get their own limits and headers',
    { guards: [{ kind: 'rateLimit', options: perPlan }], routes: [{ method: 'GET', path: '/v1/messages', handler: () => ({ json: { ok: true } }) }] },
    async ({ send }) => [
      await send(get('free-1', 'free')),
      await send(get('free-1', 'free')),
      await send(get('pro-1', 'pro')),
      await send(get('pro-1', 'pro')),
      await send(get('pro-1', 'pro')),
      await send(get('pro-1', 'pro')),
    ],
    (results) => {
      expect(results.map((r) => r.status)).toEqual([200, 429, 200, 200, 200, 429]);
      const [free, freeRefused, pro1, pro2, pro3, proRefused] = results;
      expect(free!.headers['ratelimit-policy']).toBe('"plans";q=1;w=60');
      expect(free!.headers.ratelimit).toBe('"plans";r=0;t=60');
      expect(freeRefused!.headers['retry-after']).toBe('60');
      expect(pro1!.headers['ratelimit-policy']).toBe('"plans";q=3;w=60');
      expect([pro1, pro2, pro3].map((r) => r!.headers.ratelimit)).toEqual(['"plans";r=2;t=20', '"plans";r=1;t=20', '"plans";r=0;t=20']);
      expect(proRefused!.headers['ratelimit-policy']).toBe('"plans";q=3;w=60');
      expect(proRefused!.headers['retry-after']).toBe('20');
    },
  );

  matrix(
    'rateLimit: a bad per-request limit is the documented 500 on the wire, never a crash or a hang',
    {
      guards: [
        {
          kind: 'rateLimit',
          options: (variant: Variant) => {
            const header = nativeHeader(variant);
            return { name: 'wire', windowMs: 60_000, key: () => 'k', limit: (req: unknown) => Number(header(req, 'x-limit')) };
          },
        },
      ],
      routes: [{ method: 'GET', path: '/v1/messages', handler: () => ({ json: { ok: true } }) }],
      errors: { onError: () => {} },
    },
    async ({ send }) => [
      await send({ path: '/v1/messages', headers: { 'x-limit': '0' } }),
      await send({ path: '/v1/messages', headers: { 'x-limit': '1.5' } }),
      await send({ path: '/v1/messages', headers: { 'x-limit': 'lots' } }),
      await send({ path: '/v1/messages', headers: { 'x-limit': '1000000000000000' } }),
      await send({ path: '/v1/messages', headers: { 'x-limit': '2' } }),
    ],
    (results) => {
      expect(results.map((r) => r.status)).toEqual([500, 500, 500, 500, 200]);
      for (const failed of results.slice(0, 4)) {
        expect(failed.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(JSON.parse(failed.body).error).toBe('internal_error');
        expect(failed.body).not.toContain('options.limit');
      }
      expect(results[4]!.headers['ratelimit-policy']).toBe('"wire";q=2;w=60');
    },
  );

  const bad: Array<[string, () => unknown]> = [
    ['0', () => 0],
    ['-1', () => -1],
    ['1.5', () => 1.5],
    ['NaN', () => Number.NaN],
    ['Infinity', () => Number.POSITIVE_INFINITY],
    ['a string', () => '100'],
    ['undefined', () => undefined],
    ['null', () => null],
    ['over the maximum', () => MAX_HEADER_INTEGER + 1],
    ['2^53', () => 2 ** 53],
    ['a promise of 0', async () => 0],
    ['a promise of a string', async () => '5'],
    [
      'a throw',
      () => {
        throw new Error('plan lookup failed');
      },
    ],
    ['a rejection', () => Promise.reject(new Error('plan lookup failed'))],
    ['a rejection with undefined', () => Promise.reject(undefined)],
    [
      'a throw of null',
      () => {
        throw null;
      },
    ],
  ];
  for (const [what, limit] of bad) {
    it(`${what}: the documented 500, with a TypeError naming options.limit for the error handler`, async () => {
      const limiter = createRateLimiter<any>({ name: 'bad', limit: limit as never, windowMs: 1000, key: () => 'k' });
      const decision = await limiter.check(view());
      expect(decision.type).toBe('respond');
      if (decision.type !== 'respond') return;
      expect(decision.status).toBe(500);
      expect(JSON.parse(String(decision.body))).toEqual({ message: expect.any(String), error: 'internal_error' });
      expect(String(decision.body)).not.toContain('options.limit');
      expect(decision.error).toBeInstanceOf(TypeError);
      expect((decision.error as Error).message).toMatch(/^rateLimit: options\.limit /);
    });
  }

  it('an ApiError thrown on purpose is answered as itself', async () => {
    const limiter = createRateLimiter<any>({
      name: 'auth',
      limit: () => {
        throw new ApiError('unauthorized');
      },
      windowMs: 1000,
    });
    const decision = await limiter.check(view());
    expect(decision.type === 'respond' && decision.status).toBe(401);
  });

  it('the exactness bound is checked per call: a limit too low for the burst answers 500', async () => {
    const limiter = createRateLimiter<any>({ name: 'bound', limit: (req) => req.n, burst: 1_000_000_000, windowMs: 86_400_000, key: () => 'k' });
    const ok = await limiter.check(view('203.0.113.7', {}, { n: 1_000_000 }));
    expect(ok.type).toBe('next');
    const tooLow = await limiter.check(view('203.0.113.7', {}, { n: 10 }));
    expect(tooLow.type === 'respond' && tooLow.status).toBe(500);
    expect(tooLow.type === 'respond' && (tooLow.error as Error).message).toMatch(/^rateLimit: options\.limit returned 10, too low for burst 1000000000/);
  });

  it('burst defaults to the limit of each request', () => {
    const clock = fakeClock();
    const limiter = limiterAt({ name: 'b', limit: (req) => req.n, windowMs: 60_000, key: (req) => req.k }, clock);
    const admitted = (n: number, k: string) => {
      let count = 0;
      while (decide(limiter, { n, k }).type === 'next') count += 1;
      return count;
    };
    expect(admitted(4, 'a')).toBe(4);
    expect(admitted(9, 'b')).toBe(9);
  });

  it('answers synchronously when the function and the store do', () => {
    const limiter = createRateLimiter<any>({ name: 'sync', limit: () => 5, windowMs: 1000, key: () => 'k' });
    expect(limiter.check(view())).not.toBeInstanceOf(Promise);
  });

  it('headers stay right for more distinct limits than the writers it keeps', () => {
    const clock = fakeClock();
    const limiter = limiterAt({ name: 'many', limit: (req) => req.n, windowMs: 60_000, key: (req) => `k${req.n}` }, clock);
    for (const n of [...Array.from({ length: 150 }, (_, i) => i + 1), 1, 2, 3]) {
      const d = decide(limiter, { n });
      expect(header(d, 'ratelimit-policy')).toBe(`"many";q=${n};w=60`);
    }
  });

  it('property: a function returning a constant decides exactly as the number', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
        fc.constantFrom('gcra' as const, 'sliding-window' as const),
        fc.constantFrom('draft-10' as const, 'draft-11' as const, 'draft-7' as const, false as const),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3000 }), cost: fc.integer({ min: 0, max: 35 }), key: fc.constantFrom('a', 'b') }), { maxLength: 60 }),
        (limit, burst, algorithm, headers, steps) => {
          const clock = fakeClock();
          const common = { name: 'same', windowMs: 10_000, algorithm, headers, key: (req: any) => req.key, cost: (req: any) => req.cost };
          const extra = algorithm === 'gcra' && burst !== undefined ? { burst } : {};
          const fixed = limiterAt({ ...common, ...extra, limit }, clock);
          const dynamic = limiterAt({ ...common, ...extra, limit: () => limit }, clock);
          for (const step of steps) {
            clock.t += step.dt;
            expect(decide(dynamic, step)).toEqual(decide(fixed, step));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('options: a function limit needs a name; an explicit burst must still be a positive integer', () => {
    expect(() => createRateLimiter({ limit: () => 5, windowMs: 1000 })).toThrow(
      new TypeError('rateLimit: options.name is required when options.limit is a function (the default name is made from a numeric limit)'),
    );
    for (const burst of [0, -1, 1.5, '5']) {
      expect(() => createRateLimiter({ name: 'x', limit: () => 5, windowMs: 1000, burst: burst as never })).toThrow(/^rateLimit: options\.burst must be a positive integer/);
    }
    expect(() => createRateLimiter({ name: 'x', limit: 'lots' as never, windowMs: 1000 })).toThrow(/^rateLimit: options\.limit must be/);
  });
});

describe('peek with a limit', () => {
  it('a function limit: peek(key, { limit }) reads under that limit; without one it rejects', async () => {
    const clock = fakeClock();
    const limiter = limiterAt({ name: 'p', limit: (req) => req.n, windowMs: 60_000, key: () => 'acct' }, clock);
    decide(limiter, { n: 3 });
    decide(limiter, { n: 3 });
    expect(await limiter.peek('acct', { limit: 3 })).toEqual({ limit: 3, remaining: 1, resetMs: 40_000 });
    await expect(limiter.peek('acct')).rejects.toThrow(/^rateLimit: peek\(key, \{ limit \}\) needs the limit/);
    // Peeking writes nothing.
    expect(decide(limiter, { n: 3 }).type).toBe('next');
    expect(decide(limiter, { n: 3 }).type).toBe('respond');
  });

  it('a numeric limit: peek(key) as before, and { limit } reads under another one', async () => {
    const clock = fakeClock();
    const limiter = limiterAt({ limit: 2, windowMs: 60_000, key: () => 'acct' }, clock);
    decide(limiter);
    expect(await limiter.peek('acct')).toEqual({ limit: 2, remaining: 1, resetMs: 30_000 });
    // The bucket holds time: 30 s used is one unit of 2 a minute, two units of 4 a minute.
    expect(await limiter.peek('acct', { limit: 4 })).toEqual({ limit: 4, remaining: 2, resetMs: 30_000 });
  });

  it.each([[{ limit: 0 }], [{ limit: 1.5 }], [{ limit: '3' }], [{ limt: 3 }], ['3'], [null]])('refuses peek options %o', async (options) => {
    const limiter = createRateLimiter({ limit: 2, windowMs: 60_000 });
    await expect(limiter.peek('203.0.113.7', options as never)).rejects.toThrow(TypeError);
    await expect(limiter.peek('203.0.113.7', options as never)).rejects.toThrow(/rateLimit/);
  });
});
