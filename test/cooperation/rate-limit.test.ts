/**
 * Rate limits give units back on request, from how the request ended: `skipFailedRequests`,
 * `skipSuccessfulRequests`, `countReplays: false` and a `refund` rule; off by default. Through every
 * adapter, on memory and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/throttle/rate-limiter.js';
import { type GuardSpec, matrix, type Variant } from '../support/matrix.js';
import { closeRedis, redisClient, STORES, sendHeaders, sendRoute, storeOf } from './support.js';

beforeAll(async () => {
  await redisClient();
});
afterAll(closeRedis);

const path = '/v1/messages';
const post = (answer: string, key?: string) => ({ method: 'POST', path, headers: sendHeaders('a', 1, key, answer), body: JSON.stringify({ key }) });

for (const kind of STORES) {
  const limiter = (extra: object): GuardSpec => ({
    kind: 'rateLimit',
    options: (_variant: Variant) => ({ limit: 3, windowMs: 3_600_000, headers: false, store: storeOf(kind), key: () => 'client', ...extra }),
  });
  const app = (extra: object, idempotency = false) => () => ({
    guards: [limiter(extra), ...(idempotency ? [{ kind: 'idempotency' as const, options: { store: storeOf(kind) } }] : [])],
    routes: [sendRoute()],
    errors: { onError: () => {} },
  });

  matrix(
    `${kind}: by default every request counts, failed or replayed`,
    app({}, true),
    async ({ send }) => [await send(post('500')), await send(post('202', 'k1')), await send(post('202', 'k1')), await send(post('202', 'k2'))],
    (results) => expect(results.map((r) => r.status)).toEqual([500, 202, 202, 429]),
  );

  matrix(
    `${kind}: skipFailedRequests gives a 4xx, a 5xx and a thrown error their units back`,
    app({ skipFailedRequests: true }),
    async ({ send }) => {
      const out = [];
      for (const answer of ['500', '422', 'throw', '500', '202', '202', '202', '202']) out.push(await send(post(answer)));
      return out;
    },
    (results) => expect(results.map((r) => r.status)).toEqual([500, 422, 500, 500, 202, 202, 202, 429]),
  );

  matrix(
    `${kind}: skipSuccessfulRequests counts failures only`,
    app({ skipSuccessfulRequests: true }),
    async ({ send }) => {
      const out = [];
      for (const answer of ['202', '202', '202', '202', '401', '401', '401', '401', '202']) out.push(await send(post(answer)));
      return out;
    },
    (results) => expect(results.map((r) => r.status)).toEqual([202, 202, 202, 202, 401, 401, 401, 429, 429]),
  );

  matrix(
    `${kind}: countReplays: false lets idempotent replays through without counting them`,
    app({ countReplays: false }, true),
    async ({ send }) => {
      const out = [await send(post('202', 'k1'))];
      for (let i = 0; i < 4; i++) out.push(await send(post('202', 'k1')));
      out.push(await send(post('202', 'k2')), await send(post('202', 'k3')), await send(post('202', 'k4')));
      return out;
    },
    (results) => {
      expect(results.map((r) => r.status)).toEqual([202, 202, 202, 202, 202, 202, 202, 429]);
      expect(results.slice(1, 5).every((r) => r.headers['idempotent-replayed'] === 'true')).toBe(true);
    },
  );
}

describe('rateLimit options', () => {
  it('refuses bad refund options with a TypeError naming them', () => {
    expect(() => createRateLimiter({ limit: 1, windowMs: 1000, skipFailedRequests: 'yes' as never })).toThrow(/options\.skipFailedRequests/);
    expect(() => createRateLimiter({ limit: 1, windowMs: 1000, countReplays: 1 as never })).toThrow(/options\.countReplays/);
    expect(() => createRateLimiter({ limit: 1, windowMs: 1000, refund: true as never })).toThrow(/options\.refund/);
    expect(() => createRateLimiter({ limit: 1, windowMs: 1000, refund: () => true, skipFailedRequests: true })).toThrow(/options\.refund/);
    expect(() => createRateLimiter({ limit: 1, windowMs: 1000, onRefundError: 1 as never })).toThrow(/options\.onRefundError/);
  });
});
