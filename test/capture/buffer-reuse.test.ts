/**
 * An application may reuse a buffer once the write it passed it to called back (Node.js's stream
 * contract), and a body stream may refill its buffer once the chunk was read: the capture copies what it
 * keeps, so the response sent and the one stored (and replayed) are what the application wrote.
 */
import type http from 'node:http';
import { serve } from '@hono/node-server';
import express from 'express';
import express4 from 'express4';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as fetchAdapter from '../../adapters/fetch.js';
import * as koaAdapter from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { exchange } from './raw-http.js';
import { keyedPost, type Listening, listening, withServer } from './servers.js';

const WORDS = ['one\n', 'two\n', 'six\n'];
const EXPECTED = WORDS.join('');

/** A Web stream that enqueues one buffer, refilled for each chunk (pulled only when read). */
function refilledStream(): ReadableStream<Uint8Array> {
  const buffer = new Uint8Array(4);
  let i = 0;
  return new ReadableStream(
    {
      pull(controller) {
        if (i === WORDS.length) return controller.close();
        buffer.set(new TextEncoder().encode(WORDS[i++]));
        controller.enqueue(buffer);
      },
    },
    { highWaterMark: 0 },
  );
}

/** First response, then its replay, on one connection. */
async function firstAndReplay(start: () => Promise<Listening>) {
  return withServer(start, async (port) => {
    const { responses } = await exchange(port, [keyedPost('/m', 'reuse'), keyedPost('/m', 'reuse')]);
    return responses.map((r) => [r.status, r.headers.find(([n]) => n === 'idempotent-replayed')?.[1] ?? null, r.body.toString()]);
  });
}

const BOTH = [
  [201, null, EXPECTED],
  [201, 'true', EXPECTED],
];

describe('a buffer the application reuses', () => {
  for (const [name, make] of [
    ['Express 5', express],
    ['Express 4', express4 as unknown as typeof express],
  ] as const) {
    for (const maxResponseBytes of [1024, 6]) {
      it(`${name}: refilled in each write callback (maxResponseBytes ${maxResponseBytes}): sent as written`, async () => {
        const start = () => {
          const app = make();
          app.use(make.json());
          app.use(expressAdapter.idempotency({ store: new MemoryStore(), maxResponseBytes }));
          app.post('/m', (_req, res) => {
            res.status(201).type('text');
            const buffer = Buffer.alloc(4);
            let i = 0;
            const writeNext = () => {
              if (i === WORDS.length) return void res.end();
              buffer.write(WORDS[i++]!);
              res.write(buffer, writeNext);
            };
            writeNext();
          });
          return listening(app.listen(0, '127.0.0.1'));
        };
        const seen = await firstAndReplay(start);
        if (maxResponseBytes > EXPECTED.length) expect(seen).toEqual(BOTH);
        // Too large to keep: sent whole, then a 422 idempotency_key_used (not replayable).
        else expect(seen.map(([status, , body]) => [status, status === 201 ? body : ''])).toEqual([[201, EXPECTED], [422, '']]);
      });
    }
  }

  it('Koa: a stream body that refills its buffer once read: sent and replayed as written', async () => {
    const start = () => {
      const app = new Koa();
      app.use(koaAdapter.idempotency({ store: new MemoryStore() }));
      app.use((ctx) => {
        ctx.status = 201;
        ctx.type = 'text';
        ctx.body = refilledStream();
      });
      return listening(app.listen(0, '127.0.0.1'));
    };
    expect(await firstAndReplay(start)).toEqual(BOTH);
  });

  it('Koa: ctx.respond = false, refilled in each write callback: sent and replayed as written', async () => {
    const start = () => {
      const app = new Koa();
      app.use(koaAdapter.idempotency({ store: new MemoryStore() }));
      app.use((ctx) => {
        ctx.respond = false;
        const res = ctx.res;
        res.writeHead(201, { 'content-type': 'text/plain; charset=utf-8' });
        const buffer = Buffer.alloc(4);
        let i = 0;
        const writeNext = () => {
          if (i === WORDS.length) return void res.end();
          buffer.write(WORDS[i++]!);
          res.write(buffer, writeNext);
        };
        writeNext();
      });
      return listening(app.listen(0, '127.0.0.1'));
    };
    expect(await firstAndReplay(start)).toEqual(BOTH);
  });

  it('fetch: a body stream that refills its buffer once read: sent and replayed as written', async () => {
    const handler = fetchAdapter.guard(() => new Response(refilledStream(), { status: 201 }), {
      idempotency: { store: new MemoryStore() },
    });
    expect(await firstAndReplay(() => listening(serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }) as http.Server))).toEqual(BOTH);
  });
});
