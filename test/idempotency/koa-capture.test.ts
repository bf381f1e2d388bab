/**
 * The Koa capture reads a stream body itself before sending it. When the client leaves meanwhile, Koa
 * destroys that stream (it does so when the response closes): the handler did its work, so the key is kept,
 * completed but not replayable (a retry gets 422 `idempotency_key_used` and never runs it again), and
 * nothing is reported as a server error, because nothing failed.
 */
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import Koa from 'koa';
import { expect, it } from 'vitest';
import { errorHandler, idempotency } from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { leaveOnceReached, signal } from '../support/leaving-client.js';

it('a client that leaves while a stream body is read: the handler never runs again, and no 500 is reported', async () => {
  let runs = 0;
  const reported: unknown[] = [];
  const { reached, reachedYet } = signal();
  const app = new Koa();
  app.use(errorHandler({ onError: (error) => reported.push(error) }));
  app.use(idempotency({ store: new MemoryStore() }));
  app.use((ctx) => {
    runs++;
    ctx.status = 201;
    ctx.type = 'text';
    if (runs > 1) {
      ctx.body = `done ${runs}`;
      return;
    }
    // A slow upstream: a chunk every 20 ms for a second.
    let sent = 0;
    ctx.body = new Readable({
      read() {
        setTimeout(() => this.push(sent++ < 50 ? 'chunk;' : null), 20);
      },
    });
    reached();
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m`;
    const init = { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'gone' }, body: '{}' };
    expect(await leaveOnceReached(url, init, reachedYet)).toBe('left');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(reported).toEqual([]);
    const retry = await fetch(url, init);
    expect(retry.status).toBe(422);
    expect(await retry.json()).toMatchObject({ error: 'idempotency_key_used', replayable: false });
    expect(runs).toBe(1);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
