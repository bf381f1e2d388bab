import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/guard/types.js';
import type { RateRequest, RateResult, SpendRequest, SpendResult } from '../../src/throttle/store.js';
import { MemoryThrottleStore } from '../../src/stores/memory/throttle.js';
import { MAX_STORED_KEY_LENGTH } from '../../src/throttle/metered-guard.js';
import { createRateLimiter } from '../../src/throttle/rate-limiter.js';
import { createSpendCap } from '../../src/throttle/spend-cap.js';
import { view } from './view.js';

/** A memory throttle store that remembers every key it was handed. */
function recordingStore() {
  const inner = new MemoryThrottleStore({ max: 10_000 });
  const keys: string[] = [];
  const throttle = {
    consume(request: RateRequest): RateResult {
      keys.push(request.key);
      return inner.consume(request);
    },
    spend(request: SpendRequest): SpendResult {
      keys.push(request.key);
      return inner.spend(request);
    },
  };
  return { store: { throttle }, keys };
}

function settled(d: Decision | Promise<Decision>): Decision {
  if (d instanceof Promise) throw new Error('the memory store decides synchronously');
  return d;
}

describe('keys a caller controls are bounded before they reach a store', () => {
  it('a rate limit stores a 16 KiB key as a short hash, counts it as one key, and tells keys apart that share a long prefix', () => {
    const { store, keys } = recordingStore();
    const limiter = createRateLimiter<any>({ limit: 2, windowMs: 60_000, store, key: (req) => req.headers['x-account'] });
    const long = 'a'.repeat(16_384);
    const other = `${'a'.repeat(16_383)}b`;
    const ask = (account: string) => settled(limiter.check(view('203.0.113.7', { 'x-account': account })));
    expect(ask(long).type).toBe('next');
    expect(ask(long).type).toBe('next');
    expect(ask(long).type).toBe('respond');
    expect(ask(other).type).toBe('next');
    expect(ask('short').type).toBe('next');
    for (const key of keys) expect(key.length).toBeLessThanOrEqual(MAX_STORED_KEY_LENGTH + 64);
    expect(new Set(keys).size).toBe(3);
    expect(keys.at(-1)).toMatch(/:short$/);
  });

  it('a spend cap does the same', () => {
    const { store, keys } = recordingStore();
    const cap = createSpendCap<any>({ daily: 1, store, key: (req) => req.headers['x-account'] });
    const long = 'z'.repeat(8_000);
    expect(settled(cap.check(view('203.0.113.7', { 'x-account': long }))).type).toBe('next');
    expect(settled(cap.check(view('203.0.113.7', { 'x-account': long }))).type).toBe('respond');
    for (const key of keys) expect(key.length).toBeLessThanOrEqual(MAX_STORED_KEY_LENGTH + 64);
  });
});
