/**
 * A replay's status line and framing are those of the first response: the application's own reason
 * phrase (`res.statusMessage`, Koa `ctx.message`, fetch `statusText`) comes back, and a 204 carries no
 * Content-Length (nor body), as the first did not. Read off raw sockets, where both are visible.
 */
import type http from 'node:http';
import { serve } from '@hono/node-server';
import express from 'express';
import express4 from 'express4';
import Koa from 'koa';
import Koa2 from 'koa2';
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as fetchAdapter from '../../adapters/fetch.js';
import * as koaAdapter from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { exchange, type RawResponse } from './raw-http.js';
import { keyedPost, type Listening, listening, withServer } from './servers.js';

/** POST /phrase answers 201 "Created Nicely"; POST /empty answers 204. */
type Start = () => Promise<Listening>;

const SERVERS: Record<string, Start> = {
  'Express 5': () => expressApp(express),
  'Express 4': () => expressApp(express4 as unknown as typeof express),
  'Koa 3': () => koaApp(Koa),
  'Koa 2': () => koaApp(Koa2 as unknown as typeof Koa),
  fetch: () => {
    const handler = fetchAdapter.guard(
      (request) =>
        new URL(request.url).pathname === '/phrase'
          ? new Response('made', { status: 201, statusText: 'Created Nicely', headers: { 'content-type': 'text/plain' } })
          : new Response(null, { status: 204, headers: { 'x-done': '1' } }),
      { idempotency: { store: new MemoryStore() } },
    );
    return listening(serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }) as http.Server);
  },
};

function expressApp(make: typeof express): Promise<Listening> {
  const app = make();
  app.use(make.json());
  app.use(expressAdapter.idempotency({ store: new MemoryStore() }));
  app.post('/phrase', (_req, res) => {
    res.statusMessage = 'Created Nicely';
    res.status(201).type('text').send('made');
  });
  app.post('/empty', (_req, res) => {
    res.set('x-done', '1').sendStatus(204);
  });
  return listening(app.listen(0, '127.0.0.1'));
}

function koaApp(Make: typeof Koa): Promise<Listening> {
  const app = new Make();
  app.use(koaAdapter.idempotency({ store: new MemoryStore() }));
  app.use((ctx) => {
    if (ctx.path === '/phrase') {
      ctx.status = 201;
      ctx.message = 'Created Nicely';
      ctx.type = 'text';
      ctx.body = 'made';
    } else {
      ctx.set('x-done', '1');
      ctx.status = 204;
    }
  });
  return listening(app.listen(0, '127.0.0.1'));
}

/** The reason phrase a first response carries on the wire: @hono/node-server sends the standard one. */
const ONWIRE = (name: string) => (name === 'fetch' ? 'Created' : 'Created Nicely');

const view = (r: RawResponse) => ({
  status: r.status,
  reason: r.reason,
  length: r.headers.find(([n]) => n === 'content-length')?.[1],
  body: r.body.toString(),
});

describe('a replay has the status line and framing of the first response', () => {
  it("fetch: the application's own statusText comes back (in the Response; @hono/node-server sends none)", async () => {
    const guarded = fetchAdapter.guard(() => new Response('made', { status: 201, statusText: 'Created Nicely' }), {
      idempotency: { store: new MemoryStore() },
    });
    const request = () => new Request('http://localhost/phrase', { method: 'POST', headers: { 'idempotency-key': 'p' }, body: '{}' });
    const first = await guarded(request());
    const replay = await guarded(request());
    expect([first.status, first.statusText, await first.text()]).toEqual([201, 'Created Nicely', 'made']);
    expect([replay.status, replay.statusText, replay.headers.get('idempotent-replayed'), await replay.text()]).toEqual([201, 'Created Nicely', 'true', 'made']);
  });

  for (const [name, start] of Object.entries(SERVERS)) {
    it(`${name}: the reason phrase on the wire comes back`, async () => {
      await withServer(start, async (port) => {
        const { responses, surplus } = await exchange(port, [keyedPost('/phrase', 'p'), keyedPost('/phrase', 'p')]);
        expect(surplus.toString()).toBe('');
        expect(responses.map(view)).toEqual([
          { status: 201, reason: ONWIRE(name), length: '4', body: 'made' },
          { status: 201, reason: ONWIRE(name), length: '4', body: 'made' },
        ]);
      });
    });

    it(`${name}: a 204 comes back without a Content-Length, as it first went out`, async () => {
      await withServer(start, async (port) => {
        const { responses, surplus } = await exchange(port, [keyedPost('/empty', 'e'), keyedPost('/empty', 'e')]);
        expect(surplus.toString()).toBe('');
        expect(responses.map(view)).toEqual([
          { status: 204, reason: 'No Content', length: undefined, body: '' },
          { status: 204, reason: 'No Content', length: undefined, body: '' },
        ]);
        expect(responses[1]!.headers).toContainEqual(['idempotent-replayed', 'true']);
        expect(responses[1]!.headers).toContainEqual(['x-done', '1']);
      });
    });
  }
});
