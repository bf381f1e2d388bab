import { SlidingCounts } from './sliding-counts.js';
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
  /** Calls (first) and retries (second) over the window. */
  readonly #counts: SlidingCounts;

  constructor(options: Required<RetryBudgetOptions>) {
    this.#ratio = options.ratio;
    this.#floor = (options.minPerSecond * options.windowMs) / 1000;
    this.#counts = new SlidingCounts(options.windowMs);
  }

  /** Counts one call (its first attempt). */
  recordCall(now: number = Date.now()): void {
    this.#counts.addFirst(now);
  }

  /** Takes one retry from the budget; false when the budget is spent (the retry must not happen). */
  tryRetry(now: number = Date.now()): boolean {
    const allowed = Math.max(this.#ratio * this.#counts.first(now), this.#floor);
    if (this.#counts.second(now) + 1 > allowed) return false;
    this.#counts.addSecond(now);
    return true;
  }
}
