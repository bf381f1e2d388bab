import type { RateRequest, RateResult } from './store.js';

/**
 * Slack, in milliseconds, for float comparisons of times (both the memory store and the Redis script
 * use it, and Retry-After rounding takes it into account so that "admitted after exactly Retry-After
 * seconds" holds).
 */
export const TIME_EPSILON_MS = 1e-3;

/** The outcome of one GCRA step: the result and the new theoretical arrival time to store (if any). */
export interface GcraStep {
  result: RateResult;
  /** The new theoretical arrival time, or undefined when nothing is consumed. */
  tat: number | undefined;
}

/**
 * One decision of the generic cell rate algorithm (token bucket semantics without timers): the bucket
 * holds `burst` units and refills at `limit` units per `windowMs`. The state is one number, the
 * theoretical arrival time `tat` (when the bucket would be full again).
 *
 * Guarantee: over any span of `windowMs`, at most `limit + burst` units are admitted.
 *
 * @param tat the stored theoretical arrival time, or undefined for an unknown key
 * @param now the current time in milliseconds
 */
export function gcraStep(tat: number | undefined, now: number, request: RateRequest): GcraStep {
  const interval = request.windowMs / request.limit;
  const capacity = request.burst * interval;
  const base = tat === undefined || tat < now ? now : tat;
  const used = base - now;
  const remainingBefore = units(capacity - used, interval);
  if (request.cost > request.burst) {
    return { result: { allowed: false, remaining: remainingBefore, resetMs: used, retryAfterMs: -1 }, tat: undefined };
  }
  const next = base + request.cost * interval;
  const diff = next - now;
  if (diff <= capacity + TIME_EPSILON_MS) {
    return {
      result: { allowed: true, remaining: units(capacity - diff, interval), resetMs: diff, retryAfterMs: 0 },
      tat: request.cost > 0 ? next : undefined,
    };
  }
  return {
    result: { allowed: false, remaining: remainingBefore, resetMs: used, retryAfterMs: diff - capacity },
    tat: undefined,
  };
}

/** Whole units that fit in `time` (floored, with a little slack for float error; never negative). */
function units(time: number, interval: number): number {
  const n = Math.floor(time / interval + 1e-6);
  return Math.max(n, 0);
}
