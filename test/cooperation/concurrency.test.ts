/**
 * 200 concurrent sends against one spend cap, with random costs, duplicate keys (in flight together
 * and retried after), handlers that fail and throw: what is spent is exactly the sum of the costs of the
 * distinct keys whose send succeeded, on every adapter, in both mount orders, on memory and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Result, send, startServer } from '../support/matrix.js';
import { COOPERATING, appOf, closeRedis, expectSpent, ORDERS, redisClient, STORES, sendHeaders, spentOf, storeOf } from './support.js';

beforeAll(async () => {
  await redisClient();
});
afterAll(closeRedis);

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CAP = 600;

describe('cooperation under concurrency', () => {
  for (const kind of STORES) {
    for (const order of ORDERS) {
      for (const variant of COOPERATING) {
        it(`${kind}, ${order}, ${variant}: 200 concurrent sends spend exactly the costs of the distinct keys that succeeded`, async () => {
          const next = random(kind.length * 1000 + order.length * 100 + variant.length);
          const store = storeOf(kind);
          const server = await startServer(variant, appOf(order, store, CAP));
          try {
            const account = `acct-${kind}-${order}-${variant}`;
            // 120 keys; each has its cost and answer (202 mostly, some 422, 500 or a throw).
            const keys = Array.from({ length: 120 }, (_, i) => {
              const roll = next();
              const answer = roll < 0.7 ? '202' : roll < 0.8 ? '422' : roll < 0.9 ? '500' : 'throw';
              return { key: `k${i}`, cost: 1 + Math.floor(next() * 20), answer };
            });
            // 200 sends: every key once, and 80 duplicates.
            const sends = [...keys, ...Array.from({ length: 80 }, () => keys[Math.floor(next() * keys.length)]!)];
            for (let i = sends.length - 1; i > 0; i--) {
              const j = Math.floor(next() * (i + 1));
              [sends[i], sends[j]] = [sends[j]!, sends[i]!];
            }
            const results: Array<{ key: string; cost: number; result: Result }> = await Promise.all(
              sends.map(async ({ key, cost, answer }) => ({
                key,
                cost,
                result: await send(server.url, {
                  method: 'POST',
                  path: '/v1/messages',
                  headers: sendHeaders(account, cost, key, answer),
                  body: JSON.stringify({ key }),
                }),
              })),
            );
            const succeeded = new Map<string, number>();
            for (const { key, cost, result } of results) {
              expect([202, 403, 409, 422, 500]).toContain(result.status);
              if (result.status === 202 && result.headers['idempotent-replayed'] !== 'true') {
                // A key runs its handler at most once.
                expect(succeeded.has(key), `${key} ran twice`).toBe(false);
                succeeded.set(key, cost);
              }
            }
            const expected = [...succeeded.values()].reduce((sum, cost) => sum + cost, 0);
            expect(succeeded.size).toBeGreaterThan(10);
            expect(expected).toBeLessThanOrEqual(CAP);
            await expectSpent(store, account, expected);
            // Every retry of a key that succeeded replays it and spends nothing, even with the cap full.
            const retries = await Promise.all(
              [...succeeded].map(([key, cost]) =>
                send(server.url, { method: 'POST', path: '/v1/messages', headers: sendHeaders(account, cost, key), body: JSON.stringify({ key }) }),
              ),
            );
            for (const retry of retries) {
              expect(retry.status).toBe(202);
              expect(retry.headers['idempotent-replayed']).toBe('true');
            }
            await expectSpent(store, account, expected);
            expect(await spentOf(store, account)).toBe(expected);
          } finally {
            await server.close();
          }
        });
      }
    }
  }
});
