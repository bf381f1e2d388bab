/**
 * Adapter cases outside the matrix: repeated header lines (which a Web `Request` joins with `, `), request
 * bodies past the 1 MiB that the guard reads, and response bodies streamed past maxResponseBytes.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { type AppSpec, send, startServer, VARIANTS } from '../support/matrix.js';

const CHUNK = 'y'.repeat(1000);

function bigStreamApp(count: () => number): AppSpec {
  const parts = (n: number) => [`${n}:`, ...Array.from({ length: 20 }, () => CHUNK)];
  return {
    errors: { onError: () => {} },
    guards: [{ kind: 'idempotency', options: { store: new MemoryStore(), maxResponseBytes: 4096 } }],
    routes: [
      {
        method: 'POST',
        path: '/stream',
        native: {
          express: (_req: any, res: any) => {
            res.status(201).type('text');
            Readable.from(parts(count())).pipe(res);
          },
          koa: (ctx: any) => {
            ctx.status = 201;
            ctx.type = 'text';
            ctx.body = Readable.from(parts(count()));
          },
          fastify: (_request: any, reply: any) => reply.code(201).type('text/plain; charset=utf-8').send(Readable.from(parts(count()))),
          fetch: () => {
            const chunks = parts(count());
            return new Response(
              new ReadableStream({
                pull(controller) {
                  const next = chunks.shift();
                  if (next === undefined) controller.close();
                  else controller.enqueue(new TextEncoder().encode(next));
                },
              }),
              { status: 201, headers: { 'content-type': 'text/plain; charset=utf-8' } },
            );
          },
        },
      },
      { method: 'POST', path: '/m', handler: () => ({ status: 201, json: { n: count() } }) },
    ],
  };
}

describe('idempotency on each adapter', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: a body streamed past maxResponseBytes reaches the client whole; a retry never runs it again`, async () => {
      let n = 0;
      const app = await startServer(variant, bigStreamApp(() => ++n));
      try {
        const req = { method: 'POST', path: '/stream', headers: { 'idempotency-key': 'big' }, body: '{}' };
        const first = await send(app.url, req);
        expect(first.status).toBe(201);
        expect(first.aborted).toBe(false);
        expect(first.body).toBe(`1:${CHUNK.repeat(20)}`);
        const retry = await send(app.url, req);
        expect(retry.status).toBe(422);
        expect(JSON.parse(retry.body)).toMatchObject({ error: 'idempotency_key_used', replayable: false });
        expect(n).toBe(1);
      } finally {
        await app.close();
      }
    });
  }

  for (const variant of VARIANTS) {
    it(`${variant}: a keyed request body over 1 MiB that no parser read gets 413 payload_too_large and never runs`, async () => {
      let n = 0;
      const app = await startServer(variant, {
        parseJson: false,
        errors: { onError: () => {} },
        guards: [{ kind: 'idempotency', options: { store: new MemoryStore() } }],
        routes: [{ method: 'POST', path: '/upload', handler: () => ({ status: 201, json: { n: ++n } }) }],
      });
      try {
        const r = await send(app.url, {
          method: 'POST',
          path: '/upload',
          headers: { 'idempotency-key': 'big-upload', 'content-type': 'application/octet-stream' },
          body: 'z'.repeat(1_572_864),
        });
        expect(r.status).toBe(413);
        expect(JSON.parse(r.body).error).toBe('payload_too_large');
        expect(n).toBe(0);
      } finally {
        await app.close();
      }
    });
  }

  for (const variant of VARIANTS) {
    it(`${variant}: a keyed request that no route answers gets the documented 404 not_found body`, async () => {
      const app = await startServer(variant, bigStreamApp(() => 0));
      try {
        const r = await send(app.url, { method: 'POST', path: '/nowhere', headers: { 'idempotency-key': 'lost' }, body: '{}' });
        expect(r.status).toBe(404);
        expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(JSON.parse(r.body).error).toBe('not_found');
      } finally {
        await app.close();
      }
    });
  }

  for (const variant of VARIANTS) {
    it(`${variant}: two Idempotency-Key header lines are a 422 invalid_request`, async () => {
      let n = 0;
      const app = await startServer(variant, bigStreamApp(() => ++n));
      try {
        const r = await send(app.url, { method: 'POST', path: '/m', headers: { 'idempotency-key': ['a', 'b'] }, body: '{}' });
        expect(r.status).toBe(422);
        expect(JSON.parse(r.body).error).toBe('invalid_request');
        expect(n).toBe(0);
      } finally {
        await app.close();
      }
    });
  }
});
