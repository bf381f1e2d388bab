/**
 * Mount order never breaks a keyed request: `idempotency()` before the body parser or after it, on
 * Express 5 and 4 (body-parser 2 and 1) and Koa 3 and 2 (@koa/bodyparser, and a koa-bodyparser style
 * co-body parser), over real sockets. The handler sees the parsed body either way, identity or gzip;
 * a retry replays, another body is a 422, and the two orders agree on fingerprints (one store behind
 * both apps: a retry sent to the other order still replays).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import koaBodyParser from '@koa/bodyparser';
import coBody from 'co-body';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as koaAdapter from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

type Order = 'guard first' | 'parser first';
const ORDERS: Order[] = ['guard first', 'parser first'];
const FRAMEWORKS = ['express5', 'express4', 'koa3 @koa/bodyparser', 'koa2 @koa/bodyparser', 'koa3 co-body', 'koa2 co-body'] as const;
type Framework = (typeof FRAMEWORKS)[number];

/** Parser limit of every app: well above the bytes one socket read brings, so large bodies arrive in parts. */
const LIMIT = 512 * 1024;

interface Served {
  url: string;
  /** How many times the handler ran. */
  runs: () => number;
  close: () => Promise<void>;
}

function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

/** The framework's app with the guard and the JSON parser in the given order; the handler echoes `body`. */
async function serve(framework: Framework, order: Order, store: MemoryStore): Promise<Served> {
  let n = 0;
  const guardOptions = { store, maxBodyBytes: LIMIT };
  let listener: http.RequestListener;
  if (framework.startsWith('express')) {
    const express = (framework === 'express5' ? express5 : express4) as typeof express5;
    const app = express();
    const parser = express.json({ limit: LIMIT });
    const guard = expressAdapter.idempotency(guardOptions);
    if (order === 'guard first') app.use(guard, parser);
    else app.use(parser, guard);
    app.post('/v1/orders', (req, res) => {
      n++;
      res.status(201).json({ n, body: req.body, isBuffer: Buffer.isBuffer(req.body) });
    });
    app.use(expressAdapter.errorHandler({ onError: () => {} }));
    listener = app;
  } else {
    const Koa = (framework.startsWith('koa3') ? Koa3 : Koa2) as typeof Koa3;
    const app = new Koa();
    app.use(koaAdapter.errorHandler({ onError: () => {} }));
    const parser = framework.endsWith('co-body') ? coBodyParser() : (koaBodyParser({ jsonLimit: LIMIT }) as unknown as Koa3.Middleware);
    const guard = koaAdapter.idempotency(guardOptions);
    if (order === 'guard first') app.use(guard).use(parser);
    else app.use(parser).use(guard);
    app.use((ctx) => {
      if (ctx.method !== 'POST' || ctx.path !== '/v1/orders') return;
      n++;
      ctx.status = 201;
      ctx.body = { n, body: (ctx.request as { body?: unknown }).body, isBuffer: false };
    });
    listener = app.callback();
  }
  const { server, url } = await listen(listener);
  return { url, runs: () => n, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A parser in the style of koa-bodyparser 4: co-body when no body is there yet. */
function coBodyParser(): Koa3.Middleware {
  return async (ctx, next) => {
    const request = ctx.request as { body?: unknown; rawBody?: unknown };
    if (request.body === undefined && ctx.is('json')) {
      const result = await coBody.json(ctx, { limit: LIMIT, returnRawBody: true });
      request.body = result.parsed;
      request.rawBody = result.raw;
    }
    await next();
  };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

interface Send {
  key?: string;
  /** @default 'application/json' */
  contentType?: string;
  body: string;
  gzip?: boolean;
  /** Send the body chunked, in two writes this many ms apart (the body is not there when the guard asks). */
  splitMs?: number;
}

function send(url: string, options: Send): Promise<Reply> {
  const payload = options.gzip ? gzipSync(options.body) : Buffer.from(options.body);
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { 'content-type': options.contentType ?? 'application/json' };
    if (options.key !== undefined) headers['idempotency-key'] = options.key;
    if (options.gzip) headers['content-encoding'] = 'gzip';
    if (options.splitMs === undefined) headers['content-length'] = payload.byteLength;
    const req = http.request(`${url}/v1/orders`, { method: 'POST', headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    if (options.splitMs === undefined) {
      req.end(payload);
    } else {
      const half = payload.byteLength >> 1;
      req.write(payload.subarray(0, half));
      setTimeout(() => req.end(payload.subarray(half)), options.splitMs);
    }
  });
}

let unique = 0;
const key = (what: string) => `${what}-${++unique}`;

describe('idempotency() and the body parser, in either order', () => {
  for (const framework of FRAMEWORKS) {
    describe(framework, () => {
      const store = new MemoryStore();
      const apps = {} as Record<Order, Served>;
      beforeAll(async () => {
        for (const order of ORDERS) apps[order] = await serve(framework, order, store);
      });
      afterAll(async () => {
        for (const order of ORDERS) await apps[order].close();
      });

      for (const order of ORDERS) {
        for (const [how, extra] of [
          ['identity', {}],
          ['gzip', { gzip: true }],
          ['chunked, arriving in two parts', { splitMs: 30 }],
          ['gzip, chunked, arriving in two parts', { gzip: true, splitMs: 30 }],
        ] as const) {
          it(`${order}, ${how}: the handler gets the parsed body, a retry replays, another body is a 422`, async () => {
            const app = apps[order];
            const k = key('order');
            const before = app.runs();
            const first = await send(app.url, { key: k, body: '{"item":"book","qty":2,"tags":["a","b"]}', ...extra });
            expect(first.status, first.text).toBe(201);
            expect(JSON.parse(first.text)).toEqual({ n: before + 1, body: { item: 'book', qty: 2, tags: ['a', 'b'] }, isBuffer: false });
            expect(first.headers['idempotent-replayed']).toBeUndefined();
            // The same JSON, other key order and whitespace: a replay.
            const retry = await send(app.url, { key: k, body: '{ "tags": ["a","b"], "qty": 2, "item": "book" }', ...extra });
            expect(retry.status).toBe(201);
            expect(retry.text).toBe(first.text);
            expect(retry.headers['idempotent-replayed']).toBe('true');
            const other = await send(app.url, { key: k, body: '{"item":"book","qty":3,"tags":["a","b"]}', ...extra });
            expect(other.status).toBe(422);
            expect(JSON.parse(other.text).error).toBe('idempotency_key_mismatch');
            const unkeyed = await send(app.url, { body: '{"item":"pen"}', ...extra });
            expect(unkeyed.status).toBe(201);
            expect(JSON.parse(unkeyed.text).body).toEqual({ item: 'pen' });
            expect(app.runs()).toBe(before + 2);
          });
        }

        it(`${order}: a body of several hundred KiB (many socket reads) reaches the handler whole`, async () => {
          const app = apps[order];
          const big = { blob: 'x'.repeat(400 * 1024), n: 1 };
          const first = await send(app.url, { key: key('big'), body: JSON.stringify(big) });
          expect(first.status, first.text.slice(0, 200)).toBe(201);
          expect(JSON.parse(first.text).body).toEqual(big);
        });

        it(`${order}: an empty chunked body gets the same answer with a key as without`, async () => {
          const app = apps[order];
          const unkeyed = await send(app.url, { body: '', splitMs: 5 });
          // Repeated: whether the body's end comes in the same packet as the headers varies from one to the next.
          for (let i = 0; i < 12; i++) {
            const keyed = await send(app.url, { key: key('empty'), body: '', splitMs: i % 3 });
            expect(keyed.status, keyed.text).toBe(unkeyed.status);
            expect({ ...JSON.parse(keyed.text), n: 0 }).toEqual({ ...JSON.parse(unkeyed.text), n: 0 });
          }
        });

        it(`${order}: a body of a type the parser skips counts by its bytes (another text is a 422, not a replay)`, async () => {
          const app = apps[order];
          const k = key('text');
          const first = await send(app.url, { key: k, body: 'hello', contentType: 'text/plain' });
          expect(first.status).toBe(201);
          const retry = await send(app.url, { key: k, body: 'hello', contentType: 'text/plain' });
          expect(retry.headers['idempotent-replayed']).toBe('true');
          const other = await send(app.url, { key: k, body: 'goodbye', contentType: 'text/plain' });
          expect(other.status).toBe(422);
        });

        it(`${order}: a keyed malformed body gets the parser's 4xx, and no 499 or other accident is stored`, async () => {
          const app = apps[order];
          const k = key('bad');
          const bad = await send(app.url, { key: k, body: '{"item":' });
          expect([400, 422]).toContain(bad.status);
          expect(bad.headers['content-type']).toMatch(/^application\/json/);
          // The fixed body under a fresh key runs.
          const good = await send(app.url, { key: key('good'), body: '{"item":"fixed"}' });
          expect(good.status).toBe(201);
          expect(JSON.parse(good.text).body).toEqual({ item: 'fixed' });
        });
      }

      it('the two orders agree on fingerprints: a retry sent to the other order replays, another body is a 422', async () => {
        for (const [from, to] of [ORDERS, [...ORDERS].reverse()] as Order[][]) {
          const k = key('cross');
          const first = await send(apps[from!].url, { key: k, body: '{"a":1,"b":[true,null,"x"]}' });
          expect(first.status).toBe(201);
          const retry = await send(apps[to!].url, { key: k, body: '{"b":[true,null,"x"],"a":1}' });
          expect(retry.status).toBe(201);
          expect(retry.headers['idempotent-replayed']).toBe('true');
          expect(retry.text).toBe(first.text);
          const other = await send(apps[to!].url, { key: k, body: '{"a":2,"b":[true,null,"x"]}' });
          expect(other.status).toBe(422);
        }
      });
    });
  }
});
