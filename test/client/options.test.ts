import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import { ApiError, type BulwarkRequestInit, type CreateFetchOptions, createFetch, isApiError } from '../../src/client/index.js';
import { serverPool } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

describe('createFetch options', () => {
  it('returns a function that goes wherever fetch goes, and takes per-call options as init.bulwark', () => {
    const wrapped = createFetch();
    expectTypeOf(wrapped).toExtend<typeof globalThis.fetch>();
    expectTypeOf(wrapped).parameter(1).toEqualTypeOf<BulwarkRequestInit | undefined>();
    expectTypeOf<{ method: 'POST'; bulwark: { retries: 0 } }>().toExtend<BulwarkRequestInit>();
    const takesFetch = (f: typeof globalThis.fetch) => f;
    expect(takesFetch(wrapped)).toBe(wrapped);
  });

  const bad: Array<[CreateFetchOptions | Record<string, unknown>, RegExp]> = [
    [{ retries: -1 }, /options\.retries must be a non-negative integer/],
    [{ retries: 1.5 }, /options\.retries/],
    [{ baseDelayMs: Number.NaN }, /options\.baseDelayMs/],
    [{ baseDelayMs: 500, maxDelayMs: 100 }, /options\.maxDelayMs must be at least options\.baseDelayMs/],
    [{ maxRetryAfterMs: -5 }, /options\.maxRetryAfterMs/],
    [{ maxRetryAfterMs: Number.POSITIVE_INFINITY }, /options\.maxRetryAfterMs/],
    [{ timeoutMs: 0 }, /options\.timeoutMs/],
    [{ deadlineMs: '5s' }, /options\.deadlineMs/],
    [{ fetch: 'fetch' }, /options\.fetch must be a function/],
    [{ retryBudget: { ratio: -0.1 } }, /options\.retryBudget\.ratio/],
    [{ retryBudget: { percent: 10 } }, /options\.retryBudget\.percent/],
    [{ retryBudget: { windowMs: 1 } }, /options\.retryBudget\.windowMs/],
    [{ breaker: { errorThresholdPercentage: 0 } }, /options\.breaker\.errorThresholdPercentage/],
    [{ breaker: { resetTimeout: -1 } }, /options\.breaker\.resetTimeout/],
    [{ breaker: { timeout: 1000 } }, /options\.breaker\.timeout is not supported; use options\.timeoutMs/],
    [{ breaker: { cache: true } }, /options\.breaker\.cache/],
    [{ breaker: 'on' }, /options\.breaker/],
    [{ maxBreakers: 0 }, /options\.maxBreakers must be a positive integer/],
    [{ onRetry: 1 }, /options\.onRetry must be a function/],
    [{ onBreakerStateChange: {} }, /options\.onBreakerStateChange must be a function/],
    [{ idempotencyHeader: 'bad header' }, /options\.idempotencyHeader/],
    [{ retry: 3 }, /unknown option "retry"/],
  ];
  it.each(bad)('refuses %j with a TypeError naming the option', (options, message) => {
    expect(() => createFetch(options as CreateFetchOptions)).toThrow(TypeError);
    expect(() => createFetch(options as CreateFetchOptions)).toThrow(message);
  });

  it('accepts Infinity for timeoutMs and deadlineMs, and 0 retries', async () => {
    const server = await servers.start([{ status: 503 }]);
    const wrapped = createFetch({ timeoutMs: Number.POSITIVE_INFINITY, deadlineMs: Number.POSITIVE_INFINITY, retries: 0 });
    expect((await wrapped(server.url)).status).toBe(503);
    expect(server.hits).toHaveLength(1);
  });

  it('ignores hooks that throw', async () => {
    const server = await servers.start([{ status: 503 }, {}]);
    const wrapped = createFetch({
      baseDelayMs: 1,
      onRetry: () => {
        throw new Error('hook bug');
      },
      onBreakerStateChange: () => {
        throw new Error('hook bug');
      },
    });
    expect((await wrapped(server.url)).status).toBe(200);
  });

  it('sends through the given fetch, looked up at each call by default', async () => {
    const seen: string[] = [];
    const wrapped = createFetch({
      fetch: async (input) => {
        seen.push(String(input));
        return new Response('stub');
      },
    });
    expect(await (await wrapped('https://api.example.com/v1/x')).text()).toBe('stub');
    expect(seen).toEqual(['https://api.example.com/v1/x']);
  });

  it('passes non-http URLs straight to fetch', async () => {
    const wrapped = createFetch();
    expect(await (await wrapped('data:text/plain,hello')).text()).toBe('hello');
    await expect(wrapped('not a url')).rejects.toThrow(TypeError);
  });

  it('re-exports ApiError for reading error bodies', async () => {
    const server = await servers.start([{ status: 402, body: { message: 'Top up.', error: 'insufficient_balance' } }]);
    const res = await createFetch()(server.url, { method: 'POST', body: '{}' });
    const err = await ApiError.fromResponse(res);
    expect(isApiError(err)).toBe(true);
    expect([err.code, err.status, err.message, err.retryable]).toEqual(['insufficient_balance', 402, 'Top up.', false]);
  });
});
