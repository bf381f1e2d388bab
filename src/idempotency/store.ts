import type { HeaderPairs } from '../guard/types.js';

/** A response kept for replay: status, the replayable headers, and the body bytes. */
export interface StoredResponse {
  status: number;
  /** The reason phrase the application chose, when it is not the standard one for `status`. */
  statusText?: string;
  headers: HeaderPairs;
  body: Uint8Array;
}

/**
 * What a completed key holds: the response to replay, or `null` when the response was too large to keep
 * (the request ran; it will not run again, and it cannot be replayed).
 */
export type CompletedResponse = StoredResponse | null;

/** The answer to a {@link IdempotencyStore.claim}. */
export type ClaimResult =
  /** The key was free (or its previous owner's lease ran out): the caller owns it now. */
  | { type: 'claimed' }
  /** Another request holds the key; its lease ends in `leaseRemainingMs`. */
  | { type: 'in_flight'; fingerprint: string; leaseRemainingMs: number }
  /** The key completed; `response` is what to replay (`null`: completed but not replayable). */
  | { type: 'completed'; fingerprint: string; response: CompletedResponse };

/**
 * What a store method gives back: a promise, or (for a store that never waits on I/O, like the memory
 * store) the answer itself. A synchronous answer saves the caller a timeout timer and a promise.
 */
export type StoreAnswer<T> = T | PromiseLike<T>;

/**
 * The idempotency side of a store. Every write is compare-and-set on the owner `token` given to
 * `claim`, so a stale owner (whose lease ran out and whose key was claimed again) can never overwrite
 * the newer owner's record. Keys arrive already scoped and hashed.
 *
 * Implementations reject (with `StoreUnavailableError` or any error) when they cannot answer, or throw
 * when they answer synchronously; the engine turns that into a 503. Callers `await` every answer.
 */
export interface IdempotencyStore {
  /**
   * Atomically claims `key` for `token` with a lease of `leaseMs`, unless it is held by a live lease
   * or completed. A record lives at most `ttlMs` (completed records count from completion).
   */
  claim(key: string, fingerprint: string, token: string, leaseMs: number, ttlMs: number): StoreAnswer<ClaimResult>;
  /** Extends the lease of a key still owned by `token`; false when the claim was lost. */
  renew(key: string, token: string, leaseMs: number): StoreAnswer<boolean>;
  /** Records the response of a key still owned by `token`, kept `ttlMs`; false when the claim was lost. */
  complete(key: string, token: string, response: CompletedResponse, ttlMs: number): StoreAnswer<boolean>;
  /** Frees a key still owned by `token` (a retry may run again); false when the claim was lost. */
  release(key: string, token: string): StoreAnswer<boolean>;
}

/** Anything that has an idempotency side: `MemoryStore`, `RedisStore`, or a third party's store. */
export interface HasIdempotencyStore {
  readonly idempotency: IdempotencyStore;
}

/** Whether `value` implements {@link IdempotencyStore}. */
export function isIdempotencyStore(value: unknown): value is IdempotencyStore {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.claim === 'function' &&
    typeof v.renew === 'function' &&
    typeof v.complete === 'function' &&
    typeof v.release === 'function'
  );
}
