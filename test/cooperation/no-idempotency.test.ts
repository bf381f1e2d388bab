/**
 * A spend cap on a route with no idempotency guard: a client that sends the same Idempotency-Key again
 * does new work each time (nothing replays). The cap must hold: the key is let through uncharged at most
 * once (its new work then charged), and refused as a new spend after that.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import type { MemoryStore } from '../../src/stores/memory/index.js';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { matrix, nativeHeader, type Variant } from '../support/matrix.js';
import { closeRedis, expectSpent, redisClient, STORES, sendHeaders, sendRoute, storeOf } from './support.js';

beforeAll(async () => {
  await redisClient();
});
afterAll(closeRedis);

for (const kind of STORES) {
  let store: MemoryStore | RedisStore;
  matrix(
    `${kind}: reusing one Idempotency-Key where nothing replays cannot spend past the cap more than once`,
    () => {
      store = storeOf(kind);
      const options = (variant: Variant) => {
        const header = nativeHeader(variant);
        return {
          daily: 10,
          store,
          key: (request: unknown) => header(request, 'x-account') ?? 'nobody',
          cost: (request: unknown) => Number(header(request, 'x-cost') ?? '1'),
        };
      };
      return { guards: [{ kind: 'spendCap', options }], routes: [sendRoute()], errors: { onError: () => {} } };
    },
    async ({ send, variant }) => {
      const a = `acct-noidem-${kind}-${variant}`;
      const results = [];
      for (let i = 0; i < 5; i++) {
        results.push(await send({ method: 'POST', path: '/v1/messages', headers: sendHeaders(a, 6, 'same-key'), body: '{}' }));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await expectSpent(store, a, 12);
      return results;
    },
    (results) => {
      expect(results.map((r) => r.status)).toEqual([202, 202, 403, 403, 403]);
    },
  );
}
