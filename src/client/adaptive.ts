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

const SLOTS = 10;

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
  readonly #slotMs: number;
  readonly #requests = new Float64Array(SLOTS);
  readonly #accepts = new Float64Array(SLOTS);
  #requestCount = 0;
  #acceptCount = 0;
  #slot: number;

  constructor(options: Required<AdaptiveThrottleOptions>) {
    this.#k = options.k;
    this.#random = options.random;
    this.#slotMs = options.windowMs / SLOTS;
    this.#slot = Math.floor(Date.now() / this.#slotMs);
  }

  /** The probability that the next attempt is refused locally. */
  probability(now: number = Date.now()): number {
    this.#advance(now);
    return Math.max(0, (this.#requestCount - this.#k * this.#acceptCount) / (this.#requestCount + 1));
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
    const index = this.#advance(now);
    this.#requests[index]! += 1;
    this.#requestCount += 1;
    if (accepted) {
      this.#accepts[index]! += 1;
      this.#acceptCount += 1;
    }
  }

  #advance(now: number): number {
    const slot = Math.floor(now / this.#slotMs);
    if (slot > this.#slot) {
      const expired = Math.min(slot - this.#slot, SLOTS);
      for (let step = 1; step <= expired; step++) {
        const index = (this.#slot + step) % SLOTS;
        this.#requestCount -= this.#requests[index]!;
        this.#acceptCount -= this.#accepts[index]!;
        this.#requests[index] = 0;
        this.#accepts[index] = 0;
      }
      this.#slot = slot;
    }
    return this.#slot % SLOTS;
  }
}
