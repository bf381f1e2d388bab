import { divFloor, mulDivMod, quotient, remainder } from './exact.js';
import type { RateRequest, RateResult } from './store.js';

/**
 * A theoretical arrival time held exactly: `us + frac / limit` microseconds since the Unix epoch, with
 * `us` an integer and `0 <= frac < limit` (the emission interval `windowMs * 1000 / limit` microseconds
 * is a fraction of denominator `limit`, so every arrival time is one too).
 */
export interface Tat {
  us: number;
  frac: number;
}

/** The outcome of one GCRA step: the result and, when something is consumed, the new arrival time. */
export interface GcraStep {
  result: RateResult;
  /** Whether the new arrival time (`us`, `frac`) is to be stored. */
  store: boolean;
  us: number;
  frac: number;
}

/**
 * One decision of the generic cell rate algorithm (token bucket semantics without timers): the bucket
 * holds `burst` units and refills at `limit` units per `windowMs`. The state is the theoretical arrival
 * time (when the bucket would be full again), kept as an exact fraction: no rate loses or invents a unit,
 * whatever the clock's magnitude. Every intermediate value is an integer below 2^53, given the limiter's
 * bounds (`limit`, `burst` <= 999,999,999,999,999; `windowMs * 1000` and the bucket's refill time in
 * microseconds <= 2^50).
 *
 * Guarantee: over any span of `windowMs` (closed), at most `limit + burst` units are admitted.
 *
 * @param tat the stored arrival time, or undefined for an unknown key
 * @param now the current time in whole microseconds
 */
export function gcraStep(tat: Tat | undefined, now: number, request: RateRequest): GcraStep {
  const limit = request.limit;
  const burst = request.burst;
  const cost = request.cost;
  const w = request.windowMs * 1000;
  // The bucket's capacity as time: burst * w / limit microseconds.
  mulDivMod(burst, w, limit);
  const capQ = quotient;
  const capR = remainder;
  // Time already used: max(tat, now) - now.
  let usedQ = 0;
  let usedR = 0;
  if (tat !== undefined && tat.us >= now) {
    usedQ = tat.us - now;
    usedR = tat.frac;
    // A key written under another limit (two limiters sharing a name): round its fraction up.
    if (usedR >= limit) {
      usedQ += 1;
      usedR = 0;
    }
  }
  if (cost <= burst) {
    mulDivMod(cost, w, limit);
    let diffQ = usedQ + quotient;
    let diffR = usedR + remainder;
    if (diffR >= limit) {
      diffR -= limit;
      diffQ += 1;
    }
    if (diffQ < capQ || (diffQ === capQ && diffR <= capR)) {
      const result = outcome(true, capQ, capR, diffQ, diffR, limit, burst, w, 0);
      return { result, store: cost > 0, us: now + diffQ, frac: diffR };
    }
    let waitQ = diffQ - capQ;
    let waitR = diffR - capR;
    if (waitR < 0) {
      waitR += limit;
      waitQ -= 1;
    }
    const result = outcome(false, capQ, capR, usedQ, usedR, limit, burst, w, waitQ + (waitR > 0 ? 1 : 0));
    return { result, store: false, us: 0, frac: 0 };
  }
  return { result: outcome(false, capQ, capR, usedQ, usedR, limit, burst, w, -1), store: false, us: 0, frac: 0 };
}

/**
 * The result for a bucket that has used `usedQ + usedR / limit` microseconds of its capacity after the
 * decision: whole units left, microseconds until one more unit is there and until it is full.
 */
function outcome(
  allowed: boolean,
  capQ: number,
  capR: number,
  usedQ: number,
  usedR: number,
  limit: number,
  burst: number,
  w: number,
  retryUs: number,
): RateResult {
  // Free time: capacity - used.
  let freeQ = capQ - usedQ;
  let freeR = capR - usedR;
  if (freeR < 0) {
    freeR += limit;
    freeQ -= 1;
  }
  // Whole units in the free time: floor(free * limit / w).
  mulDivMod(freeQ, limit, w);
  const remaining = quotient + divFloor(remainder + freeR, w);
  let nextUs = 0;
  if (remaining < burst) {
    // One more unit when the free time reaches (remaining + 1) intervals.
    mulDivMod(remaining + 1, w, limit);
    let gapQ = quotient - freeQ;
    let gapR = remainder - freeR;
    if (gapR < 0) {
      gapR += limit;
      gapQ -= 1;
    }
    nextUs = gapQ + (gapR > 0 ? 1 : 0);
  }
  return {
    allowed,
    remaining,
    resetMs: (usedQ + (usedR > 0 ? 1 : 0)) / 1000,
    retryAfterMs: retryUs <= 0 ? retryUs : retryUs / 1000,
    nextMs: nextUs / 1000,
  };
}

/**
 * Gives an admitted request's units back to its bucket, in place: the arrival time moves back by the
 * request's cost (`cost * windowMs / limit`, exactly), never before `now`, so the bucket never holds more
 * than `burst` and units that refilled since the request are not given twice. Whether anything was given
 * back (false when the bucket is already full again).
 *
 * @param tat the key's stored arrival time, updated in place (below `now` afterwards: the bucket is full)
 * @param now the current time in whole microseconds
 */
export function gcraRefund(tat: Tat, now: number, request: RateRequest): boolean {
  const limit = request.limit;
  if (tat.us < now || (tat.us === now && tat.frac === 0)) return false;
  // A cell written under another limit (two limiters sharing a name): round its fraction up.
  if (tat.frac >= limit) {
    tat.us += 1;
    tat.frac = 0;
  }
  mulDivMod(request.cost, request.windowMs * 1000, limit);
  let us = tat.us - quotient;
  let frac = tat.frac - remainder;
  if (frac < 0) {
    frac += limit;
    us -= 1;
  }
  if (us < now) {
    tat.us = now - 1;
    tat.frac = 0;
  } else {
    tat.us = us;
    tat.frac = frac;
  }
  return request.cost > 0;
}
