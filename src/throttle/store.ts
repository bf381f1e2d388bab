/**
 * The throttle side of a store: what `rateLimit` and `spendCap` ask of it. `MemoryStore` and
 * `RedisStore` implement it; a third-party store implements it and proves it with `storeContract`.
 */

/** The rate-limit algorithms. */
export type Algorithm = 'gcra' | 'sliding-window';

/** One rate-limit decision asked of a store. */
export interface RateRequest {
  /** The full key (already namespaced by the limiter). */
  key: string;
  /** `gcra`: token bucket semantics; `sliding-window`: an exact log of the last `windowMs`. */
  algorithm: Algorithm;
  /** Units admitted per `windowMs` (the steady rate). */
  limit: number;
  /** Window length in milliseconds. */
  windowMs: number;
  /** GCRA bucket size: most units admitted at once. Equal to `limit` for the sliding window. */
  burst: number;
  /** Units this request costs (a non-negative integer). */
  cost: number;
}

/** A store's answer to a {@link RateRequest}. */
export interface RateResult {
  /** Whether the request is admitted (and its cost consumed). A rejected request consumes nothing. */
  allowed: boolean;
  /** Units still available right after this decision. */
  remaining: number;
  /** Milliseconds until the bucket (or window) is full again. */
  resetMs: number;
  /**
   * When rejected: milliseconds until this same request would be admitted (> 0), or -1 when it never
   * can be (its cost exceeds the bucket). 0 when allowed.
   */
  retryAfterMs: number;
  /**
   * Milliseconds until more than `remaining` units are available (one more unit refilled, or a sliding
   * window's oldest entry expired); 0 when the bucket is full. Optional for stores of other authors: the
   * rate-limit headers fall back to `resetMs` (allowed) or `retryAfterMs` (refused) without it.
   */
  nextMs?: number;
  /**
   * What {@link ThrottleStore.refundRate} needs to give this request's units back: set by a store that can
   * refund, on an admitted request of a positive cost. Opaque to the caller.
   */
  receipt?: RateReceipt;
}

/** A store's token for one admitted rate-limit request, to refund it; opaque outside the store. */
export type RateReceipt = object;

/** A store's token for one recorded spend, to refund it once; opaque outside the store. */
export type SpendReceipt = object;

/** One spend decision: add `cost` to every counter only if each stays within its limit. */
export interface SpendRequest {
  /** The spender's key (already namespaced); every counter of one decision lives under it. */
  key: string;
  /**
   * One counter per calendar period. `periods` names the previous, current and next period instance
   * by the application's clock (`d2025-03-14`, `m2025-03`; letters, digits and `-` only) and `starts`
   * where the current and the next one begin (epoch milliseconds): the store counts in the period that
   * its own clock is in (`periods[0]` before `starts[0]`, `periods[2]` from `starts[1]` on), so that
   * processes whose clocks disagree near midnight still share one counter. `ttlMs` is how long the
   * counter must outlive its last write.
   */
  counters: ReadonlyArray<{ periods: readonly [string, string, string]; starts: readonly [number, number]; limit: number; ttlMs: number }>;
  /** Amount this request spends (a non-negative integer). */
  cost: number;
  /**
   * Ask for a {@link SpendResult.receipt}, kept for this many milliseconds (a refund after that refunds
   * nothing). Without it (a peek, a cap that never refunds) the store writes nothing but the counters.
   */
  receiptTtlMs?: number;
  /**
   * Names the receipt (letters, digits, `-`, `_`; at most 64): the spend cap passes a hash of the
   * request's `Idempotency-Key`. While a receipt of this name is held under `key` (a spend of the same
   * name, not refunded, within its `receiptTtlMs`), the spend is a retry of one already charged: it is
   * admitted without charging anything and without a receipt of its own (`retried: true`), whatever
   * room is left, so that the idempotency guard can replay it or answer 409.
   */
  receiptId?: string;
  /** Record the spend even past the limits (work already done); with `receiptId`, hold its receipt again. */
  force?: boolean;
}

/**
 * Which of a counter's periods a store's clock reading `now` falls in: 0, 1 or 2 (see
 * {@link SpendRequest.counters}).
 */
export function periodIndex(starts: readonly [number, number], now: number): 0 | 1 | 2 {
  return now < starts[0] ? 0 : now < starts[1] ? 1 : 2;
}

/** A store's answer to a {@link SpendRequest}. */
export interface SpendResult {
  /** Whether the spend was recorded. A refused spend records nothing. */
  allowed: boolean;
  /** Index in `counters` of the first counter that would be exceeded; -1 when allowed. */
  exceeded: number;
  /** Each counter's total after this decision. */
  used: number[];
  /**
   * When the spend was recorded with a positive cost and `receiptTtlMs` was asked: the token that
   * {@link ThrottleStore.refundSpend} takes to give it back, in the period instances it went into.
   */
  receipt?: SpendReceipt;
  /** The spend was a retry of one already charged under the same `receiptId`: nothing was added. */
  retried?: boolean;
}

/** A store's answer to a refund. */
export interface RefundResult {
  /**
   * Whether this call gave the amount back. False for a receipt already refunded (a refund applied twice
   * refunds once), one that expired, or one whose counters or bucket already emptied on their own.
   */
  refunded: boolean;
}

/**
 * The throttle side of a store. Methods may answer synchronously (the memory store does, so that a
 * decision costs no promise) or with a promise; a promise must settle within the store's own deadline
 * and reject (never hang) when the backing service is unavailable.
 */
export interface ThrottleStore {
  /** Makes one rate-limit decision atomically. */
  consume(request: RateRequest): RateResult | Promise<RateResult>;
  /** Makes one spend decision atomically. */
  spend(request: SpendRequest): SpendResult | Promise<SpendResult>;
  /**
   * Gives a recorded spend back, atomically and once: every counter it went into (the same period
   * instances, whatever the clock says now) goes down by its cost, never below zero. A receipt refunded
   * before refunds nothing. Optional for stores of other authors (a spend cap on a store without it
   * never refunds, and says so once); `throttleStoreContract` checks it when present.
   */
  refundSpend?(receipt: SpendReceipt): RefundResult | Promise<RefundResult>;
  /**
   * Gives an admitted request's units back: GCRA returns them to the bucket (exactly, never past the
   * burst: the units that have refilled since are not given twice), the sliding window removes the
   * request's entry. Optional, as `refundSpend`.
   */
  refundRate?(receipt: RateReceipt): RefundResult | Promise<RefundResult>;
}

/** Anything that has a throttle side: `MemoryStore`, `RedisStore`, or a store of your own. */
export interface HasThrottleStore {
  readonly throttle: ThrottleStore;
}

/** Whether `value` is a store with a usable throttle side. @internal */
export function isThrottleStoreHolder(value: unknown): value is HasThrottleStore {
  if (typeof value !== 'object' || value === null) return false;
  const throttle = (value as { throttle?: unknown }).throttle;
  return (
    typeof throttle === 'object' &&
    throttle !== null &&
    typeof (throttle as ThrottleStore).consume === 'function' &&
    typeof (throttle as ThrottleStore).spend === 'function'
  );
}
