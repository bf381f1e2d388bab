/**
 * `createBreakers`: a registry of per-origin circuit breakers and retry budgets that several `createFetch`
 * wrappers share, so that what one wrapper learns about an origin (it is down) protects the others.
 */
import type { BreakerOptions, BreakerStateEvent } from './breakers.js';
import { OriginPool } from './breakers.js';
import type { AdaptiveThrottleOptions } from './adaptive.js';
import type { RetryBudgetOptions } from './budget.js';
import { need, validateAdaptive, validateBreaker, validateBudget } from './options.js';

/** Options of {@link createBreakers}: the options of `createFetch` that concern origins. */
export interface CreateBreakersOptions {
  /**
   * Circuit breaker per origin (opossum), as the `breaker` option of `createFetch`. `false`: no breakers
   * (the registry then shares retry budgets only).
   * @default { errorThresholdPercentage: 50, resetTimeout: 30000, volumeThreshold: 10, rollingCountTimeout: 10000, rollingCountBuckets: 10 }
   * @example createBreakers({ breaker: { resetTimeout: 5_000 } })
   */
  breaker?: BreakerOptions | false;
  /**
   * Most origins kept. When full, the least recently used origin with a closed breaker is dropped; open
   * and half-open breakers are dropped only when all are open or half-open, the first opened first.
   * @default 1000
   * @example createBreakers({ maxBreakers: 100 })
   */
  maxBreakers?: number;
  /**
   * Retry budget per origin, shared by every wrapper of the registry (their calls and retries count
   * together), as the `retryBudget` option of `createFetch`. `false` disables it.
   * @default { ratio: 0.1, minPerSecond: 1, windowMs: 10000 }
   * @example createBreakers({ retryBudget: { ratio: 0.2 } })
   */
  retryBudget?: RetryBudgetOptions | false;
  /**
   * Adaptive throttling per origin, shared by every wrapper of the registry (their attempts count
   * together), as the `adaptiveThrottle` option of `createFetch`.
   * @default false
   * @example createBreakers({ adaptiveThrottle: { k: 2 } })
   */
  adaptiveThrottle?: AdaptiveThrottleOptions | boolean;
  /**
   * Called when an origin's breaker opens, goes half-open or closes. A hook that throws is ignored.
   * @default undefined
   * @example createBreakers({ onBreakerStateChange: (e) => log.warn(e, 'breaker') })
   */
  onBreakerStateChange?: (event: BreakerStateEvent) => void;
}

const LABEL = 'createBreakers: options.';
const NAMES = new Set(['breaker', 'maxBreakers', 'retryBudget', 'onBreakerStateChange', 'adaptiveThrottle']);

/** Options of `createFetch` that belong to the registry when `breakers` is given. */
export const REGISTRY_OPTION_NAMES: readonly string[] = [...NAMES];

/**
 * The pool behind each registry. Kept apart from the class so that its public declaration names no
 * opossum type: a user of `bulwark/client` needs no `@types/opossum`.
 */
const POOLS = new WeakMap<BreakerRegistry, OriginPool | undefined>();

/**
 * Breakers and budgets per origin, shared by the wrappers given it as `createFetch({ breakers })`. Made by
 * {@link createBreakers} (one made with `new` is refused by `createFetch`).
 */
export class BreakerRegistry {
  /** Number of origins held (at most `maxBreakers`). */
  get size(): number {
    return POOLS.get(this)?.size ?? 0;
  }

  /** Shuts down every breaker and forgets every origin (their state starts afresh). */
  clear(): void {
    POOLS.get(this)?.clear();
  }
}

/** Whether `value` is a registry that {@link createBreakers} made. @internal */
export function isBreakerRegistry(value: unknown): value is BreakerRegistry {
  return value instanceof BreakerRegistry && POOLS.has(value);
}

/** The pool that a wrapper given `registry` uses. @internal */
export function poolOf(registry: BreakerRegistry): OriginPool | undefined {
  return POOLS.get(registry);
}

/**
 * Creates a registry of per-origin breakers (and retry budgets) for several `createFetch` wrappers: once
 * one wrapper has opened an origin's breaker, every wrapper of the registry fails fast on it with
 * `circuit_open`. A wrapper given `breakers` takes none of `breaker`, `maxBreakers`, `retryBudget`,
 * `adaptiveThrottle`, `onBreakerStateChange` itself (a `TypeError` says so).
 *
 * @example
 * ```ts
 * import { createBreakers, createFetch } from 'bulwark/client';
 *
 * const breakers = createBreakers({ breaker: { resetTimeout: 10_000 }, maxBreakers: 200 });
 * const payments = createFetch({ breakers, retries: 2 });
 * const search = createFetch({ breakers, timeoutMs: 1_000 });
 * ```
 */
export function createBreakers(options: CreateBreakersOptions = {}): BreakerRegistry {
  if (typeof options !== 'object' || options === null) throw new TypeError('createBreakers: options must be an object');
  for (const key of Object.keys(options)) {
    if (!NAMES.has(key)) throw new TypeError(`createBreakers: unknown option ${JSON.stringify(key)}`);
  }
  const breaker = validateBreaker(options.breaker, LABEL);
  const budget = validateBudget(options.retryBudget, LABEL);
  const max = options.maxBreakers ?? 1000;
  need(Number.isSafeInteger(max) && max > 0, 'maxBreakers', 'a positive integer', LABEL);
  const onStateChange = options.onBreakerStateChange;
  need(onStateChange === undefined || typeof onStateChange === 'function', 'onBreakerStateChange', 'a function', LABEL);
  const adaptive = validateAdaptive(options.adaptiveThrottle, LABEL);
  const pool =
    breaker === false && budget === false && adaptive === false
      ? undefined
      : new OriginPool({ max, breaker, budget, adaptive, onStateChange });
  const registry = new BreakerRegistry();
  POOLS.set(registry, pool);
  return registry;
}
