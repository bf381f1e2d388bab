/**
 * The raw body the idempotency guard reads when no body parser ran before it, on every adapter over real
 * sockets: `maxBodyBytes` sets how much it reads (over it: 413, under it: the request runs); the handler
 * can still read the request's own stream whole afterwards; and numbers count by their exact value.
 */
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as fetchAdapter from '../../adapters/fetch.js';
import * as koaAdapter from '../../adapters/koa.js';
import { createIdempotency } from '../../src/idempotency/idempotency.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { type AppSpec, send, startServer, VARIANTS } from '../support/matrix.js';

async function streamText(stream: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** A route whose handler reads the raw body itself (no parser anywhere) and answers its length and head. */
function rawApp(options: object, count: () => number): AppSpec {
  const answer = (text: string) => ({ n: count(), length: text.length, head: text.slice(0, 24) });
  return {
    parseJson: false,
    errors: { onError: () => {} },
    guards: [{ kind: 'idempotency', options: { store: new MemoryStore(), ...options } }],
    routes: [
      {
        method: 'POST',
        path: '/upload',
        native: {
          express: async (req: any, res: any) => {
            res.status(201).json(answer(await streamText(req)));
          },
          koa: async (ctx: any) => {
            ctx.status = 201;
            ctx.body = answer(await streamText(ctx.req));
          },
          fastify: async (request: any, reply: any) => reply.code(201).send(answer(await streamText(request.raw))),
          fetch: async (request: Request) => Response.json(answer(await request.text()), { status: 201 }),
        },
      },
    ],
  };
}

const MIB = 1_048_576;

describe('idempotency({ maxBodyBytes })', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: a keyed body of 1.5 MiB runs under maxBodyBytes of 4 MiB, the handler reads it whole, a retry replays`, async () => {
      let n = 0;
      const app = await startServer(variant, rawApp({ maxBodyBytes: 4 * MIB }, () => ++n));
      try {
        const body = `{"blob":"${'z'.repeat(1.5 * MIB)}"}`;
        const req = { method: 'POST', path: '/upload', headers: { 'idempotency-key': 'big' }, body, timeoutMs: 15_000 };
        const first = await send(app.url, req);
        expect(first.status, first.body.slice(0, 200)).toBe(201);
        expect(JSON.parse(first.body)).toEqual({ n: 1, length: body.length, head: body.slice(0, 24) });
        const retry = await send(app.url, req);
        expect(retry.status).toBe(201);
        expect(retry.headers['idempotent-replayed']).toBe('true');
        expect(n).toBe(1);
      } finally {
        await app.close();
      }
    });

    it(`${variant}: a keyed body over a small maxBodyBytes gets 413 and never runs; unkeyed, it runs`, async () => {
      let n = 0;
      const app = await startServer(variant, rawApp({ maxBodyBytes: 64 }, () => ++n));
      try {
        const body = JSON.stringify({ text: 'x'.repeat(100) });
        const keyed = await send(app.url, { method: 'POST', path: '/upload', headers: { 'idempotency-key': 'k' }, body });
        expect(keyed.status).toBe(413);
        expect(JSON.parse(keyed.body).error).toBe('payload_too_large');
        expect(n).toBe(0);
        const fits = await send(app.url, { method: 'POST', path: '/upload', headers: { 'idempotency-key': 'k2' }, body: '{"a":1}' });
        expect(fits.status).toBe(201);
        const unkeyed = await send(app.url, { method: 'POST', path: '/upload', body });
        expect(unkeyed.status).toBe(201);
        expect(JSON.parse(unkeyed.body).length).toBe(body.length);
      } finally {
        await app.close();
      }
    });

    it(`${variant}: numbers a double cannot hold keep their value (9007199254740993 is not ...992: 422), spelling does not matter`, async () => {
      let n = 0;
      const app = await startServer(variant, rawApp({}, () => ++n));
      try {
        const post = (body: string) => send(app.url, { method: 'POST', path: '/upload', headers: { 'idempotency-key': 'num' }, body });
        expect((await post('{"n":9007199254740993,"big":1e400}')).status).toBe(201);
        expect((await post('{"n":9007199254740992,"big":1e400}')).status).toBe(422);
        expect((await post('{"n":9007199254740993,"big":1e401}')).status).toBe(422);
        const respelled = await post('{ "big": 10e399, "n": 9007199254740993.0 }');
        expect(respelled.status).toBe(201);
        expect(respelled.headers['idempotent-replayed']).toBe('true');
        expect(n).toBe(1);
      } finally {
        await app.close();
      }
    });
  }

  it('is validated when the middleware is built: a TypeError naming maxBodyBytes', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1048576', null, 2 ** 60]) {
      for (const build of [
        () => createIdempotency({ maxBodyBytes: bad as number }),
        () => expressAdapter.idempotency({ maxBodyBytes: bad as number }),
        () => koaAdapter.idempotency({ maxBodyBytes: bad as number }),
        () => fetchAdapter.guard(() => new Response(), { idempotency: { maxBodyBytes: bad as number } }),
      ]) {
        expect(build, String(bad)).toThrow(TypeError);
        expect(build, String(bad)).toThrow(/maxBodyBytes/);
      }
    }
    expect(() => createIdempotency({ maxBodyBytes: 0 })).not.toThrow();
  });
});
