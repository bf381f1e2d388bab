/**
 * Exact integer arithmetic on JavaScript numbers for the rate-limit algorithms: every value is an
 * integer below 2^53, and `a * b / m` is computed without ever forming a product that a double cannot
 * hold. The Redis scripts carry the same code in Lua (src/stores/redis/throttle.ts), whose numbers are
 * doubles too.
 */

/**
 * The largest modulus {@link mulDivMod} accepts: 2^50. Limits, bursts and windows in microseconds are
 * kept at or below it by the limiter's option checks.
 */
export const MAX_MODULUS = 2 ** 50;

/** Below this, a product of two integers and its quotient correction stay exact (2^52). */
const EXACT = 2 ** 52;

/** The quotient of the last {@link mulDivMod}. */
export let quotient = 0;
/** The remainder of the last {@link mulDivMod}. */
export let remainder = 0;

/** `x / m` floored, for integers 0 <= x <= 2^52 and 1 <= m <= 2^50: one division, corrected by one. */
export function divFloor(x: number, m: number): number {
  let q = Math.floor(x / m);
  const r = x - q * m;
  if (r < 0) q -= 1;
  else if (r >= m) q += 1;
  return q;
}

/**
 * Sets {@link quotient} and {@link remainder} to the quotient and remainder of `a * b` divided by `m`,
 * exactly (module variables rather than a returned pair, so that the hot path allocates nothing).
 * Requires non-negative integers `a` and `b` below 2^53, `1 <= m <=` {@link MAX_MODULUS}, and a
 * quotient below 2^53.
 */
export function mulDivMod(a: number, b: number, m: number): void {
  const p = a * b;
  if (p <= EXACT) {
    const q = divFloor(p, m);
    quotient = q;
    remainder = p - q * m;
    return;
  }
  // a * b = a * (bq * m + br) = a * bq * m + a * br, with br < m.
  const bq = divFloor(b, m);
  const br = b - bq * m;
  // a * br in base `step` digits of a (most significant first): each step keeps rr * step + d * br <= 2^52.
  let step = 2;
  while (step * 4 * m <= EXACT) step *= 2;
  const digits: number[] = [];
  for (let rest = a; rest > 0; rest = Math.floor(rest / step)) digits.push(rest % step);
  let qq = 0;
  let rr = 0;
  for (let i = digits.length - 1; i >= 0; i--) {
    const x = rr * step + digits[i]! * br;
    const t = divFloor(x, m);
    qq = qq * step + t;
    rr = x - t * m;
  }
  quotient = a * bq + qq;
  remainder = rr;
}
