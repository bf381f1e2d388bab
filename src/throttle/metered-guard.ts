import type { TrustProxy } from '../allowlist/client-ip.js';
import { errorDecision, NEXT } from '../guard/respond.js';
import type { Decision, Guard, RequestView } from '../guard/types.js';
import { sha256 } from '../idempotency/hash.js';
import { MemoryStore } from '../stores/memory/index.js';
import { addressKey, createClientKey } from './client-key.js';
import { chain, guarded, type MaybePromise } from './decide.js';
import { type HasThrottleStore, isThrottleStoreHolder, type ThrottleStore } from './store.js';

/**
 * Longest key a store is handed as given. A longer key (a `key` function that returns a header, which a
 * client can make 16 KiB long) is stored as `#` and its SHA-256, so that what a store holds per key is
 * bounded whatever the callers send: 100,000 memory-store keys of 16 KiB would be 1.6 GB.
 */
export const MAX_STORED_KEY_LENGTH = 128;

/** The key a store is handed for a request's key (see {@link MAX_STORED_KEY_LENGTH}). @internal */
export function storedKey(key: string): string {
  return key.length > MAX_STORED_KEY_LENGTH ? `#${sha256(key)}` : key;
}

/** The options `rateLimit` and `spendCap` share: who is counted, what a request costs, and where. */
export interface MeteredOptions<Req> {
  cost?: number | ((request: Req) => MaybePromise<number>);
  key?: (request: Req) => MaybePromise<string>;
  skip?: (request: Req) => MaybePromise<boolean>;
  store?: HasThrottleStore;
  trustProxy?: TrustProxy;
  forwarded?: boolean;
  ipv6Subnet?: number;
}

/** The shared options, validated and compiled once when a middleware is built. @internal */
export interface Metered<Req> {
  store: ThrottleStore;
  /**
   * Builds the guard: resolves the store key (the namespace and the request's key) and the cost
   * (synchronously when both are), honours `skip`, checks both.
   */
  guard(decide: (storeKey: string, units: number, view: RequestView<Req>) => MaybePromise<Decision>): Guard<Req>;
  /**
   * The store key of a key as `key` returns it (or, with the default key, a client address), or a
   * `TypeError` for anything but a string.
   */
  storeKeyOf(key: unknown): string;
}

/**
 * Validates `cost`, `key`, `skip` and `store` (a `TypeError` names the option) and compiles the default
 * key (the client address). Store keys are `namespace` followed by the request's key. @internal
 */
export function compileMetered<Req>(name: string, options: MeteredOptions<Req>, namespace: string): Metered<Req> {
  const cost = options.cost ?? 1;
  if (typeof cost === 'number') {
    if (!Number.isSafeInteger(cost) || cost < 0) throw new TypeError(`${name}: options.cost must be a non-negative integer or a function`);
  } else if (typeof cost !== 'function') {
    throw new TypeError(`${name}: options.cost must be a non-negative integer or a function`);
  }
  if (options.key !== undefined && typeof options.key !== 'function') throw new TypeError(`${name}: options.key must be a function`);
  if (options.skip !== undefined && typeof options.skip !== 'function') throw new TypeError(`${name}: options.skip must be a function`);
  if (options.store !== undefined && !isThrottleStoreHolder(options.store)) {
    throw new TypeError(`${name}: options.store must be a MemoryStore, a RedisStore, or an object with a throttle side`);
  }
  const userKey = options.key;
  // The default key comes with the namespace already in front; a user's key gets it once checked.
  const keyOf: (view: RequestView<Req>) => MaybePromise<string> = userKey
    ? (view) => userKey(view.request)
    : createClientKey({ trustProxy: options.trustProxy, forwarded: options.forwarded, ipv6Subnet: options.ipv6Subnet }, name, namespace);
  const prefix = userKey ? namespace : '';
  const skip = options.skip;
  return {
    store: (options.store ?? new MemoryStore()).throttle,
    storeKeyOf(key) {
      if (typeof key !== 'string') throw new TypeError(`${name}: peek(key) takes the key as a string`);
      if (userKey) return namespace + storedKey(key);
      // The default key is the client address, grouped as the limiter groups it (IPv6 by subnet).
      return namespace + addressKey(key, options.ipv6Subnet ?? 56);
    },
    guard(decide) {
      const checked = (key: string, units: number, view: RequestView<Req>): MaybePromise<Decision> => {
        if (!Number.isSafeInteger(units) || units < 0) {
          return errorDecision(new TypeError(`${name}: options.cost returned ${String(units)}, not a non-negative integer`));
        }
        if (typeof key !== 'string') return errorDecision(new TypeError(`${name}: options.key did not return a string`));
        return decide(prefix + storedKey(key), units, view);
      };
      const run = (view: RequestView<Req>): MaybePromise<Decision> => {
        const key = keyOf(view);
        const units = typeof cost === 'number' ? cost : cost(view.request);
        if (key instanceof Promise || units instanceof Promise) return Promise.all([key, units]).then(([k, u]) => checked(k, u, view));
        return checked(key, units, view);
      };
      const skipOrRun = (view: RequestView<Req>): MaybePromise<Decision> =>
        chain(skip!(view.request), (skipped) => (skipped === true ? NEXT : run(view)));
      const step = skip ? skipOrRun : run;
      return {
        name,
        check(view) {
          return guarded(step, view);
        },
      };
    },
  };
}
