/**
 * The application ended its response, and then failed (an error thrown after `res.json`, or an audit step
 * after it that rejects), or changed its headers. Without bulwark the response is on its way and the error
 * can only be reported; with the capture holding the response back while its record is written, it must be
 * the same: the response goes out as it was ended, framed by its own length, the error reaches onError,
 * and the replay is that response.
 */
import express from 'express';
import express4 from 'express4';
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import type { ErrorEvent } from '../../src/errors/error-responder.js';
import type { CompletedResponse, IdempotencyStore } from '../../src/idempotency/store.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { exchange } from './raw-http.js';
import { keyedPost, listening, sleep, withServer } from './servers.js';

/** A memory store whose completions answer after a delay, as a networked store's do. */
function slowStore(delayMs: number): { idempotency: IdempotencyStore } {
  const inner = new MemoryStore().idempotency;
  return {
    idempotency: {
      claim: (...args) => inner.claim(...args),
      renew: (...args) => inner.renew(...args),
      release: (...args) => inner.release(...args),
      complete: async (key: string, token: string, response: CompletedResponse, ttlMs: number) => {
        await sleep(delayMs);
        return inner.complete(key, token, response, ttlMs);
      },
    },
  };
}

for (const [name, make] of [
  ['Express 5', express],
  ['Express 4', express4 as unknown as typeof express],
] as const) {
  describe(`${name}: an error or a header change after the application ended the response`, () => {
    const serve = (route: express.RequestHandler, events: ErrorEvent[], store: object) => () => {
      const app = make();
      app.disable('x-powered-by');
      app.set('etag', false);
      app.use(make.json());
      app.use(expressAdapter.idempotency({ store: store as MemoryStore }));
      app.post('/m', route);
      app.use(expressAdapter.errorHandler({ onError: (event) => events.push(event) }));
      return listening(app.listen(0, '127.0.0.1'));
    };

    for (const [storeName, store] of [
      ['memory store', () => new MemoryStore()],
      ['a store that takes 30 ms to record', () => slowStore(30)],
    ] as const) {
      it(`thrown after res.json, and next(err) after an await (${storeName}): the response as ended, the error reported, the replay identical`, async () => {
        const events: ErrorEvent[] = [];
        let runs = 0;
        // Synchronous, so that Express 4 (which does not catch rejections) sees the throw too.
        const route: express.RequestHandler = (req, res, next) => {
          runs++;
          res.status(201).json({ id: `msg_${runs}`, path: req.path });
          if (req.get('x-after') === 'await') {
            setTimeout(() => next(new Error('audit failed')), 5);
            return;
          }
          throw new Error('after send');
        };
        await withServer(serve(route, events, store()), async (port) => {
          for (const after of ['sync', 'await']) {
            const key = `k-${after}`;
            const request = { ...keyedPost('/m', key), headers: { ...keyedPost('/m', key).headers, 'x-after': after } };
            const { responses, surplus, broken } = await exchange(port, [request, request]);
            expect(broken).toBe(false);
            expect(surplus.toString()).toBe('');
            expect(responses.map((r) => [r.status, r.framing])).toEqual([
              [201, 'length'],
              [201, 'length'],
            ]);
            expect(responses[0]!.body.toString()).toMatch(/^\{"id":"msg_\d","path":"\/m"\}$/);
            expect(responses[1]!.body.toString()).toBe(responses[0]!.body.toString());
            expect(responses[1]!.headers).toContainEqual(['idempotent-replayed', 'true']);
          }
          expect(runs).toBe(2);
          await sleep(30); // the audit step's error comes 5 ms after its response
          expect(events.map((e) => [e.afterHeadersSent, (e.cause as Error).message])).toEqual([
            [true, 'after send'],
            [true, 'audit failed'],
          ]);
        });
      });
    }

    it('a header or status set after res.end is refused as Node.js refuses it, and the head sent is the one ended', async () => {
      const events: ErrorEvent[] = [];
      const thrown: string[] = [];
      const route: express.RequestHandler = async (_req, res) => {
        res.status(201).type('text').end('hello');
        await sleep(1);
        res.statusCode = 500;
        try {
          res.setHeader('content-length', '3');
        } catch (err) {
          thrown.push((err as { code?: string }).code ?? 'none');
        }
      };
      await withServer(serve(route, events, slowStore(20)), async (port) => {
        const { responses, surplus, broken } = await exchange(port, [keyedPost('/m', 'late'), keyedPost('/m', 'late')]);
        expect(broken).toBe(false);
        expect(surplus.toString()).toBe('');
        expect(responses.map((r) => [r.status, r.body.toString()])).toEqual([
          [201, 'hello'],
          [201, 'hello'],
        ]);
        expect(responses[0]!.headers).toContainEqual(['content-length', '5']);
      });
      expect(thrown).toEqual(['ERR_HTTP_HEADERS_SENT']);
      expect(events).toEqual([]);
    });
  });
}

describe('a write after the end, under the capture', () => {
  it('calls its callback with ERR_STREAM_WRITE_AFTER_END, as Node.js does, and sends nothing more', async () => {
    const codes: string[] = [];
    const app = express();
    app.use(expressAdapter.idempotency({ store: new MemoryStore() }));
    app.post('/m', (_req, res) => {
      res.end('whole');
      res.write('more', (err) => codes.push((err as { code?: string } | null | undefined)?.code ?? 'no error'));
    });
    await withServer(
      () => listening(app.listen(0, '127.0.0.1')),
      async (port) => {
        const { responses, surplus } = await exchange(port, [keyedPost('/m', 'wae')]);
        expect(responses.map((r) => r.body.toString())).toEqual(['whole']);
        expect(surplus.toString()).toBe('');
        await sleep(10);
      },
    );
    expect(codes).toEqual(['ERR_STREAM_WRITE_AFTER_END']);
  });
});
