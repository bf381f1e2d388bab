/**
 * The `logger` option of rateLimit and spendCap: the lines about the store (unavailable, available again,
 * refunds that could not reach it) go to it, each starting `bulwark: `; console by default; a logger that
 * throws loses its line, never the request; hooks still replace the lines. Construction warnings stay
 * process warnings, their message starting `bulwark: `.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Decision } from '../../src/guard/types.js';
import { MemoryThrottleStore } from '../../src/stores/memory/throttle.js';
import type { RateRequest, SpendRequest } from '../../src/throttle/store.js';
import { createRateLimiter } from '../../src/throttle/rate-limiter.js';
import { createSpendCap } from '../../src/throttle/spend-cap.js';
import { view } from '../throttle/view.js';

/** A logger that keeps its lines. */
function collecting(): { lines: string[]; warn(message: string): void; error(message: string): void } {
  const lines: string[] = [];
  return { lines, warn: (message) => lines.push(`warn ${message}`), error: (message) => lines.push(`error ${message}`) };
}

/** A memory store that fails while `down` is set, and whose refunds can be made to reject. */
function flakyStore() {
  const memory = new MemoryThrottleStore({ max: 100 });
  const state = { down: false, refundsFail: false };
  const fail = () => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:1\n    at internal frame');
  };
  return {
    state,
    store: {
      throttle: {
        consume: (request: RateRequest) => (state.down ? fail() : memory.consume(request)),
        spend: (request: SpendRequest) => (state.down ? fail() : memory.spend(request)),
        refundRate: (receipt: object) => (state.refundsFail ? Promise.reject(new Error('refund timed out')) : memory.refundRate(receipt)),
        refundSpend: (receipt: object) => (state.refundsFail ? Promise.reject(new Error('refund timed out')) : memory.refundSpend(receipt)),
      },
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const outcome = { status: 500, replayed: false, thrown: false, ran: true, completed: true };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('logger', () => {
  it('rateLimit: store unavailable, then available again, one line each, the cause on one line', async () => {
    const logger = collecting();
    const { state, store } = flakyStore();
    const limiter = createRateLimiter({ name: 'log-rl', limit: 10, windowMs: 60_000, key: () => 'k', store, logger });
    expect((await limiter.check(view())).type).toBe('next');
    state.down = true;
    expect((await limiter.check(view())).type).toBe('next');
    expect((await limiter.check(view())).type).toBe('next');
    state.down = false;
    await sleep(1100); // the next probe of the store
    expect((await limiter.check(view())).type).toBe('next');
    expect(logger.lines).toEqual([
      'warn bulwark: rateLimit "log-rl": store unavailable, deciding with a per-process limiter (Error: connect ECONNREFUSED 127.0.0.1:1)',
      'warn bulwark: rateLimit "log-rl": store available again',
    ]);
  });

  it("spendCap with onStoreError 'closed': the line says requests are refused", async () => {
    const logger = collecting();
    const { state, store } = flakyStore();
    const cap = createSpendCap({ name: 'log-sc', daily: 10, key: () => 'k', store, logger, onStoreError: 'closed' });
    state.down = true;
    const decision = (await cap.check(view())) as Decision;
    expect(decision.type === 'respond' && decision.status).toBe(503);
    expect(logger.lines).toEqual(['warn bulwark: spendCap "log-sc": store unavailable, refusing requests with 503 (Error: connect ECONNREFUSED 127.0.0.1:1)']);
  });

  it('a refund that cannot reach the store: one line a minute with the count', async () => {
    const logger = collecting();
    const { state, store } = flakyStore();
    const limiter = createRateLimiter({ name: 'log-refund', limit: 10, windowMs: 60_000, key: () => 'k', store, logger, skipFailedRequests: true });
    state.refundsFail = true;
    for (let i = 0; i < 3; i++) {
      const decision = (await limiter.check(view())) as Decision;
      expect(decision.type === 'next' && typeof decision.onOutcome).toBe('function');
      if (decision.type === 'next') decision.onOutcome!(outcome);
      await sleep(5);
    }
    expect(logger.lines).toEqual([
      'warn bulwark: rateLimit "log-refund": store unavailable, deciding with a per-process limiter (Error: refund timed out)',
      'warn bulwark: rateLimit "log-refund": 1 refund(s) could not reach the store and were not given back (Error: refund timed out)',
    ]);
  });

  it('spendCap: a lost refund goes to the logger too', async () => {
    const logger = collecting();
    const { state, store } = flakyStore();
    const cap = createSpendCap({ name: 'log-sc-refund', daily: 10, key: () => 'k', store, logger, onStoreSwitch: () => {} });
    state.refundsFail = true;
    const decision = (await cap.check(view())) as Decision;
    if (decision.type === 'next') decision.onOutcome!(outcome);
    await sleep(5);
    expect(logger.lines).toEqual(['warn bulwark: spendCap "log-sc-refund": 1 refund(s) could not reach the store and were not given back (Error: refund timed out)']);
  });

  it('onStoreSwitch and onRefundError take the place of the lines', async () => {
    const logger = collecting();
    const { state, store } = flakyStore();
    const switches: string[] = [];
    const refundErrors: string[] = [];
    const limiter = createRateLimiter({
      name: 'hooked',
      limit: 10,
      windowMs: 60_000,
      key: () => 'k',
      store,
      logger,
      skipFailedRequests: true,
      onStoreSwitch: (e) => switches.push(`${e.name} ${e.state} ${e.mode}`),
      onRefundError: (e) => refundErrors.push(`${e.name} ${String(e.error)}`),
    });
    state.refundsFail = true;
    const decision = (await limiter.check(view())) as Decision;
    if (decision.type === 'next') decision.onOutcome!(outcome);
    await sleep(5);
    state.down = true;
    await limiter.check(view());
    expect(logger.lines).toEqual([]);
    expect(switches).toEqual(['rateLimit "hooked" degraded fallback']);
    expect(refundErrors).toEqual(['rateLimit "hooked" Error: refund timed out']);
  });

  it('a logger that throws loses its line, never the request', async () => {
    const { state, store } = flakyStore();
    const logger = {
      warn: () => {
        throw new Error('logger broke');
      },
      error: () => {
        throw new Error('logger broke');
      },
    };
    const limiter = createRateLimiter({ name: 'broken-logger', limit: 10, windowMs: 60_000, key: () => 'k', store, logger });
    state.down = true;
    expect((await limiter.check(view())).type).toBe('next');
  });

  it('defaults to console.warn', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { state, store } = flakyStore();
    const limiter = createRateLimiter({ name: 'console', limit: 10, windowMs: 60_000, key: () => 'k', store });
    state.down = true;
    await limiter.check(view());
    expect(warn.mock.calls).toEqual([['bulwark: rateLimit "console": store unavailable, deciding with a per-process limiter (Error: connect ECONNREFUSED 127.0.0.1:1)']]);
  });

  it.each([{}, { warn: () => {} }, 'console', null, { warn: 1, error: 2 }])('refuses logger %o', (logger) => {
    expect(() => createRateLimiter({ limit: 1, windowMs: 1000, logger: logger as never })).toThrow(
      new TypeError('rateLimit: options.logger must have warn(message) and error(message) methods (console, pino)'),
    );
    expect(() => createSpendCap({ daily: 1, logger: logger as never })).toThrow(/^spendCap: options\.logger/);
  });

  it('construction warnings stay process warnings, starting bulwark: ', async () => {
    const memory = new MemoryThrottleStore({ max: 10 });
    const bare = { throttle: { consume: (r: RateRequest) => memory.consume(r), spend: (r: SpendRequest) => memory.spend(r) } };
    const warnings: Array<[string, string | undefined]> = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push([w.message, w.code]);
    process.on('warning', onWarning);
    try {
      const logger = collecting();
      createSpendCap({ name: 'bare', daily: 1, store: bare, logger });
      createRateLimiter({ name: 'bare', limit: 1, windowMs: 1000, store: bare, refund: () => true, logger });
      await new Promise((resolve) => setImmediate(resolve));
      expect(logger.lines).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([
      ['bulwark: spendCap "bare": the store has no refundSpend(); spends are never refunded', 'BULWARK_NO_REFUND'],
      ['bulwark: rateLimit "bare": the store has no refundRate(); units are never given back', 'BULWARK_NO_REFUND'],
    ]);
  });
});
