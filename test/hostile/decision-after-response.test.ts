/**
 * A decision that comes after the response was sent: an earlier middleware (a connect-timeout style 503)
 * answered while a rate-limit `key` or an idempotency `scope` was still pending (a slow Redis, a slow
 * account lookup). When the decision arrives there is nothing left to apply: the process stays up, no
 * rejection goes unhandled, the application does not run for the answered request, and an idempotency
 * key claimed meanwhile is released (a retry runs). Also: an async `scope` that throws an http-error
 * whose header Node refuses gets the documented body (bulwark issue 16, items 1a and 1b).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import createHttpError from 'http-errors';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as koaAdapter from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { send, startServer, VARIANTS } from '../support/matrix.js';

const crashes: unknown[] = [];
const onCrash = (err: unknown) => crashes.push(err);
beforeAll(() => {
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
});
afterAll(() => {
  process.off('unhandledRejection', onCrash);
  process.off('uncaughtException', onCrash);
});

const TIMEOUT_BODY = JSON.stringify({ message: 'The request took too long.', error: 'service_unavailable' });

/** Resolves once `res` finished sending (and a turn later), then gives `value`. */
function afterFinish<T>(res: http.ServerResponse, value: T): Promise<T> {
  return new Promise((resolve) => {
    const go = () => setImmediate(() => resolve(value));
    if (res.writableFinished) go();
    else res.once('finish', go);
  });
}

type Kind = 'rateLimit' | 'idempotency';
type Framework = 'express5' | 'express4' | 'koa3' | 'koa2';

interface Running {
  url: string;
  runs: () => number;
  close: () => Promise<void>;
}

function listen(server: http.Server): Promise<Running['url']> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/**
 * An app whose first middleware answers 503 at once when `x-timeout` is sent, before the guard decides;
 * the guard's callback settles only after that answer was sent.
 */
async function start(framework: Framework, kind: Kind): Promise<Running> {
  let runs = 0;
  let server: http.Server;
  if (framework.startsWith('express')) {
    const express = (framework === 'express5' ? express5 : express4) as unknown as typeof express5;
    const app = express();
    app.use((req, res, next) => {
      if (req.get('x-timeout')) res.status(503).type('application/json').send(TIMEOUT_BODY);
      next();
    });
    const slow = (req: any) => (req.get('x-timeout') ? afterFinish(req.res, 'account') : 'account');
    app.use(
      kind === 'rateLimit'
        ? expressAdapter.rateLimit({ limit: 100, windowMs: 60_000, key: slow })
        : expressAdapter.idempotency({ store: new MemoryStore(), scope: slow }),
    );
    app.post('/work', (_req, res) => {
      runs++;
      res.status(201).json({ ran: runs });
    });
    app.use(expressAdapter.errorHandler({ onError: () => {} }));
    server = http.createServer(app);
  } else {
    const Koa = (framework === 'koa3' ? Koa3 : Koa2) as unknown as typeof Koa3;
    const app = new Koa();
    app.silent = true;
    app.use(koaAdapter.errorHandler({ onError: () => {} }));
    app.use((ctx, next) => {
      if (!ctx.get('x-timeout')) return next();
      // Answers at once and lets the rest of the chain run on, unawaited.
      void next();
      ctx.status = 503;
      ctx.type = 'application/json';
      ctx.body = TIMEOUT_BODY;
      return undefined;
    });
    const slow = (ctx: any) => (ctx.get('x-timeout') ? afterFinish(ctx.res, 'account') : 'account');
    app.use(
      kind === 'rateLimit'
        ? koaAdapter.rateLimit({ limit: 100, windowMs: 60_000, key: slow })
        : koaAdapter.idempotency({ store: new MemoryStore(), scope: slow }),
    );
    app.use((ctx) => {
      if (ctx.method === 'POST' && ctx.path === '/work') {
        runs++;
        ctx.status = 201;
        ctx.body = { ran: runs };
      }
    });
    server = http.createServer(app.callback());
  }
  const url = await listen(server);
  return {
    url,
    runs: () => runs,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits until the slow callback has settled and its decision was (not) applied. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

for (const framework of ['express5', 'express4', 'koa3', 'koa2'] as const) {
  describe(`a decision that comes after the response was sent: ${framework}`, () => {
    it('rateLimit: the process stays up, the application does not run, the next request is answered', async () => {
      const app = await start(framework, 'rateLimit');
      try {
        const timedOut = await send(app.url, { method: 'POST', path: '/work', headers: { 'x-timeout': '1' }, body: '{}' });
        expect(timedOut.status).toBe(503);
        expect(timedOut.body).toBe(TIMEOUT_BODY);
        await settle();
        expect(app.runs()).toBe(0);
        const next = await send(app.url, { method: 'POST', path: '/work', body: '{}' });
        expect(next.status).toBe(201);
        expect(next.headers.ratelimit).toBeDefined();
        expect(crashes).toEqual([]);
      } finally {
        await app.close();
      }
    });

    it('idempotency: the key claimed after the answer is released, so the retry runs', async () => {
      const app = await start(framework, 'idempotency');
      try {
        const key = { 'idempotency-key': `late-${framework}` };
        const timedOut = await send(app.url, { method: 'POST', path: '/work', headers: { ...key, 'x-timeout': '1' }, body: '{}' });
        expect(timedOut.status).toBe(503);
        await settle();
        expect(app.runs()).toBe(0);
        // Same key, same scope: a key still held would give 409 or a replay.
        const retry = await send(app.url, { method: 'POST', path: '/work', headers: key, body: '{}' });
        expect(retry.status).toBe(201);
        expect(app.runs()).toBe(1);
        expect(crashes).toEqual([]);
      } finally {
        await app.close();
      }
    });
  });
}

describe('an async scope that throws an http-error with a header Node refuses (issue 16, 1b)', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: 401 in the documented body without the header; the process stays up`, async () => {
      const app = await startServer(variant, {
        errors: { onError: () => {} },
        guards: [
          {
            kind: 'idempotency',
            options: {
              store: new MemoryStore(),
              scope: async () => {
                await new Promise((resolve) => setImmediate(resolve));
                throw createHttpError(401, 'Token expired', { headers: { 'WWW-Authenticate': 'Bearer realm="☃"' } });
              },
            },
          },
        ],
        routes: [
          { method: 'POST', path: '/work', handler: () => ({ status: 201, json: { ok: true } }) },
          { method: 'GET', path: '/health', handler: () => ({ json: { ok: true } }) },
        ],
      });
      try {
        const res = await send(app.url, { method: 'POST', path: '/work', headers: { 'idempotency-key': 'k1' }, body: '{}' });
        expect(res.status).toBe(401);
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(JSON.parse(res.body)).toEqual({ message: 'Token expired', error: 'unauthorized' });
        expect(res.headers['www-authenticate']).toBeUndefined();
        expect((await send(app.url, { path: '/health' })).status).toBe(200);
        expect(crashes).toEqual([]);
      } finally {
        await app.close();
      }
    });
  }
});
