/**
 * The idempotency store going away and coming back, on a redis-server of the test's own.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/stores/redis/index.js';
import { type RunningServer, send, startServer, VARIANTS } from '../support/matrix.js';
import { type OwnRedisServer, startRedisServer, TEST_CLIENT_OPTIONS, testPrefix } from '../support/redis.js';

let server: OwnRedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url, { ...TEST_CLIENT_OPTIONS });
  redis.on('error', () => {});
});

afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

describe('idempotency when Redis goes down and comes back', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: 503 service_unavailable within the bound while it is down, never running the handler; normal service after`, async () => {
      let runs = 0;
      const app: RunningServer = await startServer(variant, {
        errors: { onError: () => {} },
        guards: [
          {
            kind: 'idempotency',
            options: { store: new RedisStore(redis, { prefix: testPrefix(`outage-${variant}`), commandTimeoutMs: 200 }), storeTimeoutMs: 400 },
          },
        ],
        routes: [{ method: 'POST', path: '/v1/messages', handler: () => ({ status: 201, json: { n: ++runs } }) }],
      });
      try {
        const req = (key: string) => ({ method: 'POST', path: '/v1/messages', headers: { 'idempotency-key': key }, body: '{"a":1}' });
        expect((await send(app.url, req('before'))).status).toBe(201);
        await server.kill();
        const started = Date.now();
        const down = await Promise.all([send(app.url, req('during')), send(app.url, req('before')), send(app.url, req('during'))]);
        expect(Date.now() - started).toBeLessThan(4000);
        for (const r of down) {
          expect(r.status).toBe(503);
          expect(JSON.parse(r.body).error).toBe('service_unavailable');
        }
        expect(runs).toBe(1);
        await server.restart();
        let after = await send(app.url, req('during'));
        for (let i = 0; i < 60 && after.status === 503; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          after = await send(app.url, req('during'));
        }
        expect(after.status).toBe(201);
        expect(JSON.parse(after.body)).toEqual({ n: 2 });
        const replay = await send(app.url, req('during'));
        expect(replay.headers['idempotent-replayed']).toBe('true');
      } finally {
        await app.close();
      }
    });
  }
});
