import { describe, expect, it } from 'vitest';
import type { RequestBody, RequestView } from '../../src/guard/types.js';
import { canonicalJson, fingerprint } from '../../src/idempotency/fingerprint.js';
import { createIdempotency } from '../../src/idempotency/idempotency.js';
import { readKey, scopedKey } from '../../src/idempotency/key.js';
import { storedHeaders } from '../../src/idempotency/replay.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

describe('idempotency options are validated when the middleware is built', () => {
  const bad: Array<[string, object, RegExp]> = [
    ['store', { store: {} }, /options\.store/],
    ['scope', { scope: 'account' }, /options\.scope/],
    ['required', { required: 'yes' }, /options\.required/],
    ['methods (empty)', { methods: [] }, /options\.methods/],
    ['methods (GET)', { methods: ['POST', 'get'] }, /options\.methods must not include GET/],
    ['methods (not a name)', { methods: ['PO ST'] }, /options\.methods/],
    ['ttlMs', { ttlMs: 0 }, /options\.ttlMs/],
    ['ttlMs shorter than the lease', { ttlMs: 1000, leaseMs: 5000 }, /options\.ttlMs/],
    ['leaseMs', { leaseMs: 1.5 }, /options\.leaseMs/],
    ['wait', { wait: -1 }, /options\.wait/],
    ['wait (true)', { wait: true }, /options\.wait/],
    ['maxResponseBytes', { maxResponseBytes: -1 }, /options\.maxResponseBytes/],
    ['shouldStore', { shouldStore: 500 }, /options\.shouldStore/],
    ['header', { header: 'Idempotency Key' }, /options\.header/],
    ['storeTimeoutMs', { storeTimeoutMs: Number.NaN }, /options\.storeTimeoutMs/],
  ];
  for (const [name, options, message] of bad) {
    it(`refuses a bad ${name}`, () => {
      expect(() => createIdempotency(options as never)).toThrow(TypeError);
      expect(() => createIdempotency(options as never)).toThrow(message);
    });
  }
  it('accepts a MemoryStore, its idempotency side, and no store at all', () => {
    const store = new MemoryStore();
    expect(createIdempotency({ store }).name).toBe('idempotency');
    expect(createIdempotency({ store: store.idempotency }).name).toBe('idempotency');
    expect(createIdempotency().name).toBe('idempotency');
  });
});

describe('fingerprint', () => {
  const json = (value: unknown): RequestBody => ({ kind: 'bytes', bytes: new TextEncoder().encode(JSON.stringify(value)), contentType: 'application/json' });
  it('ignores object key order at every depth but keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: null } })).toBe('{"a":{"c":null,"d":[1,2]},"b":1}');
    expect(fingerprint('POST', '/m', '', json({ a: 1, b: { x: 1, y: 2 } }))).toBe(fingerprint('POST', '/m', '', json({ b: { y: 2, x: 1 }, a: 1 })));
    expect(fingerprint('POST', '/m', '', json({ a: [1, 2] }))).not.toBe(fingerprint('POST', '/m', '', json({ a: [2, 1] })));
  });
  it('counts a body parsed by a body parser the same as its JSON bytes', () => {
    const value = { to: '+1', n: 2 };
    expect(fingerprint('POST', '/m', '', { kind: 'parsed', value, contentType: 'application/json' })).toBe(
      fingerprint('POST', '/m', '', json({ n: 2, to: '+1' })),
    );
  });
  it('counts non-JSON bodies by their bytes, and tells method, path and query apart', () => {
    const bytes = (text: string): RequestBody => ({ kind: 'bytes', bytes: new TextEncoder().encode(text), contentType: 'text/plain' });
    expect(fingerprint('POST', '/m', '', bytes('{"a":1,"b":2}'))).not.toBe(fingerprint('POST', '/m', '', bytes('{"b":2,"a":1}')));
    const base = fingerprint('POST', '/m', 'a=1', { kind: 'none' });
    expect(fingerprint('PATCH', '/m', 'a=1', { kind: 'none' })).not.toBe(base);
    expect(fingerprint('POST', '/n', 'a=1', { kind: 'none' })).not.toBe(base);
    expect(fingerprint('POST', '/m', 'a=2', { kind: 'none' })).not.toBe(base);
  });
});

describe('keys', () => {
  it('accepts one line of 1 to 255 visible characters and refuses the rest', () => {
    expect(readKey([], 'Idempotency-Key')).toEqual({ missing: true });
    expect(readKey(['k'.repeat(255)], 'Idempotency-Key')).toEqual({ key: 'k'.repeat(255) });
    for (const lines of [[''], ['  '], ['k'.repeat(256)], ['a\u0000b'], ['a\u007fb'], ['a', 'b']]) {
      expect('problem' in readKey(lines, 'Idempotency-Key'), JSON.stringify(lines)).toBe(true);
    }
  });
  it('hashes the scope with the key: no two scopes share a stored key, and the raw key never appears', () => {
    expect(scopedKey('acct_a', 'k1')).not.toBe(scopedKey('acct_b', 'k1'));
    expect(scopedKey('a', 'bk')).not.toBe(scopedKey('ab', 'k'));
    expect(scopedKey('acct_a', 'secret-key')).not.toContain('secret');
  });
});

describe('stored headers', () => {
  it('never keeps Set-Cookie, Date, hop-by-hop or rate-limit headers', () => {
    expect(
      storedHeaders([
        ['Content-Type', 'application/json'],
        ['set-cookie', 'a=1'],
        ['date', 'x'],
        ['connection', 'close'],
        ['transfer-encoding', 'chunked'],
        ['content-length', '3'],
        ['ratelimit', 'r'],
        ['location', '/x'],
        ['x-app', '1'],
      ]),
    ).toEqual([
      ['content-type', 'application/json'],
      ['location', '/x'],
      ['x-app', '1'],
    ]);
  });
});

describe('the guard never rejects', () => {
  const view = (over: Partial<RequestView> = {}): RequestView => ({
    method: 'POST',
    path: '/m',
    query: '',
    header: () => undefined,
    headerLines: (name) => (name === 'idempotency-key' ? ['k1'] : []),
    peer: '127.0.0.1',
    body: async () => ({ kind: 'none' }),
    request: {},
    ...over,
  });
  it('a scope callback that throws becomes an error decision', async () => {
    const guard = createIdempotency({
      scope: () => {
        throw new Error('no session');
      },
    });
    const decision = await guard.check(view());
    expect(decision.type === 'respond' && decision.status).toBe(500);
  });
  it('a body that cannot be read becomes an error decision', async () => {
    const guard = createIdempotency();
    const decision = await guard.check(
      view({
        body: () => Promise.reject(Object.assign(new Error('too large'), { type: 'entity.too.large', status: 413 })),
      }),
    );
    expect(decision.type === 'respond' && decision.status).toBe(413);
  });
  it('a store that never answers gives 503 within storeTimeoutMs', async () => {
    const hanging = { claim: () => new Promise<never>(() => {}), renew: async () => true, complete: async () => true, release: async () => true };
    const guard = createIdempotency({ store: hanging, storeTimeoutMs: 50 });
    const decision = await guard.check(view());
    expect(decision.type === 'respond' && decision.status).toBe(503);
  });
});
