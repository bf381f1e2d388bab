/**
 * A 5xx that a guard decides (a `key` or `cost` callback that fails, an idempotency store that is down) is
 * an error like any other: `errorHandler` answers it, in the format it was given, and reports it to
 * `onError` with its cause. Without this, such failures reached the client and no log.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ErrorEvent } from '../../src/errors/error-responder.js';
import type { IdempotencyStore } from '../../src/idempotency/store.js';
import { type RunningServer, send, startServer, VARIANTS } from '../support/matrix.js';

const boom = new Error('the account service is down');
const failingStore: IdempotencyStore = {
  claim: () => Promise.reject(new Error('connection refused')),
  renew: () => Promise.reject(new Error('connection refused')),
  complete: () => Promise.reject(new Error('connection refused')),
  release: () => Promise.reject(new Error('connection refused')),
};

describe.each(VARIANTS)('guard failures on %s', (variant) => {
  const events: ErrorEvent[] = [];
  const servers: RunningServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  async function serve(format?: 'problem'): Promise<RunningServer> {
    const server = await startServer(variant, {
      errors: { onError: (event) => events.push(event), ...(format ? { format } : {}) },
      guards: [
        {
          kind: 'rateLimit',
          options: {
            limit: 100,
            windowMs: 60_000,
            name: 'by-account',
            key: () => {
              throw boom;
            },
          },
        },
      ],
      routes: [{ method: 'GET', path: '/v1/balance', handler: () => ({ json: { cents: 5 } }) }],
    });
    servers.push(server);
    return server;
  }

  it(`${variant}: a key callback that throws: 500 internal_error, reported once to onError with its cause`, async () => {
    events.length = 0;
    const server = await serve();
    const res = await send(server.url, { path: '/v1/balance' });
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body)).toEqual({ message: expect.any(String), error: 'internal_error' });
    expect(res.body).not.toContain('account service');
    expect(events).toHaveLength(1);
    expect(events[0]!.cause).toBe(boom);
    expect(events[0]!.error.code).toBe('internal_error');
    expect(events[0]!.path).toBe('/v1/balance');
  });

  it(`${variant}: the same failure in the error handler's problem+json format`, async () => {
    events.length = 0;
    const server = await serve('problem');
    const res = await send(server.url, { path: '/v1/balance' });
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(res.body)).toMatchObject({ error: 'internal_error', status: 500 });
    expect(events).toHaveLength(1);
  });

  it(`${variant}: a cost callback that returns garbage, and an idempotency store that is down: reported too`, async () => {
    events.length = 0;
    const server = await startServer(variant, {
      errors: { onError: (event) => events.push(event) },
      guards: [
        { kind: 'spendCap', options: { daily: 100, key: () => 'acct', cost: () => Number.NaN } },
      ],
      routes: [{ method: 'POST', path: '/v1/messages', handler: () => ({ status: 201, json: { id: 'm' } }) }],
    });
    servers.push(server);
    const capped = await send(server.url, { method: 'POST', path: '/v1/messages', body: '{}' });
    expect(capped.status).toBe(500);
    expect(events.map((e) => e.error.code)).toEqual(['internal_error']);
    expect(String((events[0]!.cause as Error).message)).toMatch(/options\.cost returned NaN/);

    events.length = 0;
    const keyed = await startServer(variant, {
      errors: { onError: (event) => events.push(event) },
      guards: [{ kind: 'idempotency', options: { store: failingStore, storeTimeoutMs: 200 } }],
      routes: [{ method: 'POST', path: '/v1/messages', handler: () => ({ status: 201, json: { id: 'm' } }) }],
    });
    servers.push(keyed);
    const down = await send(keyed.url, { method: 'POST', path: '/v1/messages', body: '{}', headers: { 'idempotency-key': 'k-1' } });
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body).error).toBe('service_unavailable');
    expect(events.map((e) => e.error.code)).toEqual(['service_unavailable']);
  });
});
