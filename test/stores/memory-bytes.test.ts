/**
 * The memory store's byte budget: completed idempotency records never hold more than `maxBytes` (by
 * the store's own count, by what replays, and by the heap itself), the least recently used go first,
 * a record larger than the whole budget evicts nothing and keeps its key completed (never run twice),
 * and the options are checked.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { errorHandler, idempotency } from '../../adapters/express.js';
import type { HeaderPairs } from '../../src/guard/types.js';
import type { ClaimResult, StoredResponse } from '../../src/idempotency/store.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import type { MemoryIdempotencyStore } from '../../src/stores/memory/idempotency.js';
import { StoreUnavailableError } from '../../src/stores/store-error.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const LEASE = 10_000;
const TTL = 86_400_000;
const FP = 'F'.repeat(43);

/** A key shaped like the guard's (43 base64url characters: a SHA-256), unique per `name`. */
const keyOf = (name: string) => name.padEnd(43, '_');

function response(bodyBytes: number, fill = 1, headers: HeaderPairs = [['content-type', 'application/octet-stream']]): StoredResponse {
  return { status: 201, headers, body: Buffer.alloc(bodyBytes, fill) };
}

/** Claims and completes `key` with `stored`, as the engine does. */
function put(store: MemoryIdempotencyStore, key: string, stored: StoredResponse | null): void {
  const token = `owner.${key}`;
  expect(store.claim(key, FP, token, LEASE, TTL)).toEqual({ type: 'claimed' });
  expect(store.complete(key, token, stored, TTL)).toBe(true);
}

/** What a retry of `key` finds: the completed record, or `undefined` (the key was free; freed again). */
function retry(store: MemoryIdempotencyStore, key: string): Extract<ClaimResult, { type: 'completed' }> | undefined {
  const result = store.claim(key, FP, 'probe', LEASE, TTL);
  if (result.type === 'completed') return result;
  expect(result.type).toBe('claimed');
  store.release(key, 'probe');
  return undefined;
}

/** The bytes one record of `stored` under a 43-character key counts against the budget. */
function recordSize(stored: StoredResponse | null): number {
  const probe = new MemoryStore().idempotency;
  put(probe, keyOf('probe'), stored);
  return probe.bytes;
}

describe('MemoryStore options', () => {
  it('defaults to 100,000 keys and a 64 MiB budget for idempotency records', () => {
    expect(new MemoryStore().options).toEqual({ max: 100_000, maxBytes: 64 * MiB });
    expect(new MemoryStore({ max: 10, maxBytes: 4096 }).options).toEqual({ max: 10, maxBytes: 4096 });
  });

  it('refuses a maxBytes that is not a positive integer of at least 1024, naming it', () => {
    for (const maxBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '4096', 1023]) {
      expect(() => new MemoryStore({ maxBytes: maxBytes as number }), String(maxBytes)).toThrow(TypeError);
      expect(() => new MemoryStore({ maxBytes: maxBytes as number }), String(maxBytes)).toThrow(/options\.maxBytes/);
    }
    expect(() => new MemoryStore({ max: 0 })).toThrow(/options\.max must/);
  });

  it('refuses unknown options, naming each', () => {
    expect(() => new MemoryStore({ maxSize: 1 } as never)).toThrow(TypeError);
    expect(() => new MemoryStore({ maxSize: 1 } as never)).toThrow('MemoryStore: unknown option "maxSize"');
    expect(() => new MemoryStore({ max: 5, maxbytes: 1, ttl: 2 } as never)).toThrow('MemoryStore: unknown options "maxbytes", "ttl"');
  });
});

describe('MemoryStore idempotency records, bounded in bytes', () => {
  it('never holds more than maxBytes of 512 KiB responses: by its own count and by what still replays', () => {
    const maxBytes = 8 * MiB;
    const store = new MemoryStore({ maxBytes }).idempotency;
    const size = recordSize(response(512 * KiB));
    for (let i = 0; i < 100; i++) {
      put(store, keyOf(`big-${i}`), response(512 * KiB, i));
      expect(store.bytes).toBeLessThanOrEqual(maxBytes);
    }
    const kept: number[] = [];
    let keptBodyBytes = 0;
    for (let i = 0; i < 100; i++) {
      const found = retry(store, keyOf(`big-${i}`));
      if (!found) continue;
      kept.push(i);
      keptBodyBytes += found.response!.body.byteLength;
      expect(found.response!.body[0]).toBe(i);
    }
    // 15 of them fit 8 MiB (16 bodies and their overhead would not), and they are the newest 15.
    expect(kept).toEqual(Array.from({ length: 15 }, (_, n) => 85 + n));
    expect(keptBodyBytes).toBeLessThanOrEqual(maxBytes);
    expect(store.size).toBe(15);
    expect(store.bytes).toBe(15 * size);
  });

  it('evicts the least recently used first: a replay makes a record recent', () => {
    const size = recordSize(response(10 * KiB));
    const store = new MemoryStore({ maxBytes: 3 * size }).idempotency;
    for (const name of ['a', 'b', 'c']) put(store, keyOf(name), response(10 * KiB));
    expect(store.bytes).toBe(3 * size);
    expect(retry(store, keyOf('a'))).toBeDefined();
    put(store, keyOf('d'), response(10 * KiB));
    expect(retry(store, keyOf('b'))).toBeUndefined();
    for (const name of ['a', 'c', 'd']) expect(retry(store, keyOf(name)), name).toBeDefined();
    expect(store.bytes).toBe(3 * size);
  });

  it('keeps a record larger than the whole budget as completed but not replayable, evicting nothing', () => {
    const maxBytes = 64 * KiB;
    const store = new MemoryStore({ maxBytes }).idempotency;
    for (let i = 0; i < 5; i++) put(store, keyOf(`small-${i}`), response(1 * KiB));
    const before = store.bytes;
    put(store, keyOf('huge'), response(100 * KiB));
    const huge = retry(store, keyOf('huge'));
    expect(huge).toEqual({ type: 'completed', fingerprint: FP, response: null });
    for (let i = 0; i < 5; i++) expect(retry(store, keyOf(`small-${i}`))?.response?.body.byteLength).toBe(1 * KiB);
    expect(store.bytes).toBe(before + recordSize(null));
    expect(store.bytes).toBeLessThanOrEqual(maxBytes);
    // The marker costs its fixed overhead, key and fingerprint only: far less than the body it stands for.
    expect(recordSize(null)).toBeLessThan(1024);
  });

  it('counts headers and the reason phrase, and gives the reason phrase back', () => {
    const headers: HeaderPairs = [['content-type', 'application/json'], ['x-request-id', 'r'.repeat(2000)]];
    expect(recordSize(response(10, 1, headers))).toBeGreaterThan(recordSize(response(10)) + 4000);
    const store = new MemoryStore().idempotency;
    put(store, keyOf('phrase'), { ...response(10), statusText: 'Created, Mostly' });
    put(store, keyOf('plain'), response(10));
    expect(retry(store, keyOf('phrase'))?.response?.statusText).toBe('Created, Mostly');
    expect(retry(store, keyOf('plain'))?.response).not.toHaveProperty('statusText');
    expect(recordSize({ ...response(10), statusText: 'x'.repeat(100) })).toBeGreaterThan(recordSize(response(10)) + 200);
  });

  it('refuses (as a store outage) a key too long to be kept even as not replayable', () => {
    const store = new MemoryStore({ maxBytes: 1024 }).idempotency;
    expect(() => store.claim('k'.repeat(2000), FP, 'owner', LEASE, TTL)).toThrow(StoreUnavailableError);
    put(store, keyOf('fits'), null);
    expect(retry(store, keyOf('fits'))?.response).toBeNull();
  });
});

describe('MemoryStore idempotency records, measured on the heap', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heapAfterGc = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };

  it('holds no more heap than it counts, whatever passes through it (large records, then small ones)', () => {
    const bigBudget = 16 * MiB;
    const big = new MemoryStore({ maxBytes: bigBudget }).idempotency;
    const smallBudget = 4 * MiB;
    const small = new MemoryStore({ maxBytes: smallBudget }).idempotency;
    // Strings as a server's are: each record's own, flat (hashes and decoded bytes).
    const hash = (text: string) => createHash('sha256').update(text).digest('base64url');
    const fill = (store: MemoryIdempotencyStore, n: number, stored: (i: number) => StoredResponse) => {
      for (let i = 0; i < n; i++) {
        const key = hash(`key ${i} ${Math.random()}`);
        const token = `owner.${i}`;
        store.claim(key, hash(`fingerprint ${i}`), token, LEASE, TTL);
        store.complete(key, token, stored(i), TTL);
      }
    };
    const baseline = heapAfterGc();
    // 100 MiB of bodies, one latin1 string each in the store.
    fill(big, 200, (i) => response(512 * KiB, i));
    const afterBig = heapAfterGc();
    // 30,000 small records with two headers: the overhead dominates.
    fill(small, 30_000, (i) => ({
      status: 201,
      headers: [
        ['content-type', Buffer.from('application/json; charset=utf-8').toString('latin1')],
        ['etag', hash(`etag ${i}`)],
      ],
      body: Buffer.from(`{"id":${i},"ok":true}`),
    }));
    const afterSmall = heapAfterGc();
    expect(big.bytes).toBeLessThanOrEqual(bigBudget);
    expect(big.bytes).toBeGreaterThan(bigBudget - 1 * MiB);
    expect(small.bytes).toBeLessThanOrEqual(smallBudget);
    expect(small.bytes).toBeGreaterThan(smallBudget - 1 * KiB);
    expect(small.size).toBeLessThan(30_000);
    // The heap each store holds is no more than it counts (the count is honest, not an undercount),
    // give or take what the test itself leaves on the heap (compiled code and its feedback).
    const slack = 256 * KiB;
    expect(afterBig - baseline).toBeLessThanOrEqual(big.bytes + slack);
    expect(afterSmall - afterBig).toBeLessThanOrEqual(small.bytes + slack);
  });
});

describe('idempotency over a real socket with a small MemoryStore budget (Express 5)', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('a response too large for the budget is sent in full once; its retry gets 422 idempotency_key_used, never a second run', async () => {
    let runs = 0;
    const app = express();
    app.use(idempotency({ store: new MemoryStore({ maxBytes: 64 * KiB }) }));
    app.post('/small', (_req, res) => {
      runs++;
      res.status(201).send('ok');
    });
    app.post('/large', (_req, res) => {
      runs++;
      res.status(201).type('application/octet-stream').send(Buffer.alloc(100 * KiB, 7));
    });
    app.use(errorHandler({ onError: () => {} }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    close = () => new Promise((resolve) => server.close(() => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = (path: string, key: string) => fetch(base + path, { method: 'POST', headers: { 'idempotency-key': key } });

    expect((await post('/small', 'small-1')).status).toBe(201);
    const first = await post('/large', 'large-1');
    expect(first.status).toBe(201);
    expect((await first.arrayBuffer()).byteLength).toBe(100 * KiB);
    const again = await post('/large', 'large-1');
    expect(again.status).toBe(422);
    expect(await again.json()).toMatchObject({ error: 'idempotency_key_used', replayable: false });
    const small = await post('/small', 'small-1');
    expect(small.headers.get('idempotent-replayed')).toBe('true');
    expect(await small.text()).toBe('ok');
    expect(runs).toBe(2);
  });
});
