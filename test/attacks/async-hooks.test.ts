/**
 * Attack: hooks and loggers written as `async` functions (the common way to ship an event to a queue or
 * a database). TypeScript accepts an async function wherever `(event) => void` is expected, so
 * `onAttempt: async (e) => { await db.insert(e) }` type-checks. bulwark calls every hook inside
 * try/catch, which catches a synchronous throw but not the rejected promise an async hook returns: the
 * rejection is left unhandled, and under Node's default `--unhandled-rejections=throw` it kills the
 * process (a server taking live traffic, or a client in a worker).
 *
 * Each test sends real requests over a socket, with hooks that reject, and asserts that no rejection is
 * left unhandled (the answer itself is right in every case: only the process is at risk).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rateLimit, spendCap } from '../../adapters/express.js';
import { createFetch } from '../../src/client/index.js';
import { MemoryThrottleStore } from '../../src/stores/memory/throttle.js';
import type { RateRequest, SpendRequest } from '../../src/throttle/store.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

/** Lets pending promise reactions and unhandled-rejection tracking run. */
const settleTicks = () => new Promise((resolve) => setTimeout(resolve, 50));

const servers: http.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const rejecting = (what: string) => async (): Promise<void> => {
  throw new Error(`${what} hook failed`);
};

describe('async client hooks that reject', () => {
  it('onAttempt, onAttemptEnd, onCallEnd and onRetry rejecting leave no unhandled rejection', async () => {
    let hits = 0;
    const url = await listen((_req, res) => {
      hits += 1;
      if (hits === 1) {
        res.writeHead(503, { 'retry-after': '0' });
        res.end();
        return;
      }
      res.end('ok');
    });
    const api = createFetch({
      retries: 1,
      baseDelayMs: 1,
      maxDelayMs: 1,
      retryBudget: false,
      onAttempt: rejecting('onAttempt'),
      onAttemptEnd: rejecting('onAttemptEnd'),
      onCallEnd: rejecting('onCallEnd'),
      onRetry: rejecting('onRetry'),
    });
    const res = await api(`${url}/v1/items`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    await settleTicks();
    expect(unhandled.map(String)).toEqual([]);
  });

  it('onBreakerStateChange rejecting leaves no unhandled rejection', async () => {
    const url = await listen((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    const api = createFetch({
      retries: 0,
      retryBudget: false,
      breaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeout: 60_000 },
      onBreakerStateChange: rejecting('onBreakerStateChange'),
    });
    for (let i = 0; i < 3; i++) {
      try {
        await (await api(`${url}/x`)).text();
      } catch {
        // circuit_open once the breaker opened
      }
    }
    await settleTicks();
    expect(unhandled.map(String)).toEqual([]);
  });
});

describe('async server-side hooks and loggers that reject', () => {
  /** A store of one's own (the documented `{ throttle }` shape) that fails until `state.down` is cleared. */
  function flakyStore() {
    const memory = new MemoryThrottleStore({ max: 100 });
    const state = { down: true };
    const fail = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1'));
    return {
      state,
      store: {
        throttle: {
          consume: (request: RateRequest) => (state.down ? fail() : memory.consume(request)),
          spend: (request: SpendRequest) => (state.down ? fail() : memory.spend(request)),
        },
      },
    };
  }

  it("rateLimit's logger (async warn) and onStoreSwitch rejecting leave no unhandled rejection", async () => {
    const a = flakyStore();
    const b = flakyStore();
    const app = express();
    app.use(
      rateLimit({
        name: 'logged',
        limit: 10,
        windowMs: 1000,
        key: () => 'k',
        store: a.store,
        logger: { warn: rejecting('logger.warn'), error: rejecting('logger.error') },
      }),
    );
    app.use(spendCap({ name: 'hooked', daily: 100, key: () => 'k', store: b.store, onStoreSwitch: rejecting('onStoreSwitch') }));
    app.get('/', (_req, res) => res.send('ok'));
    const server = app.listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // The stores are down: the fallback decides, and a switch is reported (to the logger, to the hook).
    const res = await fetch(url);
    expect(res.status).toBe(200);
    await res.text();
    await settleTicks();
    expect(unhandled.map(String)).toEqual([]);
  });
});
