import { LRUCache } from 'lru-cache';
import { gcraStep, type Tat } from '../../throttle/gcra.js';
import { type SlidingLog, slidingStep } from '../../throttle/sliding-window.js';
import { periodIndex, type RateRequest, type RateResult, type SpendRequest, type SpendResult, type ThrottleStore } from '../../throttle/store.js';
import type { MemoryStoreOptions } from './index.js';

/** A clock in milliseconds. */
export type Clock = () => number;

/** Monotonic wall-clock milliseconds with sub-millisecond precision. */
const defaultClock: Clock = () => performance.timeOrigin + performance.now();

interface SpendCounter {
  used: number;
  expiresAt: number;
}


/**
 * The throttle side of {@link MemoryStore}: per process, synchronous (a decision costs no promise),
 * bounded by `max` keys for rate limits and `max` counters for spend caps (least recently used first
 * out), no timer per key. GCRA keeps one exact arrival time per key (in a cell updated in place), so
 * windows of any length (30 days) cost nothing. Decisions take the clock in whole microseconds.
 */
export class MemoryThrottleStore implements ThrottleStore {
  /** Per key: a GCRA cell (its theoretical arrival time) or a sliding-window log, both updated in place. */
  readonly #rates: LRUCache<string, Tat | SlidingLog>;
  readonly #spends: LRUCache<string, SpendCounter>;
  readonly #now: Clock;
  /** The clock that picks a spend counter's calendar period: the wall clock, or the injected one. */
  readonly #calendarNow: Clock;

  /**
   * @param options the store's resolved options (`max`)
   * @param now the clock, in milliseconds; inject one in tests to control time
   * @default now `performance.timeOrigin + performance.now()`
   * @example
   * ```ts
   * let t = 0;
   * const throttle = new MemoryThrottleStore({ max: 1000 }, () => t);
   * rateLimit({ limit: 10, windowMs: 1000, store: { throttle } });
   * ```
   */
  constructor(
    readonly options: Readonly<Required<Pick<MemoryStoreOptions, 'max'>>>,
    now: Clock = defaultClock,
  ) {
    if (typeof now !== 'function') throw new TypeError('MemoryThrottleStore: now must be a function returning milliseconds');
    this.#rates = new LRUCache({ max: options.max });
    this.#spends = new LRUCache({ max: options.max });
    this.#now = now;
    this.#calendarNow = now === defaultClock ? Date.now : now;
  }

  /** Keys currently held for rate limits (never more than `max`). */
  get size(): number {
    return this.#rates.size;
  }

  consume(request: RateRequest): RateResult {
    // Whole microseconds: the algorithms' arithmetic is exact on integers.
    const now = Math.round(this.#now() * 1000);
    if (request.algorithm === 'sliding-window') {
      const held = this.#rates.get(request.key);
      const log: SlidingLog = Array.isArray(held) ? held : [];
      const result = slidingStep(log, now, request);
      if (log.length > 0) {
        if (held !== log) this.#rates.set(request.key, log);
      } else if (held !== undefined) {
        this.#rates.delete(request.key);
      }
      return result;
    }
    // One cache operation for a key already held: its cell is updated in place (get made it most recent).
    const held = this.#rates.get(request.key);
    const cell = held !== undefined && !Array.isArray(held) ? held : undefined;
    const step = gcraStep(cell, now, request);
    if (step.store) {
      if (cell !== undefined) {
        cell.us = step.us;
        cell.frac = step.frac;
      } else this.#rates.set(request.key, { us: step.us, frac: step.frac });
    }
    return step.result;
  }

  spend(request: SpendRequest): SpendResult {
    const now = this.#now();
    const today = this.#calendarNow();
    const counters = request.counters.map((c) => {
      const key = `${request.key}\u0000${c.periods[periodIndex(c.starts, today)]}`;
      const held = this.#spends.get(key);
      return { key, spec: c, used: held !== undefined && held.expiresAt > now ? held.used : 0 };
    });
    const exceeded = counters.findIndex((c) => c.used + request.cost > c.spec.limit);
    if (exceeded !== -1) return { allowed: false, exceeded, used: counters.map((c) => c.used) };
    if (request.cost > 0) {
      for (const c of counters) {
        this.#spends.set(c.key, { used: c.used + request.cost, expiresAt: now + c.spec.ttlMs });
      }
    }
    return { allowed: true, exceeded: -1, used: counters.map((c) => c.used + request.cost) };
  }
}
