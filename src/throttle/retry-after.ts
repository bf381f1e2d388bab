/**
 * Whole microseconds in a duration of `ms` milliseconds, rounded up. A store's milliseconds are whole
 * microseconds divided by 1000 (bulwark's are), so this gives back exactly those microseconds; the
 * 10^-6 absorbs the rounding of `ms * 1000`.
 */
function micros(ms: number): number {
  return Math.max(0, Math.ceil(ms * 1000 - 1e-6));
}

/** Whole seconds in `us` whole microseconds, rounded up (integer arithmetic: exact at any magnitude). */
function ceilDiv(us: number): number {
  const q = Math.floor(us / 1e6);
  return q * 1e6 < us ? q + 1 : q;
}

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
  return Math.max(ceilDiv(micros(ms)), 1);
}

/** Whole seconds (rounded up, never negative) for a duration in milliseconds: "until" header values. */
export function ceilSeconds(ms: number): number {
  return ceilDiv(micros(ms));
}

/** Whole seconds (rounded down, never negative) for a duration in milliseconds: "within" header values. */
export function floorSeconds(ms: number): number {
  const us = micros(ms);
  const q = Math.floor(us / 1e6);
  return q * 1e6 > us ? q - 1 : q;
}
