/**
 * The success path of the wrapper takes shortcuts for speed: a closed breaker counts attempts without
 * opossum's `fire()`, plain-object headers are copied without a `Headers`, and origins are cached by
 * URL prefix. These tests hold each shortcut to the behaviour of the long way round.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type Attempt, OriginPool, type OriginState } from '../../src/client/breakers.js';
import { createFetch, type RetryEvent } from '../../src/client/index.js';
import { classifyNetworkError } from '../../src/client/retry.js';
import { serverPool, settle, UUID } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

type Outcome = 'ok' | '5xx' | 'network' | 'bad-argument';

/** An attempt whose request ends as `outcome` once `release` is called. */
function attempt(outcome: Outcome): Attempt & { release(): void } {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    probe: false,
    release: () => release(),
    run: async () => {
      await gate;
      if (outcome === 'ok') return new Response('{}', { status: 200 });
      if (outcome === '5xx') return new Response('{}', { status: 503 });
      if (outcome === 'network') throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
      throw new TypeError('Headers.append: "a b" is an invalid header name.');
    },
    countsAsFailure: (error) => classifyNetworkError(error) !== undefined,
  };
}

function pool(volumeThreshold: number, errorThresholdPercentage: number): OriginPool {
  return new OriginPool({
    max: 10,
    breaker: { errorThresholdPercentage, resetTimeout: 60_000, volumeThreshold, rollingCountTimeout: 60_000, rollingCountBuckets: 10 },
    budget: false,
    onStateChange: undefined,
  });
}

const counts = (state: OriginState) => {
  const { fires, successes, failures, rejects } = state.breaker!.stats;
  return { fires, successes, failures, rejects, opened: state.breaker!.opened };
};

describe('a closed breaker without fire()', () => {
  it("counts every attempt and opens exactly when opossum's fire() would, also with attempts in flight together", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Outcome>('ok', '5xx', 'network', 'bad-argument'), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(25, 50, 75),
        async (outcomes, inFlight, volumeThreshold, threshold) => {
          const oursPool = pool(volumeThreshold, threshold);
          const referencePool = pool(volumeThreshold, threshold);
          const ours = oursPool.get('https://api.example');
          const reference = referencePool.get('https://api.example');
          try {
            // Attempts are sent in groups of `inFlight` and end one by one, in order.
            for (let start = 0; start < outcomes.length; start += inFlight) {
              const group = outcomes.slice(start, start + inFlight);
              const mine = group.map((outcome) => attempt(outcome));
              const theirs = group.map((outcome) => attempt(outcome));
              const sent = mine.map((a) => settle(ours.send(a)));
              // The reference: the same attempts through opossum's own fire(), as before the shortcut.
              const fired = theirs.map((a) => settle(reference.breaker!.fire(a)));
              expect(counts(ours)).toEqual(counts(reference));
              for (let i = 0; i < group.length; i++) {
                mine[i]!.release();
                theirs[i]!.release();
                await sent[i];
                await fired[i];
                expect(counts(ours)).toEqual(counts(reference));
              }
            }
          } finally {
            oursPool.clear();
            referencePool.clear();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('headers on the success path', () => {
  it("keeps the caller's key whatever its letter case or form, and adds one when there is none", async () => {
    const server = await servers.start([{}]);
    const fetch = createFetch({ retries: 0 });
    const forms: HeadersInit[] = [
      { 'IDEMPOTENCY-KEY': 'k-object', 'x-trace': 't' },
      new Headers({ 'idempotency-key': 'k-headers', 'x-trace': 't' }),
      [
        ['Idempotency-Key', 'k-array'],
        ['x-trace', 't'],
      ],
    ];
    for (const headers of forms) await fetch(server.url, { method: 'POST', body: 'x', headers });
    await fetch(server.url, { method: 'POST', body: 'x', headers: { 'x-trace': 't' } });
    expect(server.hits.map((hit) => hit.headers['idempotency-key'])).toEqual([
      'k-object',
      'k-headers',
      'k-array',
      expect.stringMatching(UUID),
    ]);
    expect(server.hits.every((hit) => hit.headers['x-trace'] === 't')).toBe(true);
  });

  it("retries a POST with the caller's own key when keys are disabled, and not one without", async () => {
    const server = await servers.start([{ reset: true }, {}]);
    const fetch = createFetch({ idempotencyHeader: false, baseDelayMs: 1, maxDelayMs: 2, retryBudget: false });
    const keyed = await fetch(server.url, { method: 'POST', body: 'x', headers: { 'IDEMPOTENCY-KEY': 'mine' } });
    expect(keyed.status).toBe(200);
    expect(server.hits.map((hit) => hit.headers['idempotency-key'])).toEqual(['mine', 'mine']);

    server.plan((_hit, index) => (index === 2 ? { reset: true } : {}));
    const unkeyed = await settle(fetch(server.url, { method: 'POST', body: 'x', headers: { 'x-trace': 't' } }));
    expect(unkeyed.ok).toBe(false);
    expect(server.hits).toHaveLength(3);
  });

  it("lets the caller's content type win over the one of a form body, in a plain object", async () => {
    const server = await servers.start([{}]);
    const fetch = createFetch();
    await fetch(server.url, { method: 'POST', body: new URLSearchParams({ a: '1' }), headers: { 'Content-Type': 'text/x-mine' } });
    await fetch(server.url, { method: 'POST', body: new URLSearchParams({ a: '1' }), headers: { 'x-trace': 't' } });
    expect(server.hits.map((hit) => hit.headers['content-type'])).toEqual([
      'text/x-mine',
      'application/x-www-form-urlencoded;charset=UTF-8',
    ]);
    expect(server.hits.map((hit) => hit.body.toString())).toEqual(['a=1', 'a=1']);
  });
});

describe('origins', () => {
  it('gives every URL of one origin the same origin, however it is written', async () => {
    // Every first attempt gets a 503 and its retry a 200, so each call reports its origin once.
    const server = await servers.start((_hit, index) => (index % 2 === 0 ? { status: 503 } : {}));
    const retries: RetryEvent[] = [];
    const fetch = createFetch({
      baseDelayMs: 1,
      maxDelayMs: 2,
      breaker: false,
      retryBudget: false,
      onRetry: (event) => retries.push(event),
    });
    const { port } = new URL(server.url);
    const urls = [
      `${server.url}/a?x=1`,
      `HTTP://127.0.0.1:${port}/b`,
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${port}?q`,
      new URL(`${server.url}/c#frag`),
      `http://127.0.0.1:${port}/d`,
    ];
    for (const url of urls) expect((await fetch(url)).status).toBe(200);
    expect(retries.map((event) => event.origin)).toEqual(urls.map(() => server.url));
  });
});
