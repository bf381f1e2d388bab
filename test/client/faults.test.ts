/**
 * The promises of the client against a fault-injecting server: the deadline and the attempt timeout
 * cover the body of the returned response; failures that repeating cannot fix are neither retried nor
 * counted by the breaker; breakers shared by wrappers, and kept open under eviction pressure; huge
 * Retry-After values; a breaker that opens while a call waits to retry.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BreakerStateEvent,
  CircuitOpenError,
  createBreakers,
  createFetch,
  FetchTimeoutError,
  type RetryEvent,
} from '../../src/client/index.js';
import { startTlsServer, type TlsServer } from './fault-server.js';
import { realDelay, recordingClient, serverPool, settle } from './helpers.js';

const servers = serverPool();
const tlsServers: TlsServer[] = [];
afterAll(async () => {
  await servers.closeAll();
  await Promise.all(tlsServers.map((server) => server.close()));
});

/** Runs `work`, returning its outcome and how long it took in ms. */
async function timed<T>(work: () => Promise<T>) {
  const started = performance.now();
  const outcome = await settle(work());
  return { outcome, ms: performance.now() - started };
}

function errorOf(outcome: { ok: boolean }): unknown {
  expect(outcome.ok).toBe(false);
  return (outcome as unknown as { error: unknown }).error;
}

const READS: Array<[string, (res: Response) => Promise<unknown>]> = [
  ['text()', (res) => res.text()],
  ['json()', (res) => res.json()],
  ['arrayBuffer()', (res) => res.arrayBuffer()],
  ['blob()', (res) => res.blob()],
  [
    'the body stream',
    async (res) => {
      const reader = res.body!.getReader();
      for (;;) if ((await reader.read()).done) return;
    },
  ],
];

describe('the deadline and the attempt timeout cover the body of the returned response', () => {
  it.each(READS)('a body that stalls after the headers ends %s with deadline_exceeded', async (_name, read) => {
    const server = await servers.start([{ stallBody: true }]);
    const { fetch } = recordingClient({ deadlineMs: 500 });
    const { outcome, ms } = await timed(async () => read(await fetch(server.url)));
    const error = errorOf(outcome) as FetchTimeoutError;
    expect(error).toBeInstanceOf(FetchTimeoutError);
    expect([error.code, error.timeoutMs]).toEqual(['deadline_exceeded', 500]);
    expect(ms).toBeLessThan(2_000);
    expect(server.hits).toHaveLength(1);
  });

  it.each(READS)('a body trickled at 1 byte / 100 ms ends %s with deadline_exceeded', async (_name, read) => {
    const server = await servers.start([{ trickleMs: 100, body: { padding: 'x'.repeat(100) } }]);
    const { fetch, retries } = recordingClient({ deadlineMs: 500 });
    const { outcome, ms } = await timed(async () => read(await fetch(server.url)));
    expect((errorOf(outcome) as FetchTimeoutError).code).toBe('deadline_exceeded');
    expect(ms).toBeLessThan(2_000);
    expect(server.hits).toHaveLength(1);
    expect(retries).toHaveLength(0);
  });

  it("ends a stalled body with attempt_timeout when the attempt's timeout comes first", async () => {
    const server = await servers.start([{ stallBody: true }]);
    const { fetch } = recordingClient({ timeoutMs: 300, deadlineMs: 60_000 });
    const { outcome, ms } = await timed(async () => (await fetch(server.url)).text());
    const error = errorOf(outcome) as FetchTimeoutError;
    expect([error.code, error.timeoutMs]).toEqual(['attempt_timeout', 300]);
    expect(ms).toBeLessThan(2_000);
    expect(server.hits).toHaveLength(1);
  });

  it('covers the body of a response returned after retries (the last attempt)', async () => {
    const server = await servers.start([{ status: 503 }, { status: 503, stallBody: true }]);
    const { fetch, retries } = recordingClient({ retries: 1, deadlineMs: 500 });
    const { outcome, ms } = await timed(async () => {
      const res = await fetch(server.url);
      expect(res.status).toBe(503);
      return res.text();
    });
    expect((errorOf(outcome) as FetchTimeoutError).code).toBe('deadline_exceeded');
    expect(ms).toBeLessThan(2_000);
    expect(server.hits).toHaveLength(2);
    expect(retries).toHaveLength(1);
  });

  it('leaves a body read in time alone: the timer firing later changes nothing, the connection is reused', async () => {
    const server = await servers.start([{}]);
    const fetch = createFetch({ deadlineMs: 100, timeoutMs: 50, retryBudget: false });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(server.url);
      expect(await res.json()).toEqual({ ok: true, hit: i });
      // Both limits pass: the abort finds the body read and the connection back in the pool.
      await realDelay(150);
    }
    expect(server.hits).toHaveLength(3);
    expect(server.connections).toBe(1);
  });
});

describe('failures that repeating cannot fix', () => {
  it('a redirect loop is one attempt (the redirects fetch follows itself), never retried', async () => {
    const server = await servers.start([{ redirectLoop: true }]);
    const { fetch, retries } = recordingClient({ retries: 3 });
    const { outcome, ms } = await timed(() => fetch(server.url));
    const error = errorOf(outcome) as TypeError;
    expect(error.message).toBe('fetch failed');
    expect((error.cause as Error).message).toBe('redirect count exceeded');
    // Node's fetch follows 20 redirects: 21 requests for the one attempt, where 4 attempts made 84.
    expect(server.hits.length).toBeGreaterThan(1);
    expect(server.hits.length).toBeLessThanOrEqual(21);
    expect(retries).toHaveLength(0);
    expect(ms).toBeLessThan(2_000);
  });

  it('a self-signed certificate fails at once, is never retried, and never opens the breaker', async () => {
    const server = await startTlsServer();
    tlsServers.push(server);
    const states: BreakerStateEvent[] = [];
    const retries: RetryEvent[] = [];
    const fetch = createFetch({
      baseDelayMs: 1,
      maxDelayMs: 2,
      retryBudget: false,
      onRetry: (event) => retries.push(event),
      onBreakerStateChange: (event) => states.push(event),
    });
    for (let i = 1; i <= 12; i++) {
      const { outcome, ms } = await timed(() => fetch(`${server.url}/v1/${i}`));
      const error = errorOf(outcome) as TypeError;
      expect(error).not.toBeInstanceOf(CircuitOpenError);
      expect(error.message).toBe('fetch failed');
      expect((error.cause as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
      expect(ms).toBeLessThan(2_000);
      expect(server.connections).toBe(i);
    }
    expect(retries).toHaveLength(0);
    expect(states).toEqual([]);
    expect(server.requests).toBe(0);
  });

  it('an invalid header value is refused before anything is sent, and not retried', async () => {
    const server = await servers.start([{}]);
    const { fetch, retries } = recordingClient();
    const outcome = await settle(fetch(server.url, { method: 'POST', headers: { 'x-bad': 'a\nb' }, body: 'x' }));
    expect(errorOf(outcome)).toBeInstanceOf(TypeError);
    expect(server.hits).toHaveLength(0);
    expect(retries).toHaveLength(0);
  });
});

describe('breakers', () => {
  const breakerOptions = { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeout: 60_000 };

  it('shared by two wrappers: once one opens an origin, the other fails fast on it too', async () => {
    const down = await servers.start([{ status: 503 }]);
    const states: BreakerStateEvent[] = [];
    const breakers = createBreakers({ breaker: breakerOptions, retryBudget: false, onBreakerStateChange: (e) => states.push(e) });
    const first = createFetch({ breakers, retries: 0 });
    const second = createFetch({ breakers, retries: 0, timeoutMs: 1_000 });
    for (let i = 0; i < 4; i++) expect((await first(down.url)).status).toBe(503);
    expect(states.map((event) => event.state)).toEqual(['open']);
    const { outcome, ms } = await timed(() => second(down.url));
    expect(errorOf(outcome)).toBeInstanceOf(CircuitOpenError);
    expect((errorOf(outcome) as CircuitOpenError).code).toBe('circuit_open');
    expect(ms).toBeLessThan(2_000);
    expect(down.hits).toHaveLength(4);
    expect(breakers.size).toBe(1);
  });

  it('without a shared registry, each wrapper keeps its own breakers (the second still sends)', async () => {
    const down = await servers.start([{ status: 503 }]);
    const first = createFetch({ breaker: breakerOptions, retryBudget: false, retries: 0 });
    const second = createFetch({ breaker: breakerOptions, retryBudget: false, retries: 0 });
    for (let i = 0; i < 4; i++) await first(down.url);
    expect((await second(down.url)).status).toBe(503);
    expect(down.hits).toHaveLength(5);
  });

  it('keeps an open breaker under eviction pressure: closed ones are evicted first', async () => {
    const down = await servers.start([{ status: 503 }]);
    const ups = await Promise.all(Array.from({ length: 5 }, () => servers.start([{}])));
    const fetch = createFetch({ breaker: breakerOptions, retryBudget: false, retries: 0, maxBreakers: 2 });
    for (let i = 0; i < 4; i++) await fetch(down.url);
    const hits = down.hits.length;
    for (let round = 0; round < 3; round++) for (const up of ups) expect((await fetch(up.url)).status).toBe(200);
    const { outcome, ms } = await timed(() => fetch(down.url));
    expect(errorOf(outcome)).toBeInstanceOf(CircuitOpenError);
    expect(ms).toBeLessThan(2_000);
    expect(down.hits).toHaveLength(hits);
  });

  it('when every breaker is open, the bound still holds: the one opened first is dropped for a new origin', async () => {
    const downs = await Promise.all(Array.from({ length: 3 }, () => servers.start([{ status: 503 }])));
    const breakers = createBreakers({ breaker: breakerOptions, retryBudget: false, maxBreakers: 2 });
    const fetch = createFetch({ breakers, retries: 0 });
    const [oldest, younger, newest] = downs as [(typeof downs)[0], (typeof downs)[0], (typeof downs)[0]];
    for (const down of [oldest, younger]) for (let i = 0; i < 4; i++) await fetch(down.url);
    expect(errorOf(await settle(fetch(younger.url)))).toBeInstanceOf(CircuitOpenError);
    // A third origin needs a slot: the breaker opened first (the oldest origin's) is dropped.
    expect((await fetch(newest.url)).status).toBe(503);
    expect(breakers.size).toBe(2);
    expect(errorOf(await settle(fetch(younger.url)))).toBeInstanceOf(CircuitOpenError);
    expect(younger.hits).toHaveLength(4);
    // The dropped origin starts again with a closed breaker: its next call reaches it.
    expect((await fetch(oldest.url)).status).toBe(503);
    expect(oldest.hits).toHaveLength(5);
    expect(breakers.size).toBe(2);
  });

  it('refuses breaker options beside a shared registry, and a registry not made by createBreakers', () => {
    const breakers = createBreakers();
    for (const name of ['breaker', 'maxBreakers', 'retryBudget', 'onBreakerStateChange']) {
      const value = name === 'maxBreakers' ? 5 : name === 'onBreakerStateChange' ? () => {} : false;
      expect(() => createFetch({ breakers, [name]: value })).toThrow(
        new RegExp(`options\\.${name} belongs to the shared registry`),
      );
    }
    expect(() => createFetch({ breakers: {} as never })).toThrow(/options\.breakers must be a registry made by createBreakers/);
    expect(() => createBreakers({ maxBreaker: 2 } as never)).toThrow(/createBreakers: unknown option "maxBreaker"/);
    expect(() => createBreakers({ maxBreakers: 0 })).toThrow(/createBreakers: options\.maxBreakers must be a positive integer/);
    expect(() => createBreakers({ breaker: { resetTimeout: -1 } })).toThrow(/createBreakers: options\.breaker\.resetTimeout/);
  });
});

describe('Retry-After and a breaker that opens during the wait', () => {
  it('reads a 16-digit Retry-After as a delay over the cap: the response is returned at once', async () => {
    const server = await servers.start([{ status: 503, headers: { 'retry-after': '9999999999999999' } }, {}]);
    const { fetch, retries } = recordingClient({ breaker: false });
    const { outcome, ms } = await timed(() => fetch(server.url));
    expect(outcome.ok).toBe(true);
    expect((outcome as { value: Response }).value.status).toBe(503);
    expect(server.hits).toHaveLength(1);
    expect(retries).toHaveLength(0);
    expect(ms).toBeLessThan(2_000);
  });

  it('a call whose breaker opened while it waited ends with its 503 (body readable), not circuit_open', async () => {
    const server = await servers.start((hit) =>
      hit.url === '/waits'
        ? { status: 503, headers: { 'retry-after': '1' }, body: { message: 'Busy.', error: 'service_unavailable' } }
        : { status: 503 },
    );
    const fetch = createFetch({
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 60_000 },
      retryBudget: false,
      deadlineMs: 10_000,
    });
    const waiting = timed(() => fetch(`${server.url}/waits`));
    await server.waitForHits(1);
    // Another call fails too: two failures of two calls open the breaker while the first call waits.
    expect((await fetch(`${server.url}/other`, { bulwark: { retries: 0 } })).status).toBe(503);
    expect(errorOf(await settle(fetch(`${server.url}/third`)))).toBeInstanceOf(CircuitOpenError);
    const { outcome, ms } = await waiting;
    expect(outcome.ok).toBe(true);
    const res = (outcome as { value: Response }).value;
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ message: 'Busy.', error: 'service_unavailable' });
    expect(server.hits.map((hit) => hit.url)).toEqual(['/waits', '/other']);
    expect(ms).toBeLessThan(5_000);
  });
});
