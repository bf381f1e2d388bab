import { LRUCache } from 'lru-cache';
import { gcraRefund, gcraStep, type Tat } from '../../throttle/gcra.js';
import { type SlidingLog, slidingRemove, slidingStep } from '../../throttle/sliding-window.js';
import {
  periodIndex,
  type RateReceipt,
  type RateRequest,
  type RateResult,
  type RefundResult,
  type SpendReceipt,
  type SpendRequest,
  type SpendResult,
  type ThrottleStore,
} from '../../throttle/store.js';
import type { MemoryStoreOptions } from './index.js';

/** A clock in milliseconds. */
export type Clock = () => number;

/** Monotonic wall-clock milliseconds with sub-millisecond precision. */
const defaultClock: Clock = () => performance.timeOrigin + performance.now();

interface SpendCounter {
  used: number;
  expiresAt: number;
}

/** A recorded spend, to refund once: the counters it went into (their period instances) and its cost. */
class MemorySpendReceipt {
  open = true;
  constructor(
    readonly store: MemoryThrottleStore,
    readonly keys: readonly string[],
    readonly cost: number,
    readonly expiresAt: number,
    /** Its name in the store's receipts (a named receipt), or undefined. */
    readonly name: string | undefined,
  ) {}
}

/** An admitted rate-limit request, to refund once: its bucket, its cost and (sliding window) its entry's time. */
class MemoryRateReceipt {
  open = true;
  constructor(
    readonly store: MemoryThrottleStore,
    readonly request: RateRequest,
    readonly at: number,
  ) {}
}

const NOT_REFUNDED: RefundResult = Object.freeze({ refunded: false });
const REFUNDED: RefundResult = Object.freeze({ refunded: true });

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
  /** Named spend receipts (see `SpendRequest.receiptId`), at most `max`. */
  readonly #receipts: LRUCache<string, MemorySpendReceipt>;
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
    this.#receipts = new LRUCache({ max: options.max });
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
      if (result.allowed && request.cost > 0) result.receipt = new MemoryRateReceipt(this, request, now);
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
      step.result.receipt = new MemoryRateReceipt(this, request, now);
    }
    return step.result;
  }

  refundRate(receipt: RateReceipt): RefundResult {
    if (!(receipt instanceof MemoryRateReceipt) || receipt.store !== this || !receipt.open) return NOT_REFUNDED;
    receipt.open = false;
    const { request } = receipt;
    const held = this.#rates.peek(request.key);
    if (held === undefined) return NOT_REFUNDED;
    const now = Math.round(this.#now() * 1000);
    if (request.algorithm === 'sliding-window') {
      if (!Array.isArray(held) || !slidingRemove(held, receipt.at, request.cost)) return NOT_REFUNDED;
      if (held.length === 0) this.#rates.delete(request.key);
      return REFUNDED;
    }
    if (Array.isArray(held)) return NOT_REFUNDED;
    const refunded = gcraRefund(held, now, request);
    if (refunded && held.us < now) this.#rates.delete(request.key);
    return refunded ? REFUNDED : NOT_REFUNDED;
  }

  spend(request: SpendRequest): SpendResult {
    const now = this.#now();
    const today = this.#calendarNow();
    const counters = request.counters.map((c) => {
      const key = `${request.key}\u0000${c.periods[periodIndex(c.starts, today)]}`;
      const held = this.#spends.get(key);
      return { key, spec: c, used: held !== undefined && held.expiresAt > now ? held.used : 0 };
    });
    const name = request.receiptId !== undefined ? `${request.key}\u0000${request.receiptId}` : undefined;
    if (name !== undefined && request.force !== true) {
      const held = this.#receipts.get(name);
      if (held?.open && held.expiresAt > now) return { allowed: true, exceeded: -1, used: counters.map((c) => c.used), retried: true };
    }
    const exceeded = request.force === true ? -1 : counters.findIndex((c) => c.used + request.cost > c.spec.limit);
    if (exceeded !== -1) return { allowed: false, exceeded, used: counters.map((c) => c.used) };
    const result: SpendResult = { allowed: true, exceeded: -1, used: counters.map((c) => c.used + request.cost) };
    if (request.cost > 0) {
      for (const c of counters) {
        this.#spends.set(c.key, { used: c.used + request.cost, expiresAt: now + c.spec.ttlMs });
      }
      const ttl = request.receiptTtlMs;
      if (ttl !== undefined) {
        const receipt = new MemorySpendReceipt(
          this,
          counters.map((c) => c.key),
          request.cost,
          now + ttl,
          name,
        );
        if (name !== undefined) this.#receipts.set(name, receipt);
        result.receipt = receipt;
      }
    }
    return result;
  }

  refundSpend(receipt: SpendReceipt): RefundResult {
    if (!(receipt instanceof MemorySpendReceipt) || receipt.store !== this || !receipt.open) return NOT_REFUNDED;
    receipt.open = false;
    if (receipt.name !== undefined && this.#receipts.peek(receipt.name) === receipt) this.#receipts.delete(receipt.name);
    const now = this.#now();
    if (receipt.expiresAt <= now) return NOT_REFUNDED;
    let refunded = false;
    for (const key of receipt.keys) {
      // The counter of the period the spend went into, whatever period the clock is in now.
      const held = this.#spends.peek(key);
      if (held === undefined || held.expiresAt <= now || held.used === 0) continue;
      held.used = Math.max(0, held.used - receipt.cost);
      refunded = true;
    }
    return refunded ? REFUNDED : NOT_REFUNDED;
  }
}
