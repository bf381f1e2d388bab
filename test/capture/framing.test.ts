/**
 * A handler that wrote part of a body and then failed: nothing had reached the wire (the capture buffers),
 * so the client gets the error handler's documented JSON body alone, framed by its own length, and the key
 * is released. Checked on one kept-alive connection, where surplus bytes of a broken framing would arrive
 * ahead of the next response.
 */
import type http from 'node:http';
import { Readable } from 'node:stream';
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
import { keyedPost, type Listening, listening, sleep, withServer } from './servers.js';

const quiet = { onError: () => {} };
const INTERNAL = '{"message":"An internal error occurred.","error":"internal_error"}';

/** Two keyed requests with one key on one connection: the first fails after a partial write, the second runs. */
async function failThenRun(start: () => Promise<Listening>) {
  return withServer(start, async (port) => {
    const { responses, surplus, broken } = await exchange(port, [keyedPost('/m', 'k'), keyedPost('/m', 'k')]);
    return {
      responses: responses.map((r) => [r.status, r.framing, r.body.toString()]),
      surplus: surplus.toString(),
      broken,
    };
  });
}

const CLEAN = {
  responses: [
    [500, 'length', INTERNAL],
    [201, 'length', 'done 2'],
  ],
  surplus: '',
  broken: false,
};

/** Whether the error body is the documented one (its message may be configured elsewhere). */
function normalize(result: Awaited<ReturnType<typeof failThenRun>>) {
  const first = result.responses[0];
  if (first && typeof first[2] === 'string' && first[2].includes('"error":"internal_error"')) first[2] = INTERNAL;
  return result;
}

for (const [name, make] of [
  ['Express 5', express],
  ['Express 4', express4 as unknown as typeof express],
] as const) {
  describe(`${name}: a partial write, then a thrown error`, () => {
    const app = (fail: (res: express.Response, next: express.NextFunction) => void) => () => {
      let runs = 0;
      const a = make();
      a.use(make.json());
      a.use(expressAdapter.idempotency({ store: new MemoryStore() }));
      a.post('/m', (_req, res, next) => {
        runs++;
        res.status(201).type('text');
        if (runs === 1) return fail(res, next);
        res.end(`done ${runs}`);
      });
      a.use(expressAdapter.errorHandler(quiet));
      return listening(a.listen(0, '127.0.0.1'));
    };

    it('thrown synchronously: the JSON error alone, with its own length; the retry runs', async () => {
      const result = await failThenRun(
        app((res) => {
          res.write('partial body that never went out; ');
          res.write(Buffer.from('more of it'));
          throw new Error('boom');
        }),
      );
      expect(normalize(result)).toEqual(CLEAN);
    });

    it('passed to next() later: the JSON error alone, with its own length; the retry runs', async () => {
      const result = await failThenRun(
        app((res, next) => {
          res.write('partial; ');
          setTimeout(() => next(new Error('upstream failed')), 5);
        }),
      );
      expect(normalize(result)).toEqual(CLEAN);
    });

    it("an error handler of the application's own that answers after a partial write: never a broken framing; the retry runs", async () => {
      const start = () => {
        let runs = 0;
        const a = make();
        a.use(make.json());
        a.use(expressAdapter.idempotency({ store: new MemoryStore() }));
        a.post('/m', (_req, res) => {
          runs++;
          res.status(201).type('text');
          if (runs > 1) return res.end(`done ${runs}`);
          res.write('partial; ');
          throw new Error('boom');
        });
        a.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
          res.status(500).json({ mine: true });
        });
        return listening(a.listen(0, '127.0.0.1'));
      };
      await withServer(start, async (port) => {
        // Without bulwark the handler's headers went out with the partial write, and Express closes the
        // connection when another answer comes after them. Here: closed, never surplus bytes.
        const first = await exchange(port, [keyedPost('/m', 'own')]);
        expect(first.surplus.toString()).toBe('');
        for (const response of first.responses) expect(response.body.toString()).not.toContain('partial');
        const retry = await exchange(port, [keyedPost('/m', 'own')]);
        expect(retry.responses.map((r) => [r.status, r.body.toString()])).toEqual([[201, 'done 2']]);
      });
    });
  });
}

describe('Koa: a partial write, then a thrown error', () => {
  const app = (fail: (ctx: Koa.Context) => Promise<void> | void) => () => {
    let runs = 0;
    const a = new Koa();
    a.use(koaAdapter.errorHandler(quiet));
    a.use(koaAdapter.idempotency({ store: new MemoryStore() }));
    a.use(async (ctx) => {
      runs++;
      ctx.status = 201;
      ctx.type = 'text';
      if (runs === 1) return fail(ctx);
      ctx.body = `done ${runs}`;
    });
    return listening(a.listen(0, '127.0.0.1'));
  };

  it('written to ctx.res (ctx.respond = false): the JSON error alone; the retry runs', async () => {
    const result = await failThenRun(
      app(async (ctx) => {
        ctx.respond = false;
        ctx.res.writeHead(201, { 'content-type': 'text/plain' });
        ctx.res.write('partial; ');
        await sleep(5);
        throw new Error('boom');
      }),
    );
    expect(normalize(result)).toEqual(CLEAN);
  });

  it('a stream body that fails before its end: the JSON error alone; the retry runs', async () => {
    const result = await failThenRun(
      app((ctx) => {
        let sent = 0;
        ctx.body = new Readable({
          read() {
            if (sent++ === 0) this.push('partial; ');
            else setTimeout(() => this.destroy(new Error('upstream broke')), 5);
          },
        });
      }),
    );
    expect(normalize(result)).toEqual(CLEAN);
  });
});

describe('fetch: a body stream that fails before its end', () => {
  it('the JSON error alone; the retry runs', async () => {
    let runs = 0;
    const handler = fetchAdapter.guard(
      () => {
        runs++;
        if (runs > 1) return new Response(`done ${runs}`, { status: 201 });
        let sent = 0;
        return new Response(
          new ReadableStream({
            async pull(controller) {
              if (sent++ === 0) controller.enqueue(new TextEncoder().encode('partial; '));
              else {
                await sleep(5);
                controller.error(new Error('upstream broke'));
              }
            },
          }),
          { status: 201 },
        );
      },
      { errors: quiet, idempotency: { store: new MemoryStore() } },
    );
    const result = await failThenRun(() => listening(serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }) as http.Server));
    expect(normalize(result)).toEqual(CLEAN);
  });
});
