/**
 * A scripted run through every adapter of the matrix (Express 5 and 4, Koa 3 and 2, fetch, Hono, Fastify 5
 * and 4) with recordMetrics attached to the real OpenTelemetry SDK: allowed, throttled, replayed,
 * conflicting, mismatched, refused by the allowlist, and through a store outage, sent by bulwark's own
 * client. The exported counts must equal what the client saw, exactly, and be the same on every adapter.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFetch } from '../../src/client/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { recordMetrics } from '../../src/otel/index.js';
import { nativeHeader, type RunningServer, startServer, VARIANTS, type Variant } from '../support/matrix.js';
import { counts, recorded } from './support.js';

/** Makes every method of a store part fail while `down.now` is true (the store cannot be reached). */
function breakable<T extends object>(part: T, down: { now: boolean }): T {
  let proto = Object.getPrototypeOf(part);
  const names = new Set<string>();
  while (proto && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name !== 'constructor' && typeof (part as any)[name] === 'function') names.add(name);
    proto = Object.getPrototypeOf(proto);
  }
  for (const name of names) {
    const original = (part as any)[name] as (...args: unknown[]) => unknown;
    (part as any)[name] = (...args: unknown[]) => (down.now ? Promise.reject(new Error('store unreachable')) : original.apply(part, args));
  }
  return part;
}

interface Seen {
  status: number;
  code: string | undefined;
  replayed: boolean;
  method: string;
  /** Sent with an Idempotency-Key. */
  keyed: boolean;
  /** Sent while the store was down. */
  outage: boolean;
}

const snapshots = new Map<Variant, unknown>();

describe('recordMetrics on every adapter: exported counts equal what the client saw', () => {
  for (const variant of VARIANTS) {
    it(variant, async () => {
      const sdk = recorded();
      const stop = recordMetrics({ meterProvider: sdk.provider });
      const down = { now: false };
      const store = new MemoryStore();
      breakable(store.throttle, down);
      breakable(store.idempotency, down);
      let entered!: () => void;
      const inHandler = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let server: RunningServer | undefined;
      try {
        server = await startServer(variant, {
          errors: { onError: () => {} },
          guards: [
            // The matrix client connects from 127.0.0.1, a trusted proxy here: X-Forwarded-For names the client.
            { kind: 'ipAllowlist', options: { allow: ['127.0.0.1/32'], trustProxy: ['127.0.0.1/32'] } },
            {
              kind: 'rateLimit',
              options: (v: Variant) => ({
                name: 'matrix',
                limit: 3,
                windowMs: 60_000,
                store,
                key: (request: unknown) => nativeHeader(v)(request, 'x-bucket') ?? 'none',
                // replaces the stderr line of the outage (the bulwark:store event is published either way)
                onStoreSwitch: () => {},
              }),
            },
            { kind: 'idempotency', options: { store } },
          ],
          routes: [
            { method: 'GET', path: '/things', handler: () => ({ json: { ok: true } }) },
            { method: 'POST', path: '/orders', handler: (req) => ({ status: 201, json: { order: req.body } }) },
            {
              method: 'POST',
              path: '/slow',
              handler: async () => {
                entered();
                await gate;
                return { status: 201, json: { slow: true } };
              },
            },
          ],
        });
        const call = createFetch({ retries: 0, breaker: false, pace: false, retryBudget: false, adaptiveThrottle: false, idempotencyHeader: false });
        const seen: Seen[] = [];
        const send = async (
          method: 'GET' | 'POST',
          path: string,
          bucket: string,
          extra: { key?: string; body?: unknown; forwardedFor?: string; outage?: boolean } = {},
        ) => {
          const headers: Record<string, string> = { 'x-bucket': bucket };
          if (extra.key) headers['idempotency-key'] = extra.key;
          if (extra.forwardedFor) headers['x-forwarded-for'] = extra.forwardedFor;
          if (extra.body !== undefined) headers['content-type'] = 'application/json';
          const res = await call(`${server!.url}${path}`, {
            method,
            headers,
            body: extra.body === undefined ? undefined : JSON.stringify(extra.body),
          });
          const text = await res.text();
          let code: string | undefined;
          try {
            code = (JSON.parse(text) as { error?: string }).error;
          } catch {
            code = undefined;
          }
          seen.push({
            status: res.status,
            code: typeof code === 'string' ? code : undefined,
            replayed: res.headers.get('idempotent-replayed') === 'true',
            method,
            keyed: extra.key !== undefined,
            outage: extra.outage === true,
          });
          return res.status;
        };

        // allowed
        expect(await send('GET', '/things', 'a')).toBe(200);
        expect(await send('GET', '/things', 'a')).toBe(200);
        // denied by the allowlist
        expect(await send('GET', '/things', 'a', { forwardedFor: '203.0.113.5' })).toBe(403);
        // throttled: the fourth in a bucket of three
        for (let i = 0; i < 3; i++) expect(await send('GET', '/things', 'b')).toBe(200);
        expect(await send('GET', '/things', 'b')).toBe(429);
        // replayed, then mismatched
        expect(await send('POST', '/orders', 'c', { key: 'k-1', body: { n: 1 } })).toBe(201);
        expect(await send('POST', '/orders', 'c', { key: 'k-1', body: { n: 1 } })).toBe(201);
        expect(await send('POST', '/orders', 'c', { key: 'k-1', body: { n: 2 } })).toBe(422);
        // conflict: a duplicate while the first still runs
        const first = send('POST', '/slow', 'd', { key: 'k-2', body: {} });
        await inHandler;
        expect(await send('POST', '/slow', 'd', { key: 'k-2', body: {} })).toBe(409);
        release();
        expect(await first).toBe(201);
        // a store outage: the rate limit falls back to its local limiter, idempotency answers 503
        down.now = true;
        expect(await send('GET', '/things', 'e', { outage: true })).toBe(200);
        expect(await send('GET', '/things', 'e', { outage: true })).toBe(200);
        expect(await send('POST', '/orders', 'e', { key: 'k-3', body: { n: 3 }, outage: true })).toBe(503);
        down.now = false;

        const points = await sdk.collect();
        const n = (predicate: (s: Seen) => boolean) => seen.filter(predicate).length;
        const denied = n((s) => s.code === 'ip_not_allowed');
        const throttled = n((s) => s.status === 429);
        const admitted = seen.length - denied;
        const during = n((s) => s.outage);
        const replays = n((s) => s.replayed);
        const claims = n((s) => s.keyed && s.status < 300 && !s.replayed);
        const expected: Record<string, number> = {
          'decision=allow,guard=ipAllowlist,mode=enforce': admitted,
          'decision=deny,guard=ipAllowlist,mode=enforce,reason=not-listed': denied,
          'decision=allow,guard=rateLimit,mode=enforce,policy=matrix,source=store': admitted - throttled - during,
          'decision=throttle,guard=rateLimit,mode=enforce,policy=matrix,source=store': throttled,
          'decision=allow,guard=rateLimit,mode=enforce,policy=matrix,source=fallback': during,
          'decision=claim,guard=idempotency': claims,
          'decision=complete,guard=idempotency,status_class=2xx': claims,
          'decision=replay,guard=idempotency,status_class=2xx': replays,
          'decision=conflict,guard=idempotency': n((s) => s.code === 'idempotency_conflict'),
          'decision=mismatch,guard=idempotency': n((s) => s.code === 'idempotency_key_mismatch'),
          'decision=store-failure,guard=idempotency': n((s) => s.status === 503 && s.code === 'service_unavailable'),
        };
        expect([denied, throttled, during, replays, claims]).toEqual([1, 1, 3, 1, 2]);
        expect(counts(points, 'bulwark.decisions')).toEqual(expected);
        expect(counts(points, 'bulwark.store.transitions')).toEqual({
          'decision=degraded,guard=rateLimit,outage=fallback,policy=matrix': 1,
        });

        // The client's own instruments: one attempt and one call per request, by what it answered.
        const byClass: Record<string, number> = {};
        for (const s of seen) {
          const label = `method=${s.method},status_class=${Math.floor(s.status / 100)}xx`;
          byClass[label] = (byClass[label] ?? 0) + 1;
        }
        expect(counts(points, 'bulwark.client.attempts')).toEqual(byClass);
        expect(counts(points, 'bulwark.client.attempt.duration')).toEqual(byClass);
        expect(counts(points, 'bulwark.client.calls')).toEqual(byClass);
        expect(counts(points, 'bulwark.client.retries')).toEqual({});

        snapshots.set(variant, {
          decisions: counts(points, 'bulwark.decisions'),
          store: counts(points, 'bulwark.store.transitions'),
          cost: counts(points, 'bulwark.cost'),
          refunds: counts(points, 'bulwark.refunds'),
          attempts: counts(points, 'bulwark.client.attempts'),
        });
      } finally {
        release();
        stop();
        await server?.close();
        await sdk.shutdown();
      }
    });
  }

  it('identical across adapters', () => {
    const reference = snapshots.get('express5');
    expect(reference, 'express5 ran').toBeDefined();
    for (const variant of VARIANTS) expect(snapshots.get(variant), variant).toEqual(reference);
  });
});

afterAll(() => {
  snapshots.clear();
});
