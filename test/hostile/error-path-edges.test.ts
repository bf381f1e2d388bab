/**
 * More ways into the error path: a Koa body JSON cannot write, a Koa 2 body stream that fails before its
 * first byte, an Express handler that destroys the response and then passes an error on, and the default
 * logger given values that throw on every access. Each gives the documented JSON body (or, for a
 * destroyed response, nothing), and the process stays up.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import express5 from 'express';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as koaAdapter from '../../adapters/koa.js';
import { createErrorResponder, type ErrorEvent } from '../../src/errors/error-responder.js';
import { send } from '../support/matrix.js';
import { WEIRD_CASES } from './weird-values.js';

const crashes: unknown[] = [];
const onCrash = (err: unknown) => crashes.push(err);
beforeAll(() => {
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
});
afterAll(() => {
  process.off('unhandledRejection', onCrash);
  process.off('uncaughtException', onCrash);
  expect(crashes).toEqual([]);
});

async function listen(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const INTERNAL = { message: 'An internal error occurred. Retry with backoff.', error: 'internal_error' };

for (const [name, Koa] of [
  ['koa3', Koa3],
  ['koa2', Koa2],
] as const) {
  describe(`${name}: errors that reach Koa itself`, () => {
    it(`${name}: a body JSON cannot write (a bigint) gets the documented 500, reported once`, async () => {
      const events: ErrorEvent[] = [];
      const app = new (Koa as unknown as typeof Koa3)();
      app.silent = true;
      app.use(koaAdapter.errorHandler({ onError: (event) => events.push(event) }));
      app.use((ctx) => {
        ctx.set('x-app', 'set before the failure');
        ctx.body = { n: 10n };
      });
      const server = await listen(app.callback());
      try {
        const res = await send(server.url, { path: '/' });
        expect(res.status).toBe(500);
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(JSON.parse(res.body)).toEqual(INTERNAL);
        expect(res.headers['x-app']).toBeUndefined();
        expect(events).toHaveLength(1);
        expect((await send(server.url, { path: '/' })).status).toBe(500);
      } finally {
        await server.close();
      }
    });
  });
}

describe('koa2: a body stream that fails before its first byte', () => {
  it('gets the documented 500 instead of Koa\'s text', async () => {
    const app = new (Koa2 as unknown as typeof Koa3)();
    app.silent = true;
    app.use(koaAdapter.errorHandler({ onError: () => {} }));
    app.use((ctx) => {
      ctx.type = 'text';
      ctx.body = new Readable({
        read() {
          this.destroy(new Error('disk read failed at /srv/data'));
        },
      });
    });
    const server = await listen(app.callback());
    try {
      const res = await send(server.url, { path: '/' });
      expect(res.status).toBe(500);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(res.body)).toEqual(INTERNAL);
    } finally {
      await server.close();
    }
  });
});

describe('express: a handler that destroys the response, then passes an error on', () => {
  it('the connection ends, the error is reported, and the next request is answered', async () => {
    const events: ErrorEvent[] = [];
    const app = express5();
    app.get('/destroy', (_req, res, next) => {
      res.destroy();
      next(new Error('gave up'));
    });
    app.get('/ok', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(expressAdapter.errorHandler({ onError: (event) => events.push(event) }));
    const server = await listen(app);
    try {
      await expect(send(server.url, { path: '/destroy' })).rejects.toThrow();
      expect((await send(server.url, { path: '/ok' })).status).toBe(200);
      expect(events.map((event) => event.error.code)).toEqual(['internal_error']);
    } finally {
      await server.close();
    }
  });
});

describe('the default logger', () => {
  it('writes one line for every weird value and never throws', () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    try {
      const responder = createErrorResponder({});
      for (const c of WEIRD_CASES) {
        const formatted = responder.respond(c.make(), 'POST', '/v1/messages');
        responder.afterHeadersSent(c.make(), 'POST', '/v1/messages');
        expect(formatted.status, c.name).toBe(c.status);
      }
      const reported = WEIRD_CASES.filter((c) => c.status >= 500 || c.dropped).length;
      expect(lines).toHaveLength(reported + WEIRD_CASES.length);
      for (const line of lines) expect(line).toMatch(/^bulwark: \d{3} [a-z_]+ POST \/v1\/messages/);
      expect(lines.some((line) => line.includes('headers not sent: www-authenticate'))).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });
});
