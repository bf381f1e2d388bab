/**
 * Per-call options, `init.bulwark`: merged over the wrapper's options, validated at each call (a bad
 * member rejects the call and nothing is sent), and never passed on to the underlying fetch.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFetch, type FetchLike, FetchTimeoutError } from '../../src/client/index.js';
import { recordingClient, serverPool, settle, UUID } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

function client(extra: Parameters<typeof createFetch>[0] = {}) {
  return recordingClient({ breaker: false, ...extra });
}

describe('init.bulwark', () => {
  it('retries: 0 sends the call once, whatever the wrapper allows', async () => {
    const server = await servers.start([{ status: 503 }]);
    const { fetch, retries } = client({ retries: 3 });
    const res = await fetch(server.url, { method: 'POST', body: 'x', bulwark: { retries: 0 } });
    expect(res.status).toBe(503);
    expect(server.hits).toHaveLength(1);
    expect(retries).toHaveLength(0);
    // The next call without it has the wrapper's retries again.
    await fetch(server.url);
    expect(server.hits).toHaveLength(5);
  });

  it('is never passed on to the underlying fetch, for http URLs and others alike', async () => {
    const server = await servers.start([{}]);
    const seen: Array<RequestInit | undefined> = [];
    const spy: FetchLike = (input, init) => {
      seen.push(init);
      return fetch(input, init);
    };
    const wrapped = createFetch({ fetch: spy, breaker: false });
    await wrapped(server.url, { bulwark: { retries: 0 } });
    await wrapped('data:text/plain,hi', { bulwark: { retries: 0 } });
    expect(seen).toHaveLength(2);
    for (const init of seen) expect(init !== undefined && 'bulwark' in init).toBe(false);
  });

  it('timeoutMs and deadlineMs apply to this call, and their errors name the per-call limit', async () => {
    const server = await servers.start([{ hang: true }]);
    const { fetch } = client({ timeoutMs: 60_000, deadlineMs: 60_000 });
    const timedOut = await settle(fetch(server.url, { bulwark: { timeoutMs: 100, retries: 0 } }));
    const attempt = (timedOut as { error: FetchTimeoutError }).error;
    expect(attempt).toBeInstanceOf(FetchTimeoutError);
    expect([attempt.code, attempt.timeoutMs]).toEqual(['attempt_timeout', 100]);
    const started = performance.now();
    const late = await settle(fetch(server.url, { bulwark: { deadlineMs: 300 } }));
    const deadline = (late as { error: FetchTimeoutError }).error;
    expect([deadline.code, deadline.timeoutMs]).toEqual(['deadline_exceeded', 300]);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('maxRetryAfterMs: a Retry-After over this call\'s cap returns the response at once', async () => {
    const server = await servers.start([{ status: 503, headers: { 'retry-after': '1' } }, {}]);
    const { fetch, retries } = client();
    const res = await fetch(server.url, { bulwark: { maxRetryAfterMs: 500 } });
    expect(res.status).toBe(503);
    expect(server.hits).toHaveLength(1);
    expect(retries).toHaveLength(0);
  });

  it('idempotencyKey sends the given key with every attempt, whatever the method', async () => {
    const server = await servers.start([{ status: 503 }, {}]);
    const { fetch } = client();
    expect((await fetch(server.url, { method: 'POST', body: 'x', bulwark: { idempotencyKey: 'order-42' } })).status).toBe(200);
    server.plan([{}]);
    await fetch(server.url, { bulwark: { idempotencyKey: 'read-7' } });
    expect(server.hits.map((hit) => hit.headers['idempotency-key'])).toEqual(['order-42', 'order-42', 'read-7']);
    // The same key in the headers is fine; another key is refused before anything is sent.
    await fetch(server.url, { method: 'POST', body: 'x', headers: { 'Idempotency-Key': 'k1' }, bulwark: { idempotencyKey: 'k1' } });
    expect(server.hits).toHaveLength(4);
    const clash = await settle(
      fetch(server.url, { method: 'POST', body: 'x', headers: { 'Idempotency-Key': 'k1' }, bulwark: { idempotencyKey: 'k2' } }),
    );
    expect((clash as { error: Error }).error).toBeInstanceOf(TypeError);
    expect((clash as { error: Error }).error.message).toMatch(/init\.bulwark\.idempotencyKey differs from the Idempotency-Key header/);
    expect(server.hits).toHaveLength(4);
  });

  it('idempotencyKey: false sends no key, so a POST that may have reached the server is not retried', async () => {
    const server = await servers.start([{ reset: true }, {}]);
    const { fetch, retries } = client();
    const result = await settle(fetch(server.url, { method: 'POST', body: 'charge', bulwark: { idempotencyKey: false } }));
    expect(result.ok).toBe(false);
    expect(server.hits).toHaveLength(1);
    expect(server.hits[0]?.headers['idempotency-key']).toBeUndefined();
    expect(retries).toHaveLength(0);
    // Without it the wrapper keys the POST, and retries it.
    expect((await fetch(server.url, { method: 'POST', body: 'charge' })).status).toBe(200);
    expect(server.hits[1]?.headers['idempotency-key']).toMatch(UUID);
  });

  const bad: Array<[unknown, RegExp]> = [
    [{ retrys: 0 }, /unknown per-call option init\.bulwark\.retrys/],
    [{ timeout: 100 }, /unknown per-call option init\.bulwark\.timeout /],
    [{ retries: -1 }, /init\.bulwark\.retries must be a non-negative integer/],
    [{ retries: 1.5 }, /init\.bulwark\.retries/],
    [{ timeoutMs: 0 }, /init\.bulwark\.timeoutMs must be greater than 0/],
    [{ deadlineMs: '1s' }, /init\.bulwark\.deadlineMs must be a number of milliseconds/],
    [{ maxRetryAfterMs: Number.POSITIVE_INFINITY }, /init\.bulwark\.maxRetryAfterMs/],
    [{ idempotencyKey: '' }, /init\.bulwark\.idempotencyKey must be false or 1 to 255 visible ASCII characters/],
    [{ idempotencyKey: 'a b' }, /init\.bulwark\.idempotencyKey/],
    [{ idempotencyKey: 'k'.repeat(256) }, /init\.bulwark\.idempotencyKey/],
    [{ idempotencyKey: true }, /init\.bulwark\.idempotencyKey/],
    [5, /init\.bulwark must be an object of per-call options/],
    [null, /init\.bulwark must be an object/],
  ];
  it.each(bad)('rejects the call with a TypeError for %j, and sends nothing', async (bulwark, message) => {
    const server = await servers.start([{}]);
    const { fetch } = client();
    const result = await settle(fetch(server.url, { method: 'POST', body: 'x', bulwark } as never));
    expect(result.ok).toBe(false);
    const error = (result as { error: Error }).error;
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toMatch(message);
    expect(server.hits).toHaveLength(0);
  });

  it('refuses a key for a wrapper that sends none', async () => {
    const server = await servers.start([{}]);
    const fetch = createFetch({ idempotencyHeader: false });
    const result = await settle(fetch(server.url, { bulwark: { idempotencyKey: 'k' } }));
    expect((result as { error: Error }).error.message).toMatch(/idempotencyKey must be false when the wrapper sends no keys/);
    expect(server.hits).toHaveLength(0);
  });

  it('is typed: a misspelt member of a literal is a type error', () => {
    const fetch = createFetch();
    const typed = () => {
      // @ts-expect-error `retrys` is not a per-call option.
      void fetch('http://127.0.0.1:9/', { bulwark: { retrys: 0 } });
      // @ts-expect-error `retries` takes a number.
      void fetch('http://127.0.0.1:9/', { bulwark: { retries: '0' } });
      void fetch('http://127.0.0.1:9/', { method: 'POST', bulwark: { retries: 0, idempotencyKey: false, deadlineMs: 1 } });
    };
    expect(typeof typed).toBe('function');
  });
});
