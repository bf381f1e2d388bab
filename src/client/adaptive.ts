import { SlidingCounts } from './sliding-counts.js';

/**
 * Client-side adaptive throttling, as the Google SRE book describes it ("Handling Overload"): over a
 * sliding window, each origin counts the attempts the client asked for (`requests`, the ones it refused
 * itself included) and the ones the origin accepted (`accepts`), and refuses a new attempt locally with
 * probability `max(0, (requests - k * accepts) / (requests + 1))`. While the origin accepts at least one
 * attempt in `k`, nothing is refused; past that, the client sheds the excess itself, and the origin sees
 * about `k` times what it accepts.
 */

/** Options of adaptive throttling (`createFetch({ adaptiveThrottle })`). */
export interface AdaptiveThrottleOptions {
  /**
   * The multiplier `k`: attempts are refused locally once `requests` exceeds `k * accepts`. Lower is
   * more aggressive (the SRE book suggests 2; 1.1 sheds almost everything the origin would refuse).
   * @default 2
   * @example { adaptiveThrottle: { k: 1.5 } }
   */
  k?: number;
  /**
   * Length of the sliding window in milliseconds (ten slots).
   * @default 120000 (the SRE book's two minutes)
   * @example { adaptiveThrottle: { windowMs: 30_000 } }
   */
  windowMs?: number;
  /**
   * The source of randomness for the refusal draw, a function returning a number in `[0, 1)` like
   * `Math.random` (give a seeded one to make tests repeatable).
   * @default Math.random
   * @example { adaptiveThrottle: { random: seededRandom(42) } }
   */
  random?: () => number;
}

/**
 * The counts of one origin, in ten slots that slide with the clock (no timer).
 *
 * @example
 * ```ts
 * const throttle = new AdaptiveThrottle({ k: 2, windowMs: 120_000, random: Math.random });
 * const p = throttle.refuses();
 * if (p > 0) throw new LoadShedError(origin, p);
 * throttle.record(accepted);
 * ```
 */
export class AdaptiveThrottle {
  readonly #k: number;
  readonly #random: () => number;
  /** Requests (first) and accepts (second) over the window. */
  readonly #counts: SlidingCounts;

  constructor(options: Required<AdaptiveThrottleOptions>) {
    this.#k = options.k;
    this.#random = options.random;
    this.#counts = new SlidingCounts(options.windowMs);
  }

  /** The probability that the next attempt is refused locally. */
  probability(now: number = Date.now()): number {
    const requests = this.#counts.first(now);
    return Math.max(0, (requests - this.#k * this.#counts.second(now)) / (requests + 1));
  }

  /**
   * Draws whether the next attempt is refused: the refusal probability when it is (a refusal counts as a
   * request, not accepted), else 0.
   */
  refuses(now: number = Date.now()): number {
    const p = this.probability(now);
    if (p <= 0 || this.#random() >= p) return 0;
    this.record(false, now);
    return p;
  }

  /** Counts an attempt that ended: `accepted` when the origin answered it other than with 429, 5xx or no answer. */
  record(accepted: boolean, now: number = Date.now()): void {
    this.#counts.addFirst(now, accepted);
  }
}
