/**
 * A spend cap charges only for work done, whatever order it is mounted in beside idempotency keys, on
 * every adapter (Express 4/5, Koa 2/3, fetch), on memory and Redis stores.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import type { MemoryStore } from '../../src/stores/memory/index.js';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { matrix } from '../support/matrix.js';
import { appOf, closeRedis, expectSpent, gate, ORDERS, redisClient, STORES, sendHeaders, storeOf } from './support.js';

beforeAll(async () => {
  await redisClient();
});
afterAll(closeRedis);

const path = '/v1/messages';
const body = (n: number) => JSON.stringify({ to: [`+3361234567${n}`] });

for (const kind of STORES) {
  for (const order of ORDERS) {
    let store: MemoryStore | RedisStore;
    const account = () => `acct-${kind}-${order}`;
    const fresh = (daily: number, held?: ReturnType<typeof gate>) => () => {
      store = storeOf(kind);
      return appOf(order, store, daily, held);
    };

    matrix(
      `${kind}, ${order}: a retried send replays its 202 and spends nothing; the cap's room stays for a fresh send`,
      fresh(10),
      async ({ send }) => {
        const a = account();
        const first = await send({ method: 'POST', path, headers: sendHeaders(a, 6, 'k-6'), body: body(1) });
        const retry = await send({ method: 'POST', path, headers: sendHeaders(a, 6, 'k-6'), body: body(1) });
        await expectSpent(store, a, 6);
        const other = await send({ method: 'POST', path, headers: sendHeaders(a, 4, 'k-4'), body: body(2) });
        await expectSpent(store, a, 10);
        const over = await send({ method: 'POST', path, headers: sendHeaders(a, 1, 'k-1'), body: body(3) });
        await expectSpent(store, a, 10);
        return [first, retry, other, over];
      },
      ([first, retry, other, over]) => {
        expect(first!.status).toBe(202);
        expect(retry!.status).toBe(202);
        expect(retry!.headers['idempotent-replayed']).toBe('true');
        expect(retry!.body).toBe(first!.body);
        expect(other!.status).toBe(202);
        expect(over!.status).toBe(403);
        expect(JSON.parse(over!.body).error).toBe('spend_limit_exceeded');
      },
    );

    matrix(
      `${kind}, ${order}: a rejected (422), failed (500) or thrown send spends nothing; a key reused for another body (422) spends nothing`,
      fresh(10),
      async ({ send }) => {
        const a = account();
        const rejected = await send({ method: 'POST', path, headers: sendHeaders(a, 5, 'r-1', '422'), body: body(1) });
        const failed = await send({ method: 'POST', path, headers: sendHeaders(a, 5, 'r-2', '500'), body: body(2) });
        const thrown = await send({ method: 'POST', path, headers: sendHeaders(a, 5, 'r-3', 'throw'), body: body(3) });
        const unkeyed = await send({ method: 'POST', path, headers: sendHeaders(a, 5, undefined, '400'), body: body(4) });
        await expectSpent(store, a, 0);
        const done = await send({ method: 'POST', path, headers: sendHeaders(a, 7, 'r-4'), body: body(5) });
        const mismatch = await send({ method: 'POST', path, headers: sendHeaders(a, 3, 'r-4'), body: body(6) });
        await expectSpent(store, a, 7);
        const rest = await send({ method: 'POST', path, headers: sendHeaders(a, 3, 'r-5'), body: body(7) });
        await expectSpent(store, a, 10);
        return [rejected, failed, thrown, unkeyed, done, mismatch, rest];
      },
      ([rejected, failed, thrown, unkeyed, done, mismatch, rest]) => {
        expect(rejected!.status).toBe(422);
        expect(failed!.status).toBe(500);
        expect(thrown!.status).toBe(500);
        expect(unkeyed!.status).toBe(400);
        expect(done!.status).toBe(202);
        expect(mismatch!.status).toBe(422);
        expect(JSON.parse(mismatch!.body).error).toBe('idempotency_key_mismatch');
        expect(rest!.status).toBe(202);
      },
    );

    const held = gate();
    matrix(
      `${kind}, ${order}: a duplicate while the first runs gets 409 and spends nothing; the first spends once`,
      () => {
        const g = gate();
        Object.assign(held, g);
        return fresh(10, g)();
      },
      async ({ send }) => {
        const a = account();
        const key = `c-${randomUUID()}`;
        const first = send({ method: 'POST', path, headers: { ...sendHeaders(a, 6, key), 'x-slow': '1' }, body: body(1) });
        // The first holds its key before the duplicate arrives.
        await new Promise((resolve) => setTimeout(resolve, 150));
        const duplicate = await send({ method: 'POST', path, headers: { ...sendHeaders(a, 6, key), 'x-slow': '1' }, body: body(1) });
        await expectSpent(store, a, 6);
        held.open();
        const done = await first;
        await expectSpent(store, a, 6);
        return [{ ...done, body: done.body.replace(key, 'KEY') }, { ...duplicate, headers: { ...duplicate.headers } }];
      },
      ([done, duplicate]) => {
        expect(done!.status).toBe(202);
        expect(duplicate!.status).toBe(409);
        expect(JSON.parse(duplicate!.body).error).toBe('idempotency_conflict');
      },
    );
  }
}
