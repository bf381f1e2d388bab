import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { type createFetch, FetchTimeoutError } from '../../src/client/index.js';
import { realDelay, recordingClient, serverPool, settle, until } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());
afterEach(() => {
  vi.useRealTimers();
});

function client(extra: Parameters<typeof createFetch>[0] = {}) {
  return recordingClient({ maxDelayMs: 2, ...extra });
}

describe("the caller's AbortSignal", () => {
  it('rejects at once with its reason when it was aborted before the call; nothing is sent', async () => {
    const server = await servers.start();
    const controller = new AbortController();
    const reason = new Error('user left');
    controller.abort(reason);
    const result = await settle(client().fetch(server.url, { signal: controller.signal }));
    expect(result).toEqual({ ok: false, error: reason });
    expect(server.hits).toHaveLength(0);
  });

  it('aborts a request in flight and rejects with its reason', async () => {
    const server = await servers.start([{ hang: true }]);
    const controller = new AbortController();
    const { fetch, retries } = client();
    const call = settle(fetch(server.url, { signal: controller.signal }));
    await server.waitForHits(1);
    const reason = new Error('cancelled');
    controller.abort(reason);
    expect(await call).toEqual({ ok: false, error: reason });
    await realDelay(30);
    expect(server.hits).toHaveLength(1);
    expect(retries).toHaveLength(0);
  });

  it('aborts a backoff wait: the timer is cleared and nothing more is sent', async () => {
    const server = await servers.start([{ status: 503, headers: { 'retry-after': '30' } }, {}]);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const controller = new AbortController();
    const { fetch, retries } = client();
    const call = settle(fetch(server.url, { signal: controller.signal }));
    await until(() => retries.length === 1);
    const timers = vi.getTimerCount();
    expect(timers).toBeGreaterThan(0);
    controller.abort();
    const result = await call;
    expect(result.ok).toBe(false);
    expect((result as { error: unknown }).error).toBe(controller.signal.reason);
    expect((controller.signal.reason as Error).name).toBe('AbortError');
    expect(vi.getTimerCount()).toBe(timers - 1);
    await vi.advanceTimersByTimeAsync(60_000);
    await realDelay(30);
    expect(server.hits).toHaveLength(1);
  });

  it('takes the signal of a Request input', async () => {
    const server = await servers.start([{ hang: true }]);
    const controller = new AbortController();
    const call = settle(client().fetch(new Request(server.url, { signal: controller.signal })));
    await server.waitForHits(1);
    controller.abort('stop');
    expect(await call).toEqual({ ok: false, error: 'stop' });
  });

  it('still aborts the body of the returned response, as fetch does', async () => {
    const server = await servers.start([{}]);
    const controller = new AbortController();
    const res = await client().fetch(server.url, { signal: controller.signal });
    controller.abort(new Error('late'));
    const ours = await res.text().then(() => undefined, (err: Error) => err);
    const plainController = new AbortController();
    const plain = await fetch(server.url, { signal: plainController.signal });
    plainController.abort(new Error('late'));
    const theirs = await plain.text().then(() => undefined, (err: Error) => err);
    // Node versions differ in what the body rejects with (an AbortError, or the signal's reason): match fetch.
    expect(theirs).toBeInstanceOf(Error);
    expect(ours).toBeInstanceOf(Error);
    expect([ours!.name, ours!.message]).toEqual([theirs!.name, theirs!.message]);
  });
});

describe('timeouts', () => {
  it('sets no per-attempt limit by default, as fetch: a slow answer is waited for, not aborted and retried', async () => {
    const server = await servers.start([{ delayMs: 1_500 }, {}]);
    const { fetch, retries } = client();
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(server.hits).toHaveLength(1);
    expect(retries).toHaveLength(0);
  });

  it('times out a slow attempt and retries it', async () => {
    const server = await servers.start([{ hang: true }, {}]);
    const { fetch, retries } = client({ timeoutMs: 100 });
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(server.hits).toHaveLength(2);
    expect(retries[0]?.reason).toBe('timeout');
    expect(retries[0]?.error).toBeInstanceOf(FetchTimeoutError);
  });

  it('gives each attempt its own signal: a slow call never aborts another', async () => {
    const server = await servers.start((hit) => (hit.url === '/slow' ? { hang: true } : { delayMs: 50 }));
    const { fetch } = client({ timeoutMs: 150, retries: 0 });
    const [slow, fast] = await Promise.all([settle(fetch(`${server.url}/slow`)), settle(fetch(`${server.url}/fast`))]);
    expect(slow.ok).toBe(false);
    expect((slow as { error: FetchTimeoutError }).error.code).toBe('attempt_timeout');
    expect(fast.ok).toBe(true);
  });

  it('rejects with attempt_timeout when every attempt timed out', async () => {
    const server = await servers.start([{ hang: true }]);
    const result = await settle(client({ timeoutMs: 50, retries: 1 }).fetch(server.url));
    const error = (result as { error: FetchTimeoutError }).error;
    expect(error).toBeInstanceOf(FetchTimeoutError);
    expect([error.code, error.name, error.timeoutMs]).toEqual(['attempt_timeout', 'TimeoutError', 50]);
    expect(server.hits).toHaveLength(2);
  });

  it('does not retry a timed-out POST without a key: it may have reached the server', async () => {
    const server = await servers.start([{ hang: true }, {}]);
    const result = await settle(
      client({ timeoutMs: 50, idempotencyHeader: false }).fetch(server.url, { method: 'POST', body: 'x' }),
    );
    expect((result as { error: FetchTimeoutError }).error.code).toBe('attempt_timeout');
    await realDelay(30);
    expect(server.hits).toHaveLength(1);
  });

  it('ends the call at the deadline, also in the middle of a retry', async () => {
    const server = await servers.start([{ status: 503 }, { hang: true }]);
    const result = await settle(client({ timeoutMs: 10_000, deadlineMs: 200 }).fetch(server.url));
    const error = (result as { error: FetchTimeoutError }).error;
    expect(error).toBeInstanceOf(FetchTimeoutError);
    expect([error.code, error.timeoutMs]).toEqual(['deadline_exceeded', 200]);
    expect(server.hits).toHaveLength(2);
  });

  it('counts the backoff in the deadline: a wait that would end past it is not slept', async () => {
    const server = await servers.start([{ status: 503, headers: { 'retry-after': '5' } }, {}]);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { fetch, retries } = client({ deadlineMs: 3_000 });
    const res = await fetch(server.url);
    expect(res.status).toBe(503);
    expect(retries).toHaveLength(0);
    expect(server.hits).toHaveLength(1);
  });
});
