/**
 * Hono's rateLimit and spendCap middleware carry their guard's run-time controls, as on Express and Koa:
 * `peek` reads a key's quota, `setMode` switches a mounted guard to shadow mode and back without
 * rebuilding it, and `mode` says which it is in. Over a real socket.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { errorHandler, rateLimit, spendCap } from '../../adapters/hono.js';
import { type Served, serveApp } from './support.js';

let served: Served | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

describe('Hono middleware controls', () => {
  it('rateLimit: setMode turns refusals into admissions and back; peek reads what was spent', async () => {
    const limiter = rateLimit({ limit: 1, windowMs: 60_000, key: () => 'acct_1', getConnInfo });
    expect(limiter.mode).toBe('enforce');
    const app = new Hono();
    app.onError(errorHandler());
    app.use(limiter);
    app.get('/', (c) => c.text('ok'));
    served = await serveApp(app);
    expect((await fetch(served.url)).status).toBe(200);
    expect((await fetch(served.url)).status).toBe(429);
    limiter.setMode('shadow');
    expect(limiter.mode).toBe('shadow');
    expect((await fetch(served.url)).status).toBe(200);
    limiter.setMode('enforce');
    expect((await fetch(served.url)).status).toBe(429);
    expect((await limiter.peek('acct_1')).remaining).toBe(0);
    expect(() => limiter.setMode('log' as never)).toThrow(TypeError);
  });

  it('spendCap: peek and setMode are there', async () => {
    const cap = spendCap({ daily: 5, cost: 3, key: () => 'acct_2', getConnInfo });
    const app = new Hono();
    app.onError(errorHandler());
    app.use(cap);
    app.post('/', (c) => c.json({ ok: true }, 201));
    served = await serveApp(app);
    expect((await fetch(served.url, { method: 'POST' })).status).toBe(201);
    expect((await fetch(served.url, { method: 'POST' })).status).toBe(403);
    cap.setMode('shadow');
    expect((await fetch(served.url, { method: 'POST' })).status).toBe(201);
    expect((await cap.peek('acct_2')).daily?.used).toBe(3);
  });
});
