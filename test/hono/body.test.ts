/**
 * idempotency() on Hono reads the body without taking it from the handler: from a clone of c.req.raw when
 * nothing read it before, so that c.req.json(), c.req.text() and c.req.raw all still work; from Hono's body
 * cache when a validator (or c.req.json()) mounted before it read the body. A body read by someone who left
 * nothing behind fails loudly (a 500 and one process warning), never a fingerprint of nothing.
 */
import { Hono } from 'hono';
import { validator } from 'hono/validator';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { errorHandler, idempotency, notFound } from '../../adapters/hono.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { send } from '../support/matrix.js';
import { type Served, serveApp } from './support.js';

let served: Served | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

function base(): Hono {
  const app = new Hono();
  app.onError(errorHandler({ onError: () => {} }));
  app.notFound(notFound());
  return app;
}

const post = (key: string, body: string) => ({ method: 'POST', path: '/v1/messages', headers: { 'idempotency-key': key }, body });

describe('idempotency() and the request body on Hono', () => {
  it('the handler still reads the body (c.req.json(), c.req.text(), c.req.raw); a retry replays; another body is a 422', async () => {
    let runs = 0;
    const app = base();
    app.use(idempotency({ store: new MemoryStore() }));
    app.post('/v1/messages', async (c) => {
      runs++;
      const json = await c.req.json();
      const text = await c.req.text();
      return c.json({ id: `msg_${runs}`, to: json.to, length: text.length }, 201);
    });
    app.post('/v1/raw', async (c) => c.json(await c.req.raw.json(), 201));
    served = await serveApp(app);
    const body = JSON.stringify({ to: '+33612345678' });
    const first = await send(served.url, post('k1', body));
    expect(first.status).toBe(201);
    expect(JSON.parse(first.body)).toEqual({ id: 'msg_1', to: '+33612345678', length: body.length });
    const retry = await send(served.url, post('k1', body));
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toBe(first.body);
    const other = await send(served.url, post('k1', JSON.stringify({ to: '+33600000000' })));
    expect(other.status).toBe(422);
    expect(JSON.parse(other.body).error).toBe('idempotency_key_mismatch');
    expect(runs).toBe(1);
    const raw = await send(served.url, { method: 'POST', path: '/v1/raw', headers: { 'idempotency-key': 'k2' }, body: '{"a":1}' });
    expect(raw.status).toBe(201);
    expect(JSON.parse(raw.body)).toEqual({ a: 1 });
  });

  it("after a validator read the body: the fingerprint is Hono's cached body, and the handler gets the validated value", async () => {
    let runs = 0;
    const app = base();
    app.post(
      '/v1/messages',
      validator('json', (value) => value as { to: string }),
      idempotency({ store: new MemoryStore() }),
      async (c) => {
        runs++;
        return c.json({ id: `msg_${runs}`, to: c.req.valid('json').to, again: (await c.req.json()).to }, 201);
      },
    );
    served = await serveApp(app);
    const first = await send(served.url, post('k1', '{"to":"a"}'));
    expect(first.status).toBe(201);
    expect(JSON.parse(first.body)).toEqual({ id: 'msg_1', to: 'a', again: 'a' });
    const retry = await send(served.url, post('k1', '{"to":"a"}'));
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toBe(first.body);
    const other = await send(served.url, post('k1', '{"to":"b"}'));
    expect(other.status).toBe(422);
    expect(JSON.parse(other.body).error).toBe('idempotency_key_mismatch');
    expect(runs).toBe(1);
  });

  it('a body read before the guard with nothing left in the cache: a 500 and one warning saying how to mount it', async () => {
    // The warning is caught where it is emitted (a 'warning' listener would not keep Node.js from printing it).
    const emitWarning = process.emitWarning;
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(((warning: string | Error, ...rest: unknown[]) => {
      const options = rest[0] as { code?: string } | undefined;
      if (options?.code !== 'BULWARK_BODY_ALREADY_READ') emitWarning.call(process, warning, ...(rest as [never]));
    }) as typeof process.emitWarning);
    try {
      let runs = 0;
      const app = base();
      app.use(async (c, next) => {
        await c.req.raw.text();
        await next();
      });
      app.use(idempotency({ store: new MemoryStore() }));
      app.post('/v1/messages', (c) => c.json({ id: `msg_${++runs}` }, 201));
      served = await serveApp(app);
      const res = await send(served.url, post('k1', '{"to":"a"}'));
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body).error).toBe('internal_error');
      await send(served.url, post('k2', '{"to":"a"}'));
      expect(runs).toBe(0);
      const ours = emitted.mock.calls.filter(([, options]) => (options as { code?: string } | undefined)?.code === 'BULWARK_BODY_ALREADY_READ');
      expect(ours).toHaveLength(1);
      expect(String(ours[0]![0])).toMatch(/mount idempotency\(\) before it/);
    } finally {
      emitted.mockRestore();
    }
  });
});
