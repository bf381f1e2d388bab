import fc from 'fast-check';
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
  it('writes the same canonical JSON as a plain sorted JSON.stringify, for any value a body parser could make', () => {
    // The reference: JSON.stringify's rules (toJSON first; undefined, functions and symbols dropped from
    // objects and null in arrays), with every object's keys in code-unit order, and bigints as digits.
    const reference = (value: unknown): string => {
      if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        value = (value as { toJSON: () => unknown }).toJSON();
      }
      if (typeof value === 'bigint') return value.toString();
      if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
      if (Array.isArray(value)) return `[${value.map((item) => reference(item)).join(',')}]`;
      const members = Object.keys(value)
        .sort()
        .filter((key) => !['undefined', 'function', 'symbol'].includes(typeof (value as Record<string, unknown>)[key]));
      return `{${members.map((key) => `${JSON.stringify(key)}:${reference((value as Record<string, unknown>)[key])}`).join(',')}}`;
    };
    const key = fc.oneof(fc.string(), fc.constantFrom('0', '10', '2', '__proto__', 'a', 'B', '\u00e9', '\ud83d\ude00', '"q"', '\u0000'));
    const leaf = fc.oneof(
      fc.string(),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.bigInt(),
      fc.date({ noInvalidDate: true }),
      fc.constant(() => 1),
      fc.constantFrom(new Number(5), new String('ab'), new Boolean(false), new Map([[1, 2]]), Object.assign(Object.create(null), { b: 1, a: 2 })),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
      array: fc.array(tie('node'), { maxLength: 5 }),
      object: fc.dictionary(key, tie('node'), { maxKeys: 6 }),
    })).node;
    fc.assert(fc.property(value, (v) => canonicalJson(v) === reference(v)), { numRuns: 2000 });
    // Deeper than the fast path walks, and a parsed body's own "__proto__" member.
    let deep: unknown = { b: 1, a: [2, 1] };
    for (let i = 0; i < 100; i++) deep = { z: deep, y: i };
    expect(canonicalJson(deep)).toBe(reference(deep));
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1},"a":2}'))).toBe('{"__proto__":{"x":1},"a":2,"b":1}');
  });
  it('refuses a circular value with a TypeError, however deep the cycle', () => {
    const shallow: Record<string, unknown> = { a: 1 };
    shallow.self = shallow;
    let deep: Record<string, unknown> = { leaf: true };
    const top = deep;
    for (let i = 0; i < 100; i++) deep = { next: deep };
    top.loop = deep;
    for (const value of [shallow, [shallow], deep]) expect(() => canonicalJson(value)).toThrow(TypeError);
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
