/**
 * Redis dies under real Express servers running rateLimit and spendCap: every request is still answered
 * within the store deadline in each outage mode, nothing is rejected unhandled, and decisions go back to
 * Redis when it returns.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler, rateLimit, spendCap } from '../../adapters/express.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import type { StoreSwitchEvent } from '../../src/throttle/outage.js';
import { type OwnRedisServer, startRedisServer, TEST_CLIENT_OPTIONS, testPrefix } from '../support/redis.js';

const DEADLINE_MS = 200;
let server: OwnRedisServer;
let redis: Redis;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  server = await startRedisServer();
  redis = new Redis(server.url, { ...TEST_CLIENT_OPTIONS, retryStrategy: () => 50 });
  redis.on('error', () => {});
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  redis?.disconnect();
  await server?.stop();
});

async function serve(mode: 'fallback' | 'open' | 'closed', events: StoreSwitchEvent[]) {
  const prefix = testPrefix(`outage-${mode}`);
  const store = new RedisStore(redis, { prefix, commandTimeoutMs: DEADLINE_MS });
  const app = express();
  const onStoreSwitch = (event: StoreSwitchEvent) => events.push(event);
  app.use(rateLimit({ limit: 1000, windowMs: 60_000, store, onStoreError: mode, onStoreSwitch, key: () => 'one' }));
  app.use(spendCap({ daily: 1000, store, onStoreError: mode, onStoreSwitch, key: () => 'one', name: `spend-${mode}` }));
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(errorHandler({ onError: () => {} }));
  const listener = http.createServer(app);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    prefix,
    url: `http://127.0.0.1:${(listener.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => listener.close(() => resolve())),
  };
}

async function timed(url: string): Promise<{ status: number; ms: number; headers: Headers; body: string }> {
  const started = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await res.text();
  return { status: res.status, ms: performance.now() - started, headers: res.headers, body };
}

describe.sequential('rateLimit and spendCap through a Redis outage', () => {
  it.each(['fallback', 'open', 'closed'] as const)('answers within the deadline in %s mode, then recovers', async (mode) => {
    const events: StoreSwitchEvent[] = [];
    const app = await serve(mode, events);
    try {
      const before = await timed(app.url);
      expect(before.status).toBe(200);
      expect(before.headers.get('ratelimit')).toMatch(/r=999/);

      await server.kill();
      const during = [];
      for (let i = 0; i < 5; i++) during.push(await timed(app.url));
      for (const answer of during) {
        // Two guards each wait at most one deadline for the first failure; after it they no longer wait.
        expect(answer.ms).toBeLessThan(2 * DEADLINE_MS + 400);
        if (mode === 'closed') {
          expect(answer.status).toBe(503);
          expect(JSON.parse(answer.body).error).toBe('service_unavailable');
          expect(answer.headers.get('retry-after')).toBe('1');
        } else {
          expect(answer.status).toBe(200);
        }
      }
      if (mode === 'fallback') expect(during.at(-1)!.headers.get('ratelimit')).toMatch(/r=\d+/);
      expect(events.some((e) => e.state === 'degraded')).toBe(true);

      await server.restart();
      let recovered = false;
      for (let i = 0; i < 40 && !recovered; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const answer = await timed(app.url);
        recovered = answer.status === 200 && events.some((e) => e.state === 'recovered');
      }
      expect(recovered).toBe(true);
      // Decisions are written to the restarted Redis again.
      expect((await redis.keys(`${app.prefix}*`)).length).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  });

  it('left no unhandled rejection behind', () => {
    expect(unhandled).toEqual([]);
  });
});
