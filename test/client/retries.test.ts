import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { createFetch } from '../../src/client/index.js';
import { backoffDelay } from '../../src/client/retry.js';
import { realDelay, recordingClient, serverPool, settle, until, UUID } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());
afterEach(() => {
  vi.useRealTimers();
});

/** A wrapper without budget or breaker, so each test sees retries alone. */
function client(extra: Parameters<typeof createFetch>[0] = {}) {
  return recordingClient({ breaker: false, ...extra });
}

describe('idempotency keys', () => {
  it('sends the same key on every attempt of a POST and a new key per call', async () => {
    const server = await servers.start([{ status: 503 }, { status: 502 }, { status: 200 }]);
    const { fetch } = client();
    const res = await fetch(`${server.url}/send`, { method: 'POST', body: '{"to":"+1"}' });
    expect(res.status).toBe(200);
    expect(server.hits).toHaveLength(3);
    const keys = server.hits.map((hit) => hit.headers['idempotency-key']);
    expect(keys[0]).toMatch(UUID);
    expect(new Set(keys).size).toBe(1);

    await fetch(`${server.url}/send`, { method: 'POST', body: '{"to":"+1"}' });
    expect(server.hits[3]?.headers['idempotency-key']).toMatch(UUID);
    expect(server.hits[3]?.headers['idempotency-key']).not.toBe(keys[0]);
  });

  it("never replaces the caller's key, and keys PATCH but not GET, PUT or DELETE", async () => {
    const server = await servers.start([{ status: 500 }, { status: 200 }]);
    const { fetch } = client();
    await fetch(server.url, { method: 'POST', headers: { 'Idempotency-Key': 'order-42' }, body: 'x' });
    expect(server.hits.map((hit) => hit.headers['idempotency-key'])).toEqual(['order-42', 'order-42']);

    server.plan([{}]);
    await fetch(server.url, { method: 'PATCH', body: 'x' });
    expect(server.hits[2]?.headers['idempotency-key']).toMatch(UUID);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      await fetch(server.url, { method });
      expect(server.hits.at(-1)?.headers['idempotency-key'], method).toBeUndefined();
    }
  });

  it('uses the configured header, and sends no key when keys are disabled', async () => {
    const server = await servers.start([{}]);
    await client({ idempotencyHeader: 'X-Request-Key' }).fetch(server.url, { method: 'POST', body: 'x' });
    expect(server.hits[0]?.headers['x-request-key']).toMatch(UUID);
    await client({ idempotencyHeader: false }).fetch(server.url, { method: 'POST', body: 'x' });
    expect(server.hits[1]?.headers['idempotency-key']).toBeUndefined();
  });
});

describe('what is retried', () => {
  it('retries 5xx, 408, 429 and a connection reset after the request was read', async () => {
    const server = await servers.start([{ status: 500 }, { status: 408 }, { status: 429 }, { reset: true }, { status: 503 }, {}]);
    const { fetch, retries } = client({ retries: 5 });
    const res = await fetch(server.url, { method: 'POST', body: 'x' });
    expect(res.status).toBe(200);
    expect(server.hits).toHaveLength(6);
    expect(retries.map((event) => event.reason)).toEqual(['status', 'status', 'status', 'network', 'status']);
    expect(retries.map((event) => event.retry)).toEqual([1, 2, 3, 4, 5]);
  });

  it.each([400, 401, 402, 403, 404, 422])('never retries %i and returns it untouched', async (status) => {
    const server = await servers.start([{ status, body: { message: 'No.', error: 'some_code' } }]);
    const { fetch, retries } = client();
    const res = await fetch(server.url, { method: 'POST', body: 'x' });
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ message: 'No.', error: 'some_code' });
    expect(server.hits).toHaveLength(1);
    expect(retries).toHaveLength(0);
  });

  it('retries a 409 idempotency_conflict after its Retry-After with the same key', async () => {
    const conflict = { message: 'Still processing.', error: 'idempotency_conflict' };
    const server = await servers.start([{ status: 409, headers: { 'retry-after': '0' }, body: conflict }, { status: 201 }]);
    const { fetch, retries } = client();
    const res = await fetch(server.url, { method: 'POST', body: 'x' });
    expect(res.status).toBe(201);
    expect(server.hits).toHaveLength(2);
    expect(server.hits[0]?.headers['idempotency-key']).toBe(server.hits[1]?.headers['idempotency-key']);
    expect(retries[0]).toMatchObject({ status: 409, fromRetryAfter: true, delayMs: 0 });
  });

  it('returns any other 409 without retrying, its body still readable', async () => {
    const server = await servers.start([{ status: 409, body: { message: 'Exists.', error: 'already_exists' } }]);
    const { fetch } = client();
    const res = await fetch(server.url, { method: 'POST', body: 'x' });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ message: 'Exists.', error: 'already_exists' });
    expect(server.hits).toHaveLength(1);
  });

  it('returns the last response when the retries are spent', async () => {
    const server = await servers.start([{ status: 503 }]);
    const res = await client({ retries: 2 }).fetch(server.url);
    expect(res.status).toBe(503);
    expect(server.hits).toHaveLength(3);
  });

  it('rethrows the network error of the last attempt when the retries are spent', async () => {
    const server = await servers.start([{ reset: true }]);
    const result = await settle(client({ retries: 1 }).fetch(server.url));
    expect(result.ok).toBe(false);
    expect(String((result as { error: unknown }).error)).toMatch(/fetch failed/);
    expect(server.hits).toHaveLength(2);
  });

  it('does not retry a POST without a key once it may have reached the server', async () => {
    const server = await servers.start([{ reset: true }]);
    const { fetch, retries } = client({ idempotencyHeader: false });
    const reset = await settle(fetch(server.url, { method: 'POST', body: 'charge' }));
    expect(reset.ok).toBe(false);
    expect(server.hits).toHaveLength(1);

    server.plan([{ status: 503 }]);
    const res = await fetch(server.url, { method: 'POST', body: 'charge' });
    expect(res.status).toBe(503);
    expect(server.hits).toHaveLength(2);
    expect(retries).toHaveLength(0);
  });

  it('retries a POST without a key when the connection was refused (nothing was sent)', async () => {
    const gone = await servers.start();
    await gone.close();
    const { fetch, retries } = client({ idempotencyHeader: false, retries: 2 });
    const result = await settle(fetch(gone.url, { method: 'POST', body: 'charge' }));
    expect(result.ok).toBe(false);
    expect(retries.map((event) => event.reason)).toEqual(['network', 'network']);
  });

  it('does not retry when fetch refuses its arguments', async () => {
    const server = await servers.start();
    const { fetch, retries } = client();
    const result = await settle(fetch(server.url, { method: 'GET', body: 'a body on a GET' }));
    expect(result.ok).toBe(false);
    expect((result as { error: unknown }).error).toBeInstanceOf(TypeError);
    expect(retries).toHaveLength(0);
    expect(server.hits).toHaveLength(0);
  });
});

describe('Retry-After', () => {
  const fake = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });

  it('waits exactly the seconds it gives, without jitter', async () => {
    const server = await servers.start([{ status: 429, headers: { 'retry-after': '2' } }, {}]);
    fake();
    const { fetch, retries } = client({ baseDelayMs: 1_000, maxDelayMs: 10_000 });
    const call = fetch(server.url);
    await until(() => retries.length === 1);
    expect(retries[0]).toMatchObject({ delayMs: 2_000, fromRetryAfter: true, status: 429 });
    await vi.advanceTimersByTimeAsync(1_999);
    await realDelay(30);
    expect(server.hits).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await call).status).toBe(200);
    expect(server.hits).toHaveLength(2);
  });

  it('waits until an HTTP-date', async () => {
    fake();
    const at = new Date(Date.now() + 3_000).toUTCString();
    const server = await servers.start([{ status: 503, headers: { 'retry-after': at } }, {}]);
    const { fetch, retries } = client();
    const call = fetch(server.url);
    await until(() => retries.length === 1);
    // The date has a resolution of one second, so the wait is 3 s minus this second's elapsed part.
    const expected = Date.parse(at) - Date.now();
    expect(retries[0]).toMatchObject({ delayMs: expected, fromRetryAfter: true });
    expect(expected).toBeGreaterThan(2_000);
    await vi.advanceTimersByTimeAsync(expected - 1);
    await realDelay(30);
    expect(server.hits).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await call).status).toBe(200);
  });

  it('retries at once for a date in the past', async () => {
    const server = await servers.start([{ status: 503, headers: { 'retry-after': 'Sun, 06 Nov 1994 08:49:37 GMT' } }, {}]);
    const { fetch, retries } = client();
    expect((await fetch(server.url)).status).toBe(200);
    expect(retries[0]).toMatchObject({ delayMs: 0, fromRetryAfter: true });
  });

  it.each(['soon', '-1', '1.5', '', '12abc', 'Sun, 31 Feb 2026 08:49:37 GMT'])(
    'falls back to backoff for the malformed value %j',
    async (value) => {
      const server = await servers.start([{ status: 503, headers: { 'retry-after': value } }, {}]);
      const { fetch, retries } = client({ baseDelayMs: 50, maxDelayMs: 50 });
      expect((await fetch(server.url)).status).toBe(200);
      expect(retries[0]?.fromRetryAfter).toBe(false);
      expect(retries[0]?.delayMs).toBeGreaterThanOrEqual(0);
      expect(retries[0]?.delayMs).toBeLessThan(50);
    },
  );

  it.each(['120', new Date(Date.now() + 120_000).toUTCString()])(
    'returns the response at once when %j is above maxRetryAfterMs',
    async (value) => {
      const server = await servers.start([{ status: 429, headers: { 'retry-after': value } }, {}]);
      const { fetch, retries } = client({ maxRetryAfterMs: 60_000 });
      // A sleep of two minutes would outlast the test's timeout.
      const res = await fetch(server.url);
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe(value);
      expect(server.hits).toHaveLength(1);
      expect(retries).toHaveLength(0);
    },
  );
});

describe('backoff', () => {
  it('keeps every delay within [0, min(maxDelayMs, baseDelayMs * 2^n))', async () => {
    const server = await servers.start([{ status: 503 }]);
    const { fetch, retries } = client({ retries: 8, baseDelayMs: 2, maxDelayMs: 40 });
    await fetch(server.url);
    expect(retries).toHaveLength(8);
    retries.forEach((event, n) => {
      expect(event.fromRetryAfter).toBe(false);
      expect(event.delayMs).toBeGreaterThanOrEqual(0);
      expect(event.delayMs).toBeLessThan(Math.min(40, 2 * 2 ** n));
    });
  });

  it('bounds full jitter for any retry number, base, cap and random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retry, base, extra, random) => {
          const cap = base + extra;
          const delay = backoffDelay(retry, base, cap, () => random);
          const ceiling = base === 0 ? 0 : Math.min(cap, base * 2 ** retry);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(Math.max(0, ceiling - 1));
        },
      ),
    );
  });
});
