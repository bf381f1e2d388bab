import { LRUCache } from 'lru-cache';
import type { HeaderPairs } from '../../guard/types.js';
import type { ClaimResult, CompletedResponse, IdempotencyStore } from '../../idempotency/store.js';
import { StoreUnavailableError } from '../store-error.js';
import type { MemoryStoreOptions } from './index.js';
import { asBuffer } from '../../guard/as-buffer.js';

interface Claim {
  fingerprint: string;
  token: string;
  /** performance.now() at which the lease runs out. */
  leaseEnd: number;
}

/**
 * A completed record, packed for a light heap: a store that keeps 100,000 responses keeps 100,000 of
 * these, and the garbage collector walks them all. The body is a one-byte string (its bytes, as latin1:
 * no ArrayBuffer per record) and the headers one flat array; the response is rebuilt on replay.
 */
interface Completed {
  fingerprint: string;
  /** performance.now() at which the record expires (checked on read: no TTL bookkeeping in the LRU). */
  expires: number;
  /** The status, or 0 for a response that was too large to keep (completed, not replayable). */
  status: number;
  /** Header names and values, alternating. */
  headers: string[];
  /** The body bytes as a latin1 string (one character per byte). */
  body: string;
}

/**
 * The idempotency side of `MemoryStore`: completed responses in an LRU cache bounded by `max` (each
 * record with its expiry, checked when read), live claims in a separate table that the LRU can never
 * evict, also bounded by `max` (lapsed leases are swept when it is full; beyond that a claim is refused
 * as a store outage). Every method answers synchronously (a `StoreAnswer` may be a plain value):
 * nothing here waits on I/O, so the engine needs neither a promise nor a timeout timer per call.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #claims = new Map<string, Claim>();
  readonly #completed: LRUCache<string, Completed>;

  constructor(readonly options: Readonly<Required<MemoryStoreOptions>>) {
    this.#completed = new LRUCache<string, Completed>({ max: options.max });
  }

  claim(key: string, fingerprint: string, token: string, leaseMs: number, _ttlMs: number): ClaimResult {
    const now = performance.now();
    const done = this.#completed.get(key);
    if (done) {
      if (done.expires > now) return { type: 'completed', fingerprint: done.fingerprint, response: unpack(done) };
      this.#completed.delete(key);
    }
    const held = this.#claims.get(key);
    if (held && held.leaseEnd > now) {
      return { type: 'in_flight', fingerprint: held.fingerprint, leaseRemainingMs: Math.ceil(held.leaseEnd - now) };
    }
    if (!held && this.#claims.size >= this.options.max) {
      this.#sweep(now);
      if (this.#claims.size >= this.options.max) throw new StoreUnavailableError('too many idempotency keys in flight');
    }
    this.#claims.set(key, { fingerprint, token, leaseEnd: now + leaseMs });
    return { type: 'claimed' };
  }

  renew(key: string, token: string, leaseMs: number): boolean {
    const held = this.#claims.get(key);
    if (!held || held.token !== token) return false;
    held.leaseEnd = performance.now() + leaseMs;
    return true;
  }

  complete(key: string, token: string, response: CompletedResponse, ttlMs: number): boolean {
    const held = this.#claims.get(key);
    if (!held || held.token !== token) return false;
    this.#claims.delete(key);
    this.#completed.set(key, pack(held.fingerprint, performance.now() + ttlMs, response));
    return true;
  }

  release(key: string, token: string): boolean {
    const held = this.#claims.get(key);
    if (!held || held.token !== token) return false;
    this.#claims.delete(key);
    return true;
  }

  #sweep(now: number): void {
    for (const [key, claim] of this.#claims) if (claim.leaseEnd <= now) this.#claims.delete(key);
  }
}

function pack(fingerprint: string, expires: number, response: CompletedResponse): Completed {
  if (response === null) return { fingerprint, expires, status: 0, headers: [], body: '' };
  const headers: string[] = [];
  for (const [name, value] of response.headers) headers.push(name, value);
  const { body } = response;
  const text = asBuffer(body).toString('latin1');
  return { fingerprint, expires, status: response.status, headers, body: text };
}

function unpack(done: Completed): CompletedResponse {
  if (done.status === 0) return null;
  const headers: HeaderPairs = [];
  for (let i = 0; i + 1 < done.headers.length; i += 2) headers.push([done.headers[i]!, done.headers[i + 1]!]);
  return { status: done.status, headers, body: Buffer.from(done.body, 'latin1') };
}
