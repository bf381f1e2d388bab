/**
 * A retry budget for one origin: over a sliding window, retries may be at most `ratio` of the calls
 * made, or `minPerSecond` per second when that is more. An upstream that is down then sees at most
 * about `1 + ratio` times the offered load, however many retries each call may make.
 */

/** Options of the retry budget. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per call, on average over the window (0.1: one retry per ten calls).
   * @default 0.1
   * @example { ratio: 0.2 }
   */
  ratio?: number;
  /**
   * Retries always allowed per second, however few calls were made, so that a quiet client can still
   * retry.
   * @default 1
   * @example { minPerSecond: 5 }
   */
  minPerSecond?: number;
  /**
   * Length of the sliding window in milliseconds.
   * @default 10000
   * @example { windowMs: 60_000 }
   */
  windowMs?: number;
}

const SLOTS = 10;

/**
 * Counts calls and retries of one origin in ten slots that slide with the clock (no timer).
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ ratio: 0.1 });
 * budget.recordCall();
 * if (budget.tryRetry()) retry();
 * ```
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #floor: number;
  readonly #slotMs: number;
  readonly #calls = new Float64Array(SLOTS);
  readonly #retries = new Float64Array(SLOTS);
  #callCount = 0;
  #retryCount = 0;
  #slot = 0;

  constructor(options: Required<RetryBudgetOptions>) {
    this.#ratio = options.ratio;
    this.#floor = (options.minPerSecond * options.windowMs) / 1000;
    this.#slotMs = options.windowMs / SLOTS;
    this.#slot = Math.floor(Date.now() / this.#slotMs);
  }

  /** Counts one call (its first attempt). */
  recordCall(now: number = Date.now()): void {
    const index = this.#advance(now);
    this.#calls[index]! += 1;
    this.#callCount += 1;
  }

  /** Takes one retry from the budget; false when the budget is spent (the retry must not happen). */
  tryRetry(now: number = Date.now()): boolean {
    const index = this.#advance(now);
    const allowed = Math.max(this.#ratio * this.#callCount, this.#floor);
    if (this.#retryCount + 1 > allowed) return false;
    this.#retries[index]! += 1;
    this.#retryCount += 1;
    return true;
  }

  /** Moves the window to `now`, emptying the slots that fell out of it; returns the current slot. */
  #advance(now: number): number {
    const slot = Math.floor(now / this.#slotMs);
    if (slot > this.#slot) {
      const expired = Math.min(slot - this.#slot, SLOTS);
      for (let step = 1; step <= expired; step++) {
        const index = (this.#slot + step) % SLOTS;
        this.#callCount -= this.#calls[index]!;
        this.#retryCount -= this.#retries[index]!;
        this.#calls[index] = 0;
        this.#retries[index] = 0;
      }
      this.#slot = slot;
    }
    return this.#slot % SLOTS;
  }
}
