/**
 * Koa gives a Buffer body a Content-Type of its own (`application/octet-stream`) when none is set. A keyed
 * response without one (bytes whose type the application removed, a stream body replaced by null) must go
 * out without one, and so must its replay.
 */
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import Koa from 'koa';
import Koa2 from 'koa2';
import { describe, expect, it } from 'vitest';
import { idempotency } from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

describe.each([
  ['Koa 3', Koa],
  ['Koa 2', Koa2 as unknown as typeof Koa],
])('%s: a keyed response without a Content-Type', (name, K) => {
  it.each([
    ['bytes whose type was removed', (ctx: Koa.Context) => {
      ctx.status = 201;
      ctx.body = Buffer.from('raw');
      ctx.remove('content-type');
    }],
    ['a stream body replaced by null', (ctx: Koa.Context) => {
      ctx.body = Readable.from(['a', 'b']);
      ctx.body = null;
      ctx.status = 201;
    }],
  ])(`${name}: %s: the first response and its replay carry none`, async (_case, handler) => {
    const app = new K();
    app.use(idempotency({ store: new MemoryStore() }));
    app.use(handler as Koa.Middleware);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m`;
      const init = { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'k' }, body: '{}' };
      const first = await fetch(url, init);
      const firstBody = await first.text();
      const replay = await fetch(url, init);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect([first.status, first.headers.get('content-type')]).toEqual([201, null]);
      expect([replay.status, replay.headers.get('content-type'), await replay.text()]).toEqual([201, null, firstBody]);
    } finally {
      server.close();
    }
  });
});
