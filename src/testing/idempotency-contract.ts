import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import type { HasIdempotencyStore, IdempotencyStore, StoredResponse } from '../idempotency/store.js';
import type { StoreFactory } from './store-contract.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const DAY = 86_400_000;

/**
 * The idempotency side of the store contract: one winner among concurrent claims, compare-and-set on
 * the owner token for renew, complete and release, leases that lapse on their own (a dead owner blocks a
 * key for one lease, not for the record's TTL) while renewals keep them, byte-exact stored responses
 * (with their own reason phrase, if any), completed-but-not-replayable records, and record TTLs. Runs on real time (about a second in total).
 *
 * @param factory - makes a fresh store for each test.
 * @param name - the store's name, put before every test title (`MemoryStore: throttle (gcra): ...`), so that
 *   a line about one test says which store it ran on. @default undefined: the titles alone
 *
 * @example
 * ```ts
 * import { idempotencyStoreContract } from 'bulwark/testing';
 * idempotencyStoreContract(() => ({ store: new MemoryStore() }), 'MemoryStore');
 * ```
 */
export function idempotencyStoreContract(factory: StoreFactory, name?: string): void {
  // Each title names the store, so a line about one test (a slow one, a failure) says which store it ran on.
  const title = (text: string): string => (name === undefined ? text : `${name}: ${text}`);
  let cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    const pending = cleanups;
    cleanups = [];
    for (const cleanup of pending) await cleanup();
  });
  const open = async (): Promise<IdempotencyStore> => {
    const made = await factory();
    if (made.cleanup) cleanups.push(made.cleanup);
    const side = (made.store as HasIdempotencyStore)?.idempotency;
    for (const method of ['claim', 'renew', 'complete', 'release'] as const) expect(typeof side?.[method]).toBe('function');
    return side;
  };
  const key = () => `contract:${randomUUID()}`;
  const token = () => randomUUID();
  const response: StoredResponse = {
    status: 201,
    headers: [
      ['content-type', 'application/octet-stream'],
      ['location', '/v1/messages/msg_1'],
      ['x-trace', 'a'],
      ['x-trace', 'b'],
    ],
    body: new Uint8Array([0, 1, 2, 127, 128, 200, 255, 0x7b, 0x22, 10, 13, 0]),
  };

  it(title('idempotency: of 50 concurrent claims of one key exactly one wins; the others see it in flight'), async () => {
    const store = await open();
    const k = key();
    const results = await Promise.all(Array.from({ length: 50 }, () => store.claim(k, 'fp-1', token(), 5000, DAY)));
    expect(results.filter((r) => r.type === 'claimed')).toHaveLength(1);
    for (const r of results) {
      if (r.type === 'claimed') continue;
      expect(r.type).toBe('in_flight');
      if (r.type !== 'in_flight') continue;
      expect(r.fingerprint).toBe('fp-1');
      expect(r.leaseRemainingMs).toBeGreaterThan(0);
      expect(r.leaseRemainingMs).toBeLessThanOrEqual(5000);
    }
  });

  it(title('idempotency: a completed key returns its response byte for byte, headers in order, to every later claim'), async () => {
    const store = await open();
    const k = key();
    const owner = token();
    expect((await store.claim(k, 'fp-1', owner, 5000, DAY)).type).toBe('claimed');
    expect(await store.complete(k, owner, response, DAY)).toBe(true);
    for (let i = 0; i < 2; i++) {
      const again = await store.claim(k, 'fp-other', token(), 5000, DAY);
      expect(again.type).toBe('completed');
      if (again.type !== 'completed') return;
      expect(again.fingerprint).toBe('fp-1');
      expect(again.response).not.toBeNull();
      expect(again.response!.status).toBe(201);
      expect(again.response!.headers).toEqual(response.headers);
      expect(Array.from(again.response!.body)).toEqual(Array.from(response.body));
    }
  });

  it(title("idempotency: a stored response keeps the application's own reason phrase; one without keeps none"), async () => {
    const store = await open();
    for (const statusText of ['Created Nicely', 'Créé, avec soin', undefined]) {
      const k = key();
      const owner = token();
      expect((await store.claim(k, 'fp-1', owner, 5000, DAY)).type).toBe('claimed');
      const stored: StoredResponse = statusText === undefined ? response : { ...response, statusText };
      expect(await store.complete(k, owner, stored, DAY)).toBe(true);
      const again = await store.claim(k, 'fp-1', token(), 5000, DAY);
      expect(again.type).toBe('completed');
      if (again.type !== 'completed') return;
      expect(again.response?.status).toBe(201);
      expect(again.response?.statusText).toBe(statusText);
      expect(Array.from(again.response!.body)).toEqual(Array.from(response.body));
    }
  });

  it(title('idempotency: renew, complete and release by another token change nothing'), async () => {
    const store = await open();
    const k = key();
    const owner = token();
    await store.claim(k, 'fp-1', owner, 5000, DAY);
    const stranger = token();
    expect(await store.renew(k, stranger, 5000)).toBe(false);
    expect(await store.complete(k, stranger, response, DAY)).toBe(false);
    expect(await store.release(k, stranger)).toBe(false);
    expect((await store.claim(k, 'fp-1', token(), 5000, DAY)).type).toBe('in_flight');
    expect(await store.release(k, owner)).toBe(true);
    expect(await store.release(k, owner)).toBe(false);
  });

  it(title('idempotency: a released key can be claimed again, with another fingerprint'), async () => {
    const store = await open();
    const k = key();
    const owner = token();
    await store.claim(k, 'fp-1', owner, 5000, DAY);
    expect(await store.release(k, owner)).toBe(true);
    const next = token();
    expect((await store.claim(k, 'fp-2', next, 5000, DAY)).type).toBe('claimed');
    const seen = await store.claim(k, 'fp-x', token(), 5000, DAY);
    expect(seen.type === 'in_flight' && seen.fingerprint).toBe('fp-2');
  });

  it(title('idempotency: a lapsed lease frees the key long before the TTL; the stale owner can no longer write'), async () => {
    const store = await open();
    const k = key();
    const stale = token();
    await store.claim(k, 'fp-1', stale, 150, DAY);
    expect((await store.claim(k, 'fp-1', token(), 150, DAY)).type).toBe('in_flight');
    await sleep(250);
    const fresh = token();
    expect((await store.claim(k, 'fp-1', fresh, 5000, DAY)).type).toBe('claimed');
    expect(await store.renew(k, stale, 5000)).toBe(false);
    expect(await store.complete(k, stale, response, DAY)).toBe(false);
    expect(await store.release(k, stale)).toBe(false);
    expect(await store.complete(k, fresh, { ...response, status: 202 }, DAY)).toBe(true);
    const done = await store.claim(k, 'fp-1', token(), 5000, DAY);
    expect(done.type === 'completed' && done.response?.status).toBe(202);
  });

  it(title('idempotency: renewing keeps a claim past its first lease'), async () => {
    const store = await open();
    const k = key();
    const owner = token();
    await store.claim(k, 'fp-1', owner, 200, DAY);
    for (let i = 0; i < 4; i++) {
      await sleep(100);
      expect(await store.renew(k, owner, 200)).toBe(true);
    }
    expect((await store.claim(k, 'fp-1', token(), 200, DAY)).type).toBe('in_flight');
    expect(await store.complete(k, owner, response, DAY)).toBe(true);
  });

  it(title('idempotency: a completed-but-not-replayable key stays completed with no response'), async () => {
    const store = await open();
    const k = key();
    const owner = token();
    await store.claim(k, 'fp-1', owner, 5000, DAY);
    expect(await store.complete(k, owner, null, DAY)).toBe(true);
    const again = await store.claim(k, 'fp-1', token(), 5000, DAY);
    expect(again).toEqual({ type: 'completed', fingerprint: 'fp-1', response: null });
  });

  it(title('idempotency: a completed record lives for its TTL, then the key is free'), async () => {
    const store = await open();
    const k = key();
    const owner = token();
    await store.claim(k, 'fp-1', owner, 5000, DAY);
    expect(await store.complete(k, owner, response, 200)).toBe(true);
    expect((await store.claim(k, 'fp-1', token(), 5000, DAY)).type).toBe('completed');
    await sleep(300);
    expect((await store.claim(k, 'fp-1', token(), 5000, DAY)).type).toBe('claimed');
  });

  it(title('idempotency: keys are independent'), async () => {
    const store = await open();
    const a = key();
    const b = key();
    const owner = token();
    await store.claim(a, 'fp-a', owner, 5000, DAY);
    expect((await store.claim(b, 'fp-b', token(), 5000, DAY)).type).toBe('claimed');
    expect(await store.complete(b, owner, response, DAY)).toBe(false);
  });
}
