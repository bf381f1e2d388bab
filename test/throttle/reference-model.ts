/**
 * Reference models of bulwark's rate-limit algorithms in exact integer arithmetic (BigInt, no bound):
 * GCRA as redis-cell documents it (a theoretical arrival time, an emission interval, a delay variation
 * tolerance), with time scaled by `limit` so that the emission interval `windowMs * 1000 / limit`
 * microseconds is an integer; and the sliding window as a plain log. Results are in whole microseconds
 * (durations rounded up), the stores' results times 1000.
 */
export interface ModelResult {
  allowed: boolean;
  remaining: number;
  resetUs: number;
  retryUs: number;
  nextUs: number;
}

export interface ModelSpec {
  limit: number;
  windowMs: number;
  burst: number;
}

const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b;

/** GCRA: time unit 1/limit microsecond; emission interval `w`, tolerance `burst * w`. */
export class GcraModel {
  #tat: bigint | undefined;
  readonly #l: bigint;
  readonly #i: bigint;
  readonly #cap: bigint;
  readonly #burst: bigint;

  constructor(spec: ModelSpec) {
    this.#l = BigInt(spec.limit);
    this.#i = BigInt(spec.windowMs) * 1000n;
    this.#burst = BigInt(spec.burst);
    this.#cap = this.#burst * this.#i;
  }

  step(nowUs: number, cost: number): ModelResult {
    const now = BigInt(nowUs) * this.#l;
    const base = this.#tat !== undefined && this.#tat > now ? this.#tat : now;
    const used = base - now;
    const after = (allowed: boolean, usedAfter: bigint, retryUs: number): ModelResult => {
      const free = this.#cap - usedAfter;
      const remaining = free / this.#i;
      const nextUs = remaining < this.#burst ? Number(ceilDiv((remaining + 1n) * this.#i - free, this.#l)) : 0;
      return { allowed, remaining: Number(remaining), resetUs: Number(ceilDiv(usedAfter, this.#l)), retryUs, nextUs };
    };
    if (BigInt(cost) > this.#burst) return after(false, used, -1);
    const next = base + BigInt(cost) * this.#i;
    const diff = next - now;
    if (diff <= this.#cap) {
      if (cost > 0) this.#tat = next;
      return after(true, diff, 0);
    }
    return after(false, used, Number(ceilDiv(diff - this.#cap, this.#l)));
  }
}

/** The sliding window: admitted `[time, cost]` entries, each counting for `windowMs`. */
export class SlidingModel {
  #log: Array<[number, number]> = [];
  readonly #w: number;
  readonly #limit: number;

  constructor(spec: ModelSpec) {
    this.#w = spec.windowMs * 1000;
    this.#limit = spec.limit;
  }

  step(nowUs: number, cost: number): ModelResult {
    this.#log = this.#log.filter(([t]) => t + this.#w > nowUs);
    const used = this.#log.reduce((sum, [, c]) => sum + c, 0);
    const span = (entry: [number, number] | undefined) => (entry ? entry[0] + this.#w - nowUs : 0);
    const result = (allowed: boolean, retryUs: number): ModelResult => ({
      allowed,
      remaining: Math.max(0, this.#limit - this.#log.reduce((sum, [, c]) => sum + c, 0)),
      resetUs: span(this.#log[this.#log.length - 1]),
      retryUs,
      nextUs: span(this.#log[0]),
    });
    if (cost > this.#limit) return result(false, -1);
    if (used + cost <= this.#limit) {
      if (cost > 0) this.#log.push([nowUs, cost]);
      return result(true, 0);
    }
    let freed = 0;
    for (const [t, c] of this.#log) {
      freed += c;
      if (freed >= used + cost - this.#limit) return result(false, t + this.#w - nowUs);
    }
    return result(false, this.#w);
  }
}
