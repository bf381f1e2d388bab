import type { RateRequest, RateResult } from './store.js';

/**
 * The state of one sliding-window key: admitted requests as a flat list of `[time, cost]` pairs, times
 * in whole microseconds, oldest first. Its length is bounded by `limit` (every entry costs at least one unit).
 */
export type SlidingLog = number[];

/**
 * One decision of the exact sliding window: a request is admitted when the costs admitted during the
 * last `windowMs` plus its own stay within `limit`. An entry admitted at `t` counts until `t + windowMs`.
 * Times are whole microseconds, so every comparison is exact.
 *
 * Guarantee: over any span of `windowMs` (half-open), at most `limit` units are admitted.
 *
 * @param log the key's log; pruned and appended to in place
 * @param now the current time in whole microseconds
 */
export function slidingStep(log: SlidingLog, now: number, request: RateRequest): RateResult {
  const { limit, cost } = request;
  const w = request.windowMs * 1000;
  let drop = 0;
  while (drop < log.length && log[drop]! + w <= now) drop += 2;
  if (drop > 0) log.splice(0, drop);
  let used = 0;
  for (let i = 1; i < log.length; i += 2) used += log[i]!;
  // More than what is left becomes available when the oldest entry expires.
  const nextMs = log.length > 0 ? (log[0]! + w - now) / 1000 : 0;
  const resetMs = () => (log.length > 0 ? (log[log.length - 2]! + w - now) / 1000 : 0);
  if (cost > limit) {
    return { allowed: false, remaining: Math.max(0, limit - used), resetMs: resetMs(), retryAfterMs: -1, nextMs };
  }
  if (used + cost <= limit) {
    if (cost > 0) log.push(now, cost);
    return { allowed: true, remaining: limit - used - cost, resetMs: resetMs(), retryAfterMs: 0, nextMs: log.length > 0 ? (log[0]! + w - now) / 1000 : 0 };
  }
  const excess = used + cost - limit;
  let freed = 0;
  let retryUs = w;
  for (let i = 0; i < log.length; i += 2) {
    freed += log[i + 1]!;
    if (freed >= excess) {
      retryUs = log[i]! + w - now;
      break;
    }
  }
  return { allowed: false, remaining: Math.max(0, limit - used), resetMs: resetMs(), retryAfterMs: retryUs / 1000, nextMs };
}

/**
 * Removes one admitted entry (its time in whole microseconds and its cost) from a log, in place: the
 * refund of a sliding-window request. Whether it was there (false once it expired or was removed).
 */
export function slidingRemove(log: SlidingLog, at: number, cost: number): boolean {
  for (let i = 0; i < log.length; i += 2) {
    if (log[i] === at && log[i + 1] === cost) {
      log.splice(i, 2);
      return true;
    }
  }
  return false;
}
