/**
 * The engine without an adapter: lease renewal by the shared timer, stores that answer synchronously or
 * with promises, and the fingerprint of JSON that came as bytes against JSON a body parser produced.
 */
import { describe, expect, it } from 'vitest';
import type { Decision, RequestBody, RequestView } from '../../src/guard/types.js';
import { fingerprint, MAX_JSON_DEPTH } from '../../src/idempotency/fingerprint.js';
import { createIdempotency } from '../../src/idempotency/idempotency.js';
import type { IdempotencyStore } from '../../src/idempotency/store.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const JSON_BODY = '{"to":"+15550100","text":"hi"}';

function view(key: string, body = JSON_BODY): RequestView {
  return {
    method: 'POST',
    path: '/v1/messages',
    query: '',
    peer: '127.0.0.1',
    request: {},
    header: (name) => (name === 'content-type' ? 'application/json' : undefined),
    headerLines: (name) => (name === 'idempotency-key' ? [key] : []),
    body: async () => ({ kind: 'bytes', bytes: new TextEncoder().encode(body), contentType: 'application/json' }),
  };
}

const response = (n: number) => ({
  status: 201,
  headers: [['content-type', 'application/json']] as Array<[string, string]>,
  body: new TextEncoder().encode(`{"n":${n}}`),
  truncated: false,
});

function errorCode(decision: Decision): string | undefined {
  if (decision.type !== 'respond') return undefined;
  return JSON.parse(typeof decision.body === 'string' ? decision.body : new TextDecoder().decode(decision.body)).error;
}

/** A memory store whose calls are counted (and optionally answered with promises). */
function countingStore(options: { async?: boolean } = {}) {
  const inner = new MemoryStore().idempotency;
  const calls = { claim: 0, renew: 0, complete: 0, release: 0 };
  const answer = <T>(value: T) => (options.async ? Promise.resolve(value) : value);
  const store: IdempotencyStore = {
    claim(...args) {
      calls.claim++;
      return answer(inner.claim(...args));
    },
    renew(...args) {
      calls.renew++;
      return answer(inner.renew(...args));
    },
    complete(...args) {
      calls.complete++;
      return answer(inner.complete(...args));
    },
    release(...args) {
      calls.release++;
      return answer(inner.release(...args));
    },
  };
  return { store, calls };
}

describe('idempotency engine', () => {
  for (const mode of ['synchronous', 'promise'] as const) {
    it(`${mode} store: claims held three times longer than the lease stay claimed (duplicates get 409), then replay`, async () => {
      const { store, calls } = countingStore({ async: mode === 'promise' });
      const guard = createIdempotency({ store, leaseMs: 60 });
      const keys = ['a', 'b', 'c', 'd', 'e'];
      const first = await Promise.all(keys.map((key) => guard.check(view(key))));
      for (const decision of first) expect(decision.type === 'next' && decision.sink !== undefined).toBe(true);
      await sleep(200);
      for (const key of keys) expect(errorCode(await guard.check(view(key)))).toBe('idempotency_conflict');
      expect(calls.renew).toBeGreaterThanOrEqual(keys.length * 2);
      await Promise.all(first.map((decision, i) => (decision.type === 'next' ? decision.sink!.complete(response(i)) : undefined)));
      for (const [i, key] of keys.entries()) {
        const replay = await guard.check(view(key));
        expect(replay.type).toBe('respond');
        if (replay.type !== 'respond') continue;
        expect(replay.status).toBe(201);
        expect(new TextDecoder().decode(replay.body as Uint8Array)).toBe(`{"n":${i}}`);
        expect(replay.headers).toContainEqual(['idempotent-replayed', 'true']);
      }
    });
  }

  it('stops renewing a claim once it completed or was released', async () => {
    const { store, calls } = countingStore();
    const guard = createIdempotency({ store, leaseMs: 30 });
    const done = await guard.check(view('done'));
    const dropped = await guard.check(view('dropped'));
    await sleep(80);
    expect(calls.renew).toBeGreaterThan(0);
    if (done.type === 'next') await done.sink!.complete(response(1));
    if (dropped.type === 'next') await dropped.sink!.abort(new Error('the application threw'));
    const renewals = calls.renew;
    await sleep(80);
    expect(calls.renew).toBe(renewals);
    expect(calls.release).toBe(1);
    // The released key runs again.
    const again = await guard.check(view('dropped'));
    expect(again.type === 'next' && again.sink !== undefined).toBe(true);
  });

  it('a store that throws synchronously gives 503 service_unavailable, never a rejection', async () => {
    const failing: IdempotencyStore = {
      claim: () => {
        throw new Error('disk on fire');
      },
      renew: () => true,
      complete: () => true,
      release: () => true,
    };
    const decision = await createIdempotency({ store: failing }).check(view('k'));
    expect(decision.type === 'respond' && decision.status).toBe(503);
    expect(errorCode(decision)).toBe('service_unavailable');
  });

  it('a store whose promise never settles gives 503 within storeTimeoutMs', async () => {
    const stuck: IdempotencyStore = {
      claim: () => new Promise(() => {}),
      renew: () => true,
      complete: () => true,
      release: () => true,
    };
    const started = Date.now();
    const decision = await createIdempotency({ store: stuck, storeTimeoutMs: 100 }).check(view('k'));
    expect(errorCode(decision)).toBe('service_unavailable');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('decides without a promise when the body is at hand and the store answers synchronously, and replays the same way', () => {
    const guard = createIdempotency({ store: new MemoryStore() });
    const parsed: RequestView = { ...view('sync'), body: () => ({ kind: 'parsed', value: { to: '+1', text: 'hi' }, contentType: 'application/json' }) };
    const first = guard.check(parsed);
    expect(first).not.toBeInstanceOf(Promise);
    if (first instanceof Promise || first.type !== 'next') throw new Error('expected a synchronous run decision');
    expect(first.sink!.complete(response(7))).toBeUndefined();
    const again = guard.check({ ...parsed, body: () => ({ kind: 'parsed', value: { text: 'hi', to: '+1' }, contentType: 'application/json' }) });
    expect(again).not.toBeInstanceOf(Promise);
    if (again instanceof Promise || again.type !== 'respond') throw new Error('expected a synchronous replay');
    expect(again.status).toBe(201);
    expect(new TextDecoder().decode(again.body as Uint8Array)).toBe('{"n":7}');
  });

  it('a scope function that answers with a promise is awaited before the body is read, and its rejection answers with its error', async () => {
    const { ApiError } = await import('../../src/errors/api-error.js');
    const guard = createIdempotency({
      store: new MemoryStore(),
      scope: async () => {
        throw new ApiError('unauthorized');
      },
    });
    let bodyRead = false;
    const decision = await guard.check({
      ...view('scoped'),
      body: async () => {
        bodyRead = true;
        return { kind: 'none' };
      },
    });
    expect(errorCode(decision)).toBe('unauthorized');
    // The scope answers before the body is read: a request its scope refuses is not read at all.
    expect(bodyRead).toBe(false);
  });

  it('a completion that a store fails to record still lets the response go out (complete neither throws nor rejects), and is reported', async () => {
    const inner = new MemoryStore().idempotency;
    const store: IdempotencyStore = {
      claim: (...args) => inner.claim(...args),
      renew: (...args) => inner.renew(...args),
      complete: () => {
        throw new Error('full');
      },
      release: (...args) => inner.release(...args),
    };
    const reports: string[] = [];
    const guard = createIdempotency({ store, storeTimeoutMs: 50, onRecordError: (event) => reports.push(event.kind) });
    const decision = await guard.check(view('k'));
    expect(decision.type).toBe('next');
    if (decision.type === 'next') await expect(Promise.resolve().then(() => decision.sink!.complete(response(1)))).resolves.toBeUndefined();
    expect(reports).toEqual(['not_recorded']);
  });

  it('a store that refuses the response but takes the smaller record: a retry gets 422 idempotency_key_used and never runs', async () => {
    const inner = new MemoryStore().idempotency;
    let refused = 0;
    const store: IdempotencyStore = {
      claim: (...args) => inner.claim(...args),
      renew: (...args) => inner.renew(...args),
      complete: (key, token, stored, ttlMs) => {
        if (stored !== null) {
          refused++;
          return Promise.reject(new Error('OOM command not allowed'));
        }
        return inner.complete(key, token, stored, ttlMs);
      },
      release: (...args) => inner.release(...args),
    };
    const reports: Array<{ kind: string; id: string }> = [];
    const guard = createIdempotency({ store, storeTimeoutMs: 100, onRecordError: (event) => reports.push(event) });
    const decision = await guard.check(view('oom'));
    if (decision.type === 'next') await decision.sink!.complete(response(1));
    expect(refused).toBeGreaterThan(1);
    expect(reports.map((r) => r.kind)).toEqual(['not_replayable']);
    expect(reports[0]!.id).toMatch(/^[\w-]{12}$/);
    const retry = await guard.check(view('oom'));
    expect(errorCode(retry)).toBe('idempotency_key_used');
    const text = retry.type === 'respond' ? retry.body : undefined;
    expect(JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text)).replayable).toBe(false);
  });

  it('onRecordError must be a function', () => {
    expect(() => createIdempotency({ onRecordError: 'log' as never })).toThrow(/options\.onRecordError/);
  });
});

describe('fingerprint of JSON received as bytes', () => {
  const bytes = (text: string): RequestBody => ({ kind: 'bytes', bytes: new TextEncoder().encode(text), contentType: 'application/json; charset=utf-8' });
  const parsed = (value: unknown): RequestBody => ({ kind: 'parsed', value, contentType: 'application/json' });

  it('equals the fingerprint of the same JSON parsed by a body parser, whatever the key order', () => {
    const values = [
      { b: [{ z: 1, a: [true, null, 'x'] }], a: 1.5, '10': 'ten', '2': 'two', é: 'accent', 'a"b': '\u2028' },
      [3, { y: {}, x: [] }, 'str'],
      'just a string',
      42,
      null,
    ];
    for (const value of values) {
      const text = JSON.stringify(value);
      expect(fingerprint('POST', '/m', 'q=1', bytes(text))).toBe(fingerprint('POST', '/m', 'q=1', parsed(value)));
    }
    expect(fingerprint('POST', '/m', '', bytes('{"b":1,"a":{"d":2,"c":3}}'))).toBe(fingerprint('POST', '/m', '', bytes('{ "a": { "c": 3, "d": 2 }, "b": 1 }')));
  });

  it('refuses JSON nested deeper than MAX_JSON_DEPTH with 422 invalid_request, as bytes or parsed, and never runs it', async () => {
    const guard = createIdempotency({ store: new MemoryStore() });
    const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
    // 100,000 levels: what a body parser accepts and recursion here would not survive.
    for (const levels of [MAX_JSON_DEPTH + 1, 100_000]) {
      const asBytes = await guard.check(view(`deep-bytes-${levels}`, nested(levels)));
      expect(asBytes.type === 'respond' && asBytes.status).toBe(422);
      expect(errorCode(asBytes)).toBe('invalid_request');
      const asParsed = await guard.check({ ...view(`deep-parsed-${levels}`), body: () => parsed(JSON.parse(nested(levels))) });
      expect(asParsed.type === 'respond' && asParsed.status).toBe(422);
      expect(errorCode(asParsed)).toBe('invalid_request');
    }
    expect((await guard.check(view('deep-ok', nested(MAX_JSON_DEPTH)))).type).toBe('next');
    expect((await guard.check({ ...view('deep-ok-parsed'), body: () => parsed(JSON.parse(nested(MAX_JSON_DEPTH))) })).type).toBe('next');
  });

  it('counts malformed JSON and non-UTF-8 bytes by their bytes', () => {
    expect(fingerprint('POST', '/m', '', bytes('{"a":1'))).not.toBe(fingerprint('POST', '/m', '', bytes('{"a":1 ')));
    const latin1: RequestBody = { kind: 'bytes', bytes: new Uint8Array([0x7b, 0xe9, 0x7d]), contentType: 'application/json' };
    const other: RequestBody = { kind: 'bytes', bytes: new Uint8Array([0x7b, 0xe8, 0x7d]), contentType: 'application/json' };
    expect(fingerprint('POST', '/m', '', latin1)).not.toBe(fingerprint('POST', '/m', '', other));
  });
});
