import { expect } from 'vitest';
import { type AppSpec, matrix, nativeHeader, type Variant } from '../support/matrix.js';
import { parseList } from '../throttle/structured-fields.js';

const ok = { method: 'GET' as const, path: '/v1/messages', handler: () => ({ json: { ok: true } }) };

matrix(
  'rateLimit: default key, headers on every response, 429 with Retry-After',
  { guards: [{ kind: 'rateLimit', options: { limit: 2, windowMs: 60_000 } }], routes: [ok] },
  async ({ send }) => [await send({ path: '/v1/messages' }), await send({ path: '/v1/messages' }), await send({ path: '/v1/messages' })],
  ([first, second, third]) => {
    expect(first!.status).toBe(200);
    expect(first!.headers['ratelimit-policy']).toBe('"2-in-60s";q=2;w=60');
    expect(first!.headers.ratelimit).toBe('"2-in-60s";r=1;t=30');
    expect(second!.headers.ratelimit).toBe('"2-in-60s";r=0;t=30'); // one more unit in 30 s (the bucket is full in 60 s)
    expect(third!.status).toBe(429);
    expect(third!.headers['retry-after']).toBe('30');
    expect(third!.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(third!.body)).toEqual({ message: 'Too many requests. Wait for Retry-After seconds.', error: 'throttled' });
    const [policy] = parseList(third!.headers['ratelimit-policy']!);
    expect(policy).toEqual({ value: '2-in-60s', params: { q: 2, w: 60 } });
    const [state] = parseList(third!.headers.ratelimit!);
    expect(state!.params).toEqual({ r: 0, t: 30 }); // t: until this request would be admitted, as Retry-After
  },
);

matrix(
  'rateLimit: peers are told apart by address',
  { guards: [{ kind: 'rateLimit', options: { limit: 1, windowMs: 60_000 } }], routes: [ok] },
  async ({ send }) => [
    await send({ path: '/v1/messages', localAddress: '127.0.0.2' }),
    await send({ path: '/v1/messages', localAddress: '127.0.0.2' }),
    await send({ path: '/v1/messages', localAddress: '127.0.0.3' }),
  ],
  (results) => {
    expect(results.map((r) => r.status)).toEqual([200, 429, 200]);
  },
);

const keyed = (variant: Variant) => {
  const header = nativeHeader(variant);
  return {
    limit: 5,
    windowMs: 60_000,
    headers: 'draft-7',
    key: (req: unknown) => header(req, 'x-account') ?? 'anonymous',
    cost: (req: unknown) => Number(header(req, 'x-cost') ?? '1'),
    skip: (req: unknown) => header(req, 'x-account') === 'internal',
  };
};

matrix(
  'rateLimit: key, cost and skip functions get the native request; a cost beyond the bucket is 422',
  (): AppSpec => ({ guards: [{ kind: 'rateLimit', options: keyed }], routes: [ok] }),
  async ({ send }) => [
    await send({ path: '/v1/messages', headers: { 'x-account': 'a', 'x-cost': '4' } }),
    await send({ path: '/v1/messages', headers: { 'x-account': 'a', 'x-cost': '2' } }),
    await send({ path: '/v1/messages', headers: { 'x-account': 'b', 'x-cost': '2' } }),
    await send({ path: '/v1/messages', headers: { 'x-account': 'a', 'x-cost': '6' } }),
    await send({ path: '/v1/messages', headers: { 'x-account': 'internal', 'x-cost': '6' } }),
    await send({ path: '/v1/messages', headers: { 'x-account': 'a', 'x-cost': '1' } }),
  ],
  ([a4, a2, b2, a6, internal, a1]) => {
    expect(a4!.status).toBe(200);
    expect(a4!.headers.ratelimit).toBe('limit=5, remaining=1, reset=48');
    expect(a4!.headers['ratelimit-policy']).toBe('5;w=60');
    expect(a2!.status).toBe(429);
    expect(a2!.headers['retry-after']).toBe('12');
    expect(b2!.status).toBe(200);
    expect(a6!.status).toBe(422);
    expect(a6!.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(a6!.body).error).toBe('invalid_request');
    expect(internal!.status).toBe(200);
    expect(internal!.headers.ratelimit).toBeUndefined();
    expect(a1!.status).toBe(200);
    expect(a1!.headers.ratelimit).toBe('limit=5, remaining=0, reset=60');
  },
);

const spendFor = (variant: Variant) => {
  const header = nativeHeader(variant);
  return { daily: 10, cost: (req: unknown) => Number(header(req, 'x-cost') ?? '1'), key: (req: unknown) => header(req, 'x-account') ?? '' };
};

matrix(
  'spendCap: 403 spend_limit_exceeded with the period in the body',
  (): AppSpec => ({ guards: [{ kind: 'spendCap', options: spendFor }], routes: [{ ...ok, method: 'POST' }] }),
  async ({ send }) => [
    await send({ method: 'POST', path: '/v1/messages', headers: { 'x-account': 'a', 'x-cost': '7' } }),
    await send({ method: 'POST', path: '/v1/messages', headers: { 'x-account': 'a', 'x-cost': '4' } }),
    await send({ method: 'POST', path: '/v1/messages', headers: { 'x-account': 'a', 'x-cost': '3' } }),
  ],
  ([first, refused, last]) => {
    expect(first!.status).toBe(200);
    expect(refused!.status).toBe(403);
    expect(JSON.parse(refused!.body)).toEqual({
      message: 'This request would exceed your daily spend limit.',
      error: 'spend_limit_exceeded',
      period: 'daily',
    });
    expect(last!.status).toBe(200);
  },
);
