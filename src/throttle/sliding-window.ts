import { TIME_EPSILON_MS } from './gcra.js';
import type { RateRequest, RateResult } from './store.js';

/**
 * The state of one sliding-window key: admitted requests as a flat list of `[time, cost]` pairs,
 * oldest first. Its length is bounded by `limit` (every entry costs at least one unit).
 */
export type SlidingLog = number[];

/**
 * One decision of the exact sliding window: a request is admitted when the costs admitted during the
 * last `windowMs` plus its own stay within `limit`. An entry admitted at `t` counts until `t + windowMs`.
 *
 * Guarantee: over any span of `windowMs`, at most `limit` units are admitted.
 *
 * @param log the key's log; pruned and appended to in place
 * @param now the current time in milliseconds
 */
export function slidingStep(log: SlidingLog, now: number, request: RateRequest): RateResult {
  const { limit, windowMs, cost } = request;
  let drop = 0;
  while (drop < log.length && log[drop]! + windowMs <= now + TIME_EPSILON_MS) drop += 2;
  if (drop > 0) log.splice(0, drop);
  let used = 0;
  for (let i = 1; i < log.length; i += 2) used += log[i]!;
  const resetAfter = (extraAt: number | undefined) => {
    const last = extraAt ?? (log.length > 0 ? log[log.length - 2]! : undefined);
    return last === undefined ? 0 : Math.max(0, last + windowMs - now);
  };
  if (cost > limit) {
    return { allowed: false, remaining: Math.max(0, limit - used), resetMs: resetAfter(undefined), retryAfterMs: -1 };
  }
  if (used + cost <= limit) {
    if (cost > 0) log.push(now, cost);
    return { allowed: true, remaining: limit - used - cost, resetMs: resetAfter(undefined), retryAfterMs: 0 };
  }
  const excess = used + cost - limit;
  let freed = 0;
  let retryAfterMs = windowMs;
  for (let i = 0; i < log.length; i += 2) {
    freed += log[i + 1]!;
    if (freed >= excess) {
      retryAfterMs = log[i]! + windowMs - now;
      break;
    }
  }
  return { allowed: false, remaining: Math.max(0, limit - used), resetMs: resetAfter(undefined), retryAfterMs };
}
