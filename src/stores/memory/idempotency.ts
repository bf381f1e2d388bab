import { LRUCache } from 'lru-cache';
import { asBuffer } from '../../guard/as-buffer.js';
import type { HeaderPairs } from '../../guard/types.js';
import type { ClaimResult, CompletedResponse, IdempotencyStore, StoredResponse } from '../../idempotency/store.js';
import { StoreUnavailableError } from '../store-error.js';
import type { MemoryStoreOptions } from './index.js';

interface Claim {
  fingerprint: string;
  token: string;
  /** performance.now() at which the lease runs out. */
  leaseEnd: number;
}

/**
 * A completed record, packed for a light heap: a store that keeps 100,000 responses keeps 100,000 of
 * these, and the garbage collector walks them all. The body is a one-byte string (its bytes, as latin1:
 * no ArrayBuffer per record, and n bytes of heap for n bytes of body) and the headers one flat array;
 * the response is rebuilt on replay.
 */
interface Completed {
  fingerprint: string;
  /** performance.now() at which the record expires (checked on read: no TTL bookkeeping in the LRU). */
  expires: number;
  /** The status, or 0 for a response not kept for replay (completed, not replayable). */
  status: number;
  /** The application's own reason phrase, if it chose one. */
  statusText: string | undefined;
  /** Header names and values, alternating. */
  headers: string[];
  /** The body bytes as a latin1 string (one character per byte). */
  body: string;
  /** What the record costs the heap, in bytes, as counted against `maxBytes`. */
  bytes: number;
}

/**
 * Heap bytes of a record besides its strings: the record object, its expiry's number, its headers
 * array, and the cache's slot for it (lru-cache keeps a key, a value, links and a size per entry, and
 * a Map entry from key to slot). Measured with Node.js 20 at about 210 bytes under eviction; rounded up.
 */
const RECORD_OVERHEAD = 256;
/** Heap bytes of a string besides its characters: its header (16) and the rounding of its size to 8. */
const STRING_OVERHEAD = 24;
/** Heap bytes of one header name or value besides its characters: a string's and its array slot. */
const HEADER_STRING_OVERHEAD = STRING_OVERHEAD + 8;
/** The headers of a record that has none (never written to: one array for all). */
const NO_HEADERS: string[] = [];

/**
 * The idempotency side of `MemoryStore`: completed responses in an LRU cache bounded by `max` records
 * and by `maxBytes` of them (each record with its expiry, checked when read), live claims in a separate
 * table that the LRU can never evict, bounded by `max` (lapsed leases are swept when it is full; beyond
 * that a claim is refused as a store outage), each claim a fixed size (the hashed key and fingerprint,
 * an owner token, a number). Every method answers synchronously (a `StoreAnswer` may be a plain value):
 * nothing here waits on I/O, so the engine needs neither a promise nor a timeout timer per call.
 *
 * A response whose record would be larger than `maxBytes` is kept as completed but not replayable
 * (`response: null`, a few hundred bytes): it evicts no more than any small record would, and a retry
 * gets 409 instead of running the handler again.
 * Older records evicted to make room (by count or bytes) are forgotten: a retry of one runs again.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #claims = new Map<string, Claim>();
  readonly #completed: LRUCache<string, Completed>;
  readonly #maxBytes: number;

  constructor(readonly options: Readonly<Required<MemoryStoreOptions>>) {
    this.#maxBytes = options.maxBytes;
    this.#completed = new LRUCache<string, Completed>({ max: options.max, maxSize: options.maxBytes, sizeCalculation: sizeOf });
  }

  /** Completed records held (never more than `max`). */
  get size(): number {
    return this.#completed.size;
  }

  /** Bytes of completed records held, as counted against `maxBytes` (never more than it). */
  get bytes(): number {
    return this.#completed.calculatedSize;
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
    // Whatever the response, its key must fit as a record that is not replayable (never a lost key).
    if (baseBytes(key, fingerprint) > this.#maxBytes) {
      throw new StoreUnavailableError('idempotency key too long for the memory store');
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
    this.#completed.set(key, pack(key, held.fingerprint, performance.now() + ttlMs, response, this.#maxBytes));
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

function sizeOf(record: Completed): number {
  return record.bytes;
}

/** The record of a completed key; not replayable when the response is `null` or would not fit `maxBytes`. */
function pack(key: string, fingerprint: string, expires: number, response: CompletedResponse, maxBytes: number): Completed {
  const base = baseBytes(key, fingerprint);
  if (response === null) return notReplayable(fingerprint, expires, base);
  const size = base + responseBytes(response);
  // Checked before the body is copied into a string: an oversized one is never held, even briefly.
  if (size > maxBytes) return notReplayable(fingerprint, expires, base);
  const pairs = response.headers;
  // Sized once (a pushed array keeps spare room, up to 17 slots for a few headers).
  const headers = pairs.length === 0 ? NO_HEADERS : new Array<string>(2 * pairs.length);
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    headers[2 * i] = pair[0];
    headers[2 * i + 1] = pair[1];
  }
  const body = asBuffer(response.body).toString('latin1');
  return { fingerprint, expires, status: response.status, statusText: response.statusText, headers, body, bytes: size };
}

/** The bytes of a record without a response: what a key costs completed but not replayable. */
function baseBytes(key: string, fingerprint: string): number {
  // The key and fingerprint are hashes (base64url: one byte a character).
  return RECORD_OVERHEAD + 2 * STRING_OVERHEAD + key.length + fingerprint.length;
}

function notReplayable(fingerprint: string, expires: number, bytes: number): Completed {
  return { fingerprint, expires, status: 0, statusText: undefined, headers: NO_HEADERS, body: '', bytes };
}

/**
 * What a response adds to its record, in heap bytes: its body's (one a byte: a latin1 string), and for
 * the headers and reason phrase two a character (an upper bound: V8 keeps a string with any character
 * beyond latin1 at two bytes each), with each string's own overhead.
 */
function responseBytes(response: StoredResponse): number {
  let bytes = STRING_OVERHEAD + response.body.byteLength;
  const { headers, statusText } = response;
  if (statusText !== undefined) bytes += STRING_OVERHEAD + 2 * statusText.length;
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i]!;
    bytes += 2 * HEADER_STRING_OVERHEAD + 2 * (pair[0].length + pair[1].length);
  }
  return bytes;
}

function unpack(done: Completed): CompletedResponse {
  if (done.status === 0) return null;
  const headers: HeaderPairs = [];
  for (let i = 0; i + 1 < done.headers.length; i += 2) headers.push([done.headers[i]!, done.headers[i + 1]!]);
  const response: StoredResponse = { status: done.status, headers, body: Buffer.from(done.body, 'latin1') };
  if (done.statusText !== undefined) response.statusText = done.statusText;
  return response;
}
