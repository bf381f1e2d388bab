import { TIME_EPSILON_MS } from './gcra.js';

/**
 * The `Retry-After` value, in whole seconds, for a wait of `ms` milliseconds: at least 1, rounded up,
 * so that a retry after exactly that many seconds is admitted and one a second earlier is not.
 *
 * @example
 * ```ts
 * retryAfterSeconds(1);    // 1
 * retryAfterSeconds(1000); // 1
 * retryAfterSeconds(1001); // 2
 * ```
 */
export function retryAfterSeconds(ms: number): number {
  const seconds = Math.ceil((ms - TIME_EPSILON_MS) / 1000);
  return Math.max(seconds, 1);
}

/** Whole seconds (rounded up, never negative) for a duration in milliseconds: header `reset` values. */
export function ceilSeconds(ms: number): number {
  const seconds = Math.ceil((ms - TIME_EPSILON_MS) / 1000);
  return Math.max(seconds, 0);
}
