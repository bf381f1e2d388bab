import { describe, expect, it } from 'vitest';
import type { HeaderPairs } from '../../src/guard/types.js';
import { headerWriter } from '../../src/throttle/headers.js';
import { send, startServer } from '../support/matrix.js';
import { parseDictionary, parseList } from './structured-fields.js';

const values = { name: 'per "minute"', limit: 100, windowMs: 60_000 };
const result = { allowed: true, remaining: 42, resetMs: 1_500, retryAfterMs: 0, nextMs: 600 };

describe('rate-limit header styles', () => {
  it("'draft-10' (default): RateLimit-Policy and RateLimit are structured-field lists of named policies", () => {
    const out: HeaderPairs = [];
    headerWriter(undefined, 'rateLimit', values)(result, out);
    const policy = out.find(([n]) => n === 'ratelimit-policy')![1];
    const state = out.find(([n]) => n === 'ratelimit')![1];
    expect(parseList(policy)).toEqual([{ value: 'per "minute"', params: { q: 100, w: 60 } }]);
    expect(parseList(state)).toEqual([{ value: 'per "minute"', params: { r: 42, t: 1 } }]);
  });

  it("'draft-7': a policy item and a RateLimit dictionary", () => {
    const out: HeaderPairs = [];
    headerWriter('draft-7', 'rateLimit', values)(result, out);
    expect(parseList(out[0]![1])).toEqual([{ value: 100, params: { w: 60 } }]);
    const dict = parseDictionary(out[1]![1]);
    expect([dict.limit?.value, dict.remaining?.value, dict.reset?.value]).toEqual([100, 42, 2]);
  });

  it("'legacy': X-RateLimit-* with the reset as Unix seconds", () => {
    const out: HeaderPairs = [];
    headerWriter('legacy', 'rateLimit', values)(result, out);
    expect(out.slice(0, 2)).toEqual([
      ['x-ratelimit-limit', '100'],
      ['x-ratelimit-remaining', '42'],
    ]);
    const reset = Number(out[2]![1]);
    expect(Math.abs(reset - (Date.now() + 1_500) / 1000)).toBeLessThan(2);
  });

  it('false: no headers', () => {
    const out: HeaderPairs = [];
    headerWriter(false, 'rateLimit', values)(result, out);
    expect(out).toEqual([]);
  });
});

describe('two limiters on one route append list members', () => {
  for (const variant of ['express5', 'express4', 'koa3', 'koa2'] as const) {
    it(variant, async () => {
      const server = await startServer(variant, {
        guards: [
          { kind: 'rateLimit', options: { limit: 2, windowMs: 1_000, name: 'burst' } },
          { kind: 'rateLimit', options: { limit: 1_000, windowMs: 86_400_000, name: 'daily' } },
        ],
        routes: [{ method: 'GET', path: '/', handler: () => ({ json: { ok: true } }) }],
      });
      try {
        const res = await send(server.url, { path: '/' });
        expect(res.status).toBe(200);
        expect(parseList(res.headers['ratelimit-policy']!)).toEqual([
          { value: 'burst', params: { q: 2, w: 1 } },
          { value: 'daily', params: { q: 1000, w: 86400 } },
        ]);
        const state = parseList(res.headers.ratelimit!);
        expect(state.map((i) => [i.value, i.params.r])).toEqual([
          ['burst', 1],
          ['daily', 999],
        ]);
        await send(server.url, { path: '/' });
        const refused = await send(server.url, { path: '/' });
        expect(refused.status).toBe(429);
        expect(parseList(refused.headers.ratelimit!).map((i) => i.value)).toEqual(['burst']);
      } finally {
        await server.close();
      }
    });
  }
});
