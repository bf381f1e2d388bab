import { refuseUnknownOptions } from '../../options/unknown-options.js';
import { MemoryIdempotencyStore } from './idempotency.js';
import { MemoryThrottleStore } from './throttle.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most keys kept per concern (rate-limit buckets, idempotency records, idempotency keys in flight).
   * The least recently used key is evicted beyond it, so the count is bounded by construction.
   * @default 100000
   * @example
   * ```ts
   * new MemoryStore({ max: 50_000 })
   * ```
   */
  max?: number;
  /**
   * Most bytes of completed idempotency records kept for replay: each record counts its body, its
   * headers, its reason phrase, its fingerprint and key, and a fixed overhead (about 300 bytes). Beyond
   * it the least recently used records are evicted, and a retry of an evicted key runs its handler
   * again; so size it to hold what completes within the retry window you promise: keyed requests per
   * second × seconds a client may retry × average stored response. A record larger than the whole
   * budget is never kept for replay, nor does it empty the store: its key is kept as completed but not
   * replayable, in a few hundred bytes (a retry gets 422 `idempotency_key_used` with
   * `replayable: false`, and never runs twice).
   *
   * The default, 64 MiB, holds about 60 responses of the idempotency guard's largest (its
   * `maxResponseBytes` default, 1 MiB), about 14,000 of 4 KiB, or the `max` of 100,000 small ones, yet
   * is a small share of Node.js's default heap limit (which grows with the machine's memory, to 2-4 GiB
   * on 64-bit servers) and fits a process of 256 MiB: a burst of large responses under fresh keys
   * evicts old records instead of exhausting the heap. Keep it well above `maxResponseBytes`. For longer
   * replay windows or larger responses, raise it with the heap in mind, or use `RedisStore`. At least
   * 1024 (room for a record that is not replayable). Each `MemoryStore` has its own budget (an
   * `idempotency()` without a `store` makes its own). The keys in flight are not counted here: they are
   * bounded by `max`, at a fixed size each (a few hundred bytes).
   * @default 67108864 (64 MiB)
   * @example
   * ```ts
   * new MemoryStore({ maxBytes: 256 * 1024 * 1024 })
   * ```
   */
  maxBytes?: number;
}

const OPTION_NAMES = new Set(['max', 'maxBytes']);
/** The smallest `maxBytes`: room for a record that is completed but not replayable, whatever its key. */
const MIN_BYTES = 1024;

/**
 * The embedded store: per process, bounded (lru-cache, by count and, for idempotency records, by
 * bytes), no timers per key. One instance can serve every middleware at once; each keeps its own key
 * space.
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ max: 50_000, maxBytes: 128 * 1024 * 1024 });
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
    refuseUnknownOptions('MemoryStore', options, OPTION_NAMES);
    const max = options.max ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError('MemoryStore: options.max must be a positive integer');
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_BYTES) {
      throw new TypeError(`MemoryStore: options.maxBytes must be a positive integer of at least ${MIN_BYTES} (bytes)`);
    }
    this.options = Object.freeze({ max, maxBytes });
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
