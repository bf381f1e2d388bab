import { afterAll, describe, expect, it } from 'vitest';
import { OriginPool } from '../../src/client/breakers.js';
import { type BreakerStateEvent, CircuitOpenError, createFetch, type RetryEvent } from '../../src/client/index.js';
import { realDelay, serverPool, settle, until } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

function client(extra: Parameters<typeof createFetch>[0] = {}) {
  const states: BreakerStateEvent[] = [];
  const retries: RetryEvent[] = [];
  const fetch = createFetch({
    retries: 0,
    retryBudget: false,
    breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeout: 60_000 },
    onBreakerStateChange: (event) => states.push(event),
    onRetry: (event) => retries.push(event),
    ...extra,
  });
  return { fetch, states, retries };
}

describe('circuit breakers', () => {
  it('opens per origin only, fails fast with circuit_open without touching the network, and is not retried', async () => {
    const down = await servers.start([{ status: 503 }]);
    const up = await servers.start([{}]);
    const { fetch, states, retries } = client({ retries: 3, baseDelayMs: 1, maxDelayMs: 2 });

    // The fourth failed attempt reaches the volume threshold with 100% errors: the breaker opens.
    const first = await fetch(down.url);
    expect(first.status).toBe(503);
    expect(down.hits).toHaveLength(4);
    const opened = states.filter((event) => event.state === 'open');
    expect(opened).toHaveLength(1);
    expect(opened[0]?.origin).toBe(down.url);
    const hitsWhenOpened = down.hits.length;

    const retriesBefore = retries.length;
    const before = Date.now();
    const result = await settle(fetch(`${down.url}/other/path`, { method: 'POST', body: 'x' }));
    const error = (result as { error: CircuitOpenError }).error;
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error.code).toBe('circuit_open');
    expect(error.origin).toBe(down.url);
    expect(error.retryAt.getTime()).toBeGreaterThanOrEqual(before + 59_000);
    expect(error.retryAt.getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(error.message).toContain(error.retryAt.toISOString());
    expect(down.hits).toHaveLength(hitsWhenOpened);
    expect(retries.length).toBe(retriesBefore);

    // Another origin of the same wrapper is untouched.
    for (let i = 0; i < 5; i++) expect((await fetch(up.url)).status).toBe(200);
    expect(states.every((event) => event.origin === down.url)).toBe(true);
  });

  it('counts timeouts and network errors as failures', async () => {
    const server = await servers.start([{ reset: true }, { hang: true }, { reset: true }, { hang: true }, {}]);
    const { fetch, states } = client({ timeoutMs: 50 });
    for (let i = 0; i < 3; i++) await settle(fetch(server.url));
    expect(states).toEqual([]);
    await settle(fetch(server.url));
    expect(states.map((event) => event.state)).toEqual(['open']);
    const refused = await settle(fetch(server.url));
    expect((refused as { error: unknown }).error).toBeInstanceOf(CircuitOpenError);
    expect(server.hits).toHaveLength(4);
  });

  it('never counts 4xx, 429 or the caller aborting', async () => {
    const statuses = [400, 401, 402, 403, 404, 409, 422, 429];
    const server = await servers.start((hit) =>
      hit.url === '/hang' ? { hang: true } : { status: statuses[Number(hit.url.slice(1)) % statuses.length] },
    );
    const { fetch, states } = client();
    for (let i = 0; i < 40; i++) expect((await fetch(`${server.url}/${i}`)).status).toBe(statuses[i % statuses.length]);
    for (let i = 0; i < 10; i++) {
      const controller = new AbortController();
      const call = settle(fetch(`${server.url}/hang`, { signal: controller.signal }));
      await server.waitForHits(41 + i);
      controller.abort();
      expect((await call).ok).toBe(false);
    }
    expect(states).toEqual([]);
    expect((await fetch(`${server.url}/0`)).status).toBe(400);
  });

  it('lets exactly one probe through when half-open under 50 concurrent calls; its success closes', async () => {
    const server = await servers.start([{ status: 500 }]);
    const { fetch, states } = client({ breaker: { volumeThreshold: 2, resetTimeout: 150 } });
    for (let i = 0; i < 3; i++) await settle(fetch(server.url));
    expect(states.map((event) => event.state)).toEqual(['open']);
    await until(() => states.length === 2);
    expect(states[1]?.state).toBe('halfOpen');

    const hitsBefore = server.hits.length;
    server.plan([{ status: 200, delayMs: 100 }]);
    const results = await Promise.all(Array.from({ length: 50 }, () => settle(fetch(server.url))));
    const passed = results.filter((result) => result.ok);
    const refused = results.filter((result) => !result.ok).map((result) => (result as { error: unknown }).error);
    expect(passed).toHaveLength(1);
    expect(refused).toHaveLength(49);
    expect(refused.every((error) => error instanceof CircuitOpenError)).toBe(true);
    expect(server.hits.length - hitsBefore).toBe(1);
    expect(states.map((event) => event.state)).toEqual(['open', 'halfOpen', 'close']);
    expect((await fetch(server.url)).status).toBe(200);
  });

  it("reopens when the probe fails, and when the caller aborts the probe", async () => {
    const server = await servers.start([{ status: 500 }]);
    const { fetch, states } = client({ breaker: { volumeThreshold: 2, resetTimeout: 100 } });
    for (let i = 0; i < 3; i++) await settle(fetch(server.url));
    await until(() => states.length === 2);
    expect((await fetch(server.url)).status).toBe(500);
    expect(states.map((event) => event.state)).toEqual(['open', 'halfOpen', 'open']);
    expect((await settle(fetch(server.url))).ok).toBe(false);

    await until(() => states.length === 4);
    server.plan([{ hang: true }]);
    const controller = new AbortController();
    const probe = settle(fetch(server.url, { signal: controller.signal }));
    await realDelay(20);
    controller.abort();
    expect((await probe).ok).toBe(false);
    expect(states.map((event) => event.state)).toEqual(['open', 'halfOpen', 'open', 'halfOpen', 'open']);
  });

  it('does not retry into a breaker that opened during the call', async () => {
    const server = await servers.start([{ status: 503 }]);
    const { fetch, retries } = client({ retries: 10, baseDelayMs: 1, maxDelayMs: 2, breaker: { volumeThreshold: 3 } });
    const res = await fetch(server.url);
    expect(res.status).toBe(503);
    // The third failure opens the breaker; no retry is sent after that.
    expect(server.hits).toHaveLength(3);
    expect(retries).toHaveLength(2);
  });

  it('works with breakers disabled', async () => {
    const server = await servers.start([{ status: 503 }]);
    const { fetch, states } = client({ breaker: false });
    for (let i = 0; i < 30; i++) expect((await fetch(server.url)).status).toBe(503);
    expect(states).toEqual([]);
    expect(server.hits).toHaveLength(30);
  });
});

describe('the pool of breakers', () => {
  it('keeps at most maxBreakers origins and shuts down every evicted breaker', () => {
    const pool = new OriginPool({
      max: 50,
      breaker: { errorThresholdPercentage: 50, resetTimeout: 1000, volumeThreshold: 1, rollingCountTimeout: 1000, rollingCountBuckets: 10 },
      budget: false,
      onStateChange: undefined,
    });
    const states = Array.from({ length: 1_000 }, (_, i) => pool.get(`https://host-${i}.example`));
    expect(pool.size).toBe(50);
    expect(states.slice(0, 950).every((state) => state.breaker?.isShutdown)).toBe(true);
    expect(states.slice(950).every((state) => state.breaker?.isShutdown === false)).toBe(true);
    expect(pool.get('https://host-999.example')).toBe(states[999]);
    pool.clear();
    expect(states.every((state) => state.breaker?.isShutdown)).toBe(true);
  });
});
