/**
 * A refund that cannot reach the store (Redis killed while the handler ran) is reported to
 * `onRefundError`, never thrown and never left as an unhandled rejection; the response goes out as the
 * application answered it. Runs on a redis-server of its own.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/stores/redis/index.js';
import type { RefundErrorEvent } from '../../src/throttle/outage.js';
import { nativeHeader, send, startServer } from '../support/matrix.js';
import { COOPERATING } from './support.js';
import { type OwnRedisServer, startRedisServer, TEST_CLIENT_OPTIONS } from '../support/redis.js';

let server: OwnRedisServer;
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);

beforeAll(async () => {
  server = await startRedisServer();
  process.on('unhandledRejection', onRejection);
});
afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  await server.stop();
});

describe('a refund while Redis is down', () => {
  for (const variant of COOPERATING) {
    it(`${variant}: is reported once, not thrown; the 500 goes out`, async () => {
      await server.restart();
      const redis = new Redis(server.url, { ...TEST_CLIENT_OPTIONS, maxRetriesPerRequest: 0, enableOfflineQueue: false });
      redis.on('error', () => {});
      await new Promise((resolve) => redis.once('ready', resolve));
      const events: RefundErrorEvent[] = [];
      const switches: string[] = [];
      const store = new RedisStore(redis, { prefix: `coop-outage:${variant}:`, commandTimeoutMs: 300 });
      const header = nativeHeader(variant);
      const app = await startServer(variant, {
        errors: { onError: () => {} },
        guards: [
          {
            kind: 'spendCap',
            options: {
              daily: 100,
              store,
              key: (request: unknown) => header(request, 'x-account') ?? '',
              cost: 7,
              onRefundError: (event: RefundErrorEvent) => events.push(event),
              onStoreSwitch: (event: { state: string }) => switches.push(event.state),
            },
          },
        ],
        routes: [
          {
            method: 'POST',
            path: '/v1/messages',
            handler: async () => {
              await server.kill();
              return { status: 500, json: { error: 'provider down' } };
            },
          },
        ],
      });
      try {
        const result = await send(app.url, { method: 'POST', path: '/v1/messages', headers: { 'x-account': 'a' }, body: '{}' });
        expect(result.status).toBe(500);
        for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        expect(events).toHaveLength(1);
        expect(events[0]!.name).toBe('spendCap "spend"');
        expect(events[0]!.error).toBeInstanceOf(Error);
        expect(switches).toEqual(['degraded']);
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(rejections).toEqual([]);
      } finally {
        await app.close();
        redis.disconnect();
      }
    });
  }
});
