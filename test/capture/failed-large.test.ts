/**
 * A response larger than maxResponseBytes is streamed through. Its key is recorded as completed but not
 * replayable only once the body ended, and before the client sees the end of the response; a body that
 * fails after passing the bound releases the key (the client only got a broken response), on every adapter.
 */
import type http from 'node:http';
import { pipeline, Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import express from 'express';
import Koa from 'koa';
import { describe, expect, it, vi } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as fetchAdapter from '../../adapters/fetch.js';
import * as koaAdapter from '../../adapters/koa.js';
import type { IdempotencyStore } from '../../src/idempotency/store.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { exchange } from './raw-http.js';
import { keyedPost, type Listening, listening, sleep, withServer } from './servers.js';

const quiet = { onError: () => {} };
const MAX = 1024;
const CHUNK = 'z'.repeat(400);
/** Chunks a big body is made of: 10 of 400 bytes, well past MAX. */
const COUNT = 10;

/** A memory store whose `complete` answers after 80 ms, as one across a slow network may. */
function slowCompleting(): { idempotency: IdempotencyStore } {
  const memory = new MemoryStore().idempotency;
  return {
    idempotency: {
      claim: memory.claim.bind(memory),
      renew: memory.renew.bind(memory),
      release: memory.release.bind(memory),
      complete: async (...args: Parameters<IdempotencyStore['complete']>) => {
        await sleep(80);
        return memory.complete(...args);
      },
    },
  };
}

/** A Node stream of COUNT chunks, failing instead of ending the first time when `fail`. */
function nodeBody(fail: boolean): Readable {
  let sent = 0;
  return new Readable({
    read() {
      setTimeout(() => {
        if (sent === COUNT) {
          if (fail) this.destroy(new Error('upstream broke'));
          else this.push(null);
        } else this.push(`${sent++}${CHUNK}`);
      }, 1);
    },
  });
}

function webBody(fail: boolean): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      await sleep(1);
      if (sent === COUNT) {
        if (fail) controller.error(new Error('upstream broke'));
        else controller.close();
      } else controller.enqueue(new TextEncoder().encode(`${sent++}${CHUNK}`));
    },
  });
}

type Start = (store: { idempotency: IdempotencyStore }, fail: () => boolean, runs: () => number) => Promise<Listening>;

const ADAPTERS: Record<string, Start> = {
  express: (store, fail, runs) => {
    const app = express();
    app.use(express.json());
    app.use(expressAdapter.idempotency({ store, maxResponseBytes: MAX }));
    app.post('/m', (_req, res) => {
      runs();
      res.status(201).type('text');
      pipeline(nodeBody(fail()), res, () => {});
    });
    app.use(expressAdapter.errorHandler(quiet));
    return listening(app.listen(0, '127.0.0.1'));
  },
  'express (write and end)': (store, fail, runs) => {
    const app = express();
    app.use(express.json());
    app.use(expressAdapter.idempotency({ store, maxResponseBytes: MAX }));
    app.post('/m', async (_req, res) => {
      runs();
      res.status(201).type('text');
      for (let i = 0; i < COUNT; i++) {
        res.write(`${i}${CHUNK}`);
        await sleep(1);
      }
      if (fail()) res.destroy(new Error('gave up'));
      else res.end();
    });
    return listening(app.listen(0, '127.0.0.1'));
  },
  koa: (store, fail, runs) => {
    const app = new Koa();
    app.use(koaAdapter.errorHandler(quiet));
    app.use(koaAdapter.idempotency({ store, maxResponseBytes: MAX }));
    app.use((ctx) => {
      runs();
      ctx.status = 201;
      ctx.type = 'text';
      ctx.body = nodeBody(fail());
    });
    return listening(app.listen(0, '127.0.0.1'));
  },
  'koa (ctx.respond = false)': (store, fail, runs) => {
    const app = new Koa();
    app.use(koaAdapter.errorHandler(quiet));
    app.use(koaAdapter.idempotency({ store, maxResponseBytes: MAX }));
    app.use((ctx) => {
      runs();
      ctx.respond = false;
      ctx.res.statusCode = 201;
      ctx.res.setHeader('content-type', 'text/plain');
      pipeline(nodeBody(fail()), ctx.res, () => {});
    });
    return listening(app.listen(0, '127.0.0.1'));
  },
  fetch: (store, fail, runs) => {
    const handler = fetchAdapter.guard(
      () => {
        runs();
        return new Response(webBody(fail()), { status: 201, headers: { 'content-type': 'text/plain' } });
      },
      { errors: quiet, idempotency: { store, maxResponseBytes: MAX } },
    );
    return listening(serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }) as http.Server);
  },
};

const WHOLE = Array.from({ length: COUNT }, (_, i) => `${i}${CHUNK}`).join('');

describe('a response past maxResponseBytes', () => {
  for (const [name, start] of Object.entries(ADAPTERS)) {
    it(`${name}: its body fails after passing the bound: the key is released, and the retry runs`, async () => {
      let count = 0;
      // On fetch, @hono/node-server prints the failing body's error itself before it cuts the response off:
      // it is caught here and checked, not printed.
      const printed = name === 'fetch' ? vi.spyOn(console, 'error').mockImplementation(() => {}) : undefined;
      try {
        await withServer(
          () => start(new MemoryStore(), () => count === 1, () => ++count),
          async (port) => {
            const first = await exchange(port, [keyedPost('/m', 'failed')]);
            // The client got a broken response: cut off, never a whole one.
            expect(first.broken || first.responses.length === 0).toBe(true);
            await sleep(30);
            if (printed) {
              expect(printed).toHaveBeenCalledTimes(1);
              expect(printed).toHaveBeenCalledWith(expect.objectContaining({ message: 'upstream broke' }));
            }
            const retry = await exchange(port, [keyedPost('/m', 'failed')]);
            expect(retry.responses.map((r) => [r.status, r.body.toString()])).toEqual([[201, WHOLE]]);
            expect(count).toBe(2);
            const again = await exchange(port, [keyedPost('/m', 'failed')]);
            expect(again.responses.map((r) => r.status)).toEqual([422]);
            expect(JSON.parse(again.responses[0]!.body.toString())).toMatchObject({ error: 'idempotency_key_used', replayable: false });
            expect(count).toBe(2);
          },
        );
      } finally {
        printed?.mockRestore();
      }
    });

    it(`${name}: its body ends: recorded before the client sees the end, even with a slow store; the retry never runs`, async () => {
      let count = 0;
      await withServer(
        () => start(slowCompleting(), () => false, () => ++count),
        async (port) => {
          // The retry goes out on the same connection the moment the first response is whole.
          const { responses, surplus, broken } = await exchange(port, [keyedPost('/m', 'whole'), keyedPost('/m', 'whole')]);
          expect([surplus.toString(), broken]).toEqual(['', false]);
          expect(responses.map((r) => r.status)).toEqual([201, 422]);
          expect(responses[0]!.body.toString()).toBe(WHOLE);
          // The not-replayable kind, not "still in flight".
          expect(JSON.parse(responses[1]!.body.toString())).toMatchObject({ error: 'idempotency_key_used', replayable: false });
          expect(count).toBe(1);
        },
      );
    });
  }
});
