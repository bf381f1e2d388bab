import { MemoryIdempotencyStore } from './idempotency.js';
import { MemoryThrottleStore } from './throttle.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most keys kept per concern (rate-limit buckets, idempotency records). The least recently used
   * key is evicted beyond it, so memory is bounded by construction.
   * @default 100000
   */
  max?: number;
}

/**
 * The embedded store: per process, bounded (lru-cache), no timers per key. One instance can serve
 * every middleware at once; each keeps its own key space.
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ max: 50_000 });
 * app.use(rateLimit({ limit: 100, windowMs: 60_000, store }));
 * app.use(idempotency({ store }));
 * ```
 */
export class MemoryStore {
  /** Resolved options. */
  readonly options: Readonly<Required<MemoryStoreOptions>>;
  #throttle: MemoryThrottleStore | undefined;
  #idempotency: MemoryIdempotencyStore | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('MemoryStore: options must be an object');
    const max = options.max ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError('MemoryStore: options.max must be a positive integer');
    this.options = Object.freeze({ max });
  }

  /** The rate-limit and spend-cap side of the store. */
  get throttle(): MemoryThrottleStore {
    this.#throttle ??= new MemoryThrottleStore(this.options);
    return this.#throttle;
  }

  /** The idempotency side of the store. */
  get idempotency(): MemoryIdempotencyStore {
    this.#idempotency ??= new MemoryIdempotencyStore(this.options);
    return this.#idempotency;
  }
}
