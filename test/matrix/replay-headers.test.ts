/**
 * Replays of responses without a body (204, 205, 304) on every adapter, the fetch adapter's answer to a
 * HEAD request, and the headers of a replay when earlier middleware (cors, helmet, Express's own
 * X-Powered-By) set headers of the same name again on the replayed request (bulwark issue 16, items 6
 * and 8).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as fetchAdapter from '../../adapters/fetch.js';
import * as koaAdapter from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { type AppSpec, matrix, type RouteSpec, send, startServer, VARIANTS } from '../support/matrix.js';

function nullBodyRoute(status: number): RouteSpec {
  return {
    method: 'POST',
    path: `/s${status}`,
    native: {
      express: (_req: any, res: any) => res.status(status).set('x-made', String(status)).end(),
      koa: (ctx: any) => {
        ctx.status = status;
        ctx.set('x-made', String(status));
      },
      fastify: (_request: any, reply: any) => reply.code(status).header('x-made', String(status)).send(),
      fetch: () => new Response(null, { status, headers: { 'x-made': String(status) } }),
    },
  };
}

const nullBodies = (): AppSpec => ({
  errors: { onError: () => {} },
  guards: [{ kind: 'idempotency', options: { store: new MemoryStore() } }],
  routes: [nullBodyRoute(204), nullBodyRoute(205), nullBodyRoute(304)],
});

for (const status of [204, 304]) {
  matrix(
    `idempotency: a ${status} is replayed as a ${status} without a body, for as long as it is kept`,
    nullBodies,
    async ({ send }) => {
      const request = { method: 'POST', path: `/s${status}`, headers: { 'idempotency-key': `nb-${status}` }, body: '{}' };
      return [await send(request), await send(request), await send(request)];
    },
    ([first, replay, again]) => {
      expect(first!.status).toBe(status);
      expect(first!.headers['idempotent-replayed']).toBeUndefined();
      for (const res of [replay!, again!]) {
        expect(res.status).toBe(status);
        expect(res.aborted).toBe(false);
        expect(res.body).toBe('');
        expect(res.headers['idempotent-replayed']).toBe('true');
        expect(res.headers['x-made']).toBe(String(status));
      }
    },
  );
}

matrix(
  'rateLimit: a refused HEAD request gets the 429 headers and no body',
  { errors: { onError: () => {} }, guards: [{ kind: 'rateLimit', options: { limit: 1, windowMs: 60_000 } }], routes: [] },
  async ({ send }) => [await send({ method: 'HEAD', path: '/x' }), await send({ method: 'HEAD', path: '/x' })],
  ([, refused]) => {
    expect(refused!.status).toBe(429);
    expect(refused!.body).toBe('');
    expect(refused!.aborted).toBe(false);
    expect(refused!.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(refused!.headers['retry-after']).toBe('60');
  },
);

describe('idempotency: a 205 is replayed as a 205 without a body', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: the replay has the first response's headers, and the replay marker`, async () => {
      const app = await startServer(variant, nullBodies());
      try {
        const request = { method: 'POST', path: '/s205', headers: { 'idempotency-key': 'nb-205' }, body: '{}' };
        const first = await send(app.url, request);
        for (const replay of [await send(app.url, request), await send(app.url, request)]) {
          expect(replay.status).toBe(205);
          expect(replay.body).toBe('');
          expect(replay.aborted).toBe(false);
          expect(replay.headers).toEqual({ ...first.headers, 'idempotent-replayed': 'true' });
        }
      } finally {
        await app.close();
      }
    });
  }
});

describe('fetch: idempotency behind two rate limits', () => {
  it("the replay has each limit's own RateLimit member once, and the same body", async () => {
    const guarded = fetchAdapter.guard(() => Response.json({ ok: true }, { status: 201 }), {
      errors: { onError: () => {} },
      clientIp: () => '192.0.2.1',
      rateLimit: [
        { limit: 10, windowMs: 60_000, name: 'minute' },
        { limit: 100, windowMs: 3_600_000, name: 'hour' },
      ],
      idempotency: { store: new MemoryStore() },
    });
    const request = () => new Request('http://x/m', { method: 'POST', headers: { 'idempotency-key': 'two', 'content-type': 'application/json' }, body: '{}' });
    const first = await guarded(request());
    const replay = await guarded(request());
    expect(first.status).toBe(201);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(await first.text());
    expect(replay.headers.get('ratelimit-policy')).toBe('"minute";q=10;w=60, "hour";q=100;w=3600');
    expect(replay.headers.get('ratelimit')?.split(', ').map((member) => member.split(';')[0])).toEqual(['"minute"', '"hour"']);
  });
});

/** Headers a cors-like and a helmet-like middleware set on every request, before idempotency. */
const EARLY = {
  'access-control-allow-origin': 'https://app.example',
  vary: 'Origin',
  'strict-transport-security': 'max-age=31536000',
  'x-powered-by': 'bulwark-test',
};

interface Raw {
  status: number;
  /** Every header line as received, lower-case names (repeated lines kept apart). */
  lines: Array<[string, string]>;
  body: string;
}

function rawRequest(url: string, path: string, headers: Record<string, string>): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const lines: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode ?? 0, lines, body: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    req.end('{"to":"+15550100"}');
  });
}

async function serve(kind: 'express5' | 'express4' | 'koa3' | 'koa2'): Promise<{ url: string; close: () => Promise<void> }> {
  let server: http.Server;
  const store = new MemoryStore();
  const limits = [
    { limit: 10, windowMs: 60_000, name: 'minute' },
    { limit: 100, windowMs: 3_600_000, name: 'hour' },
  ];
  if (kind.startsWith('express')) {
    const express = (kind === 'express5' ? express5 : express4) as unknown as typeof express5;
    const app = express();
    // Express's own X-Powered-By stays on here: it is set again on every request.
    app.use((_req, res, next) => {
      res.setHeader('access-control-allow-origin', EARLY['access-control-allow-origin']);
      res.vary('Origin');
      res.setHeader('strict-transport-security', EARLY['strict-transport-security']);
      next();
    });
    for (const limit of limits) app.use(expressAdapter.rateLimit(limit));
    app.use(express.json());
    app.use(expressAdapter.idempotency({ store }));
    app.post('/m', (_req, res) => {
      res.status(201).json({ sent: true });
    });
    app.use(expressAdapter.errorHandler({ onError: () => {} }));
    server = http.createServer(app);
  } else {
    const Koa = (kind === 'koa3' ? Koa3 : Koa2) as unknown as typeof Koa3;
    const app = new Koa();
    app.silent = true;
    app.use(koaAdapter.errorHandler({ onError: () => {} }));
    app.use((ctx, next) => {
      for (const [name, value] of Object.entries(EARLY)) ctx.set(name, value);
      return next();
    });
    for (const limit of limits) app.use(koaAdapter.rateLimit(limit));
    app.use(koaAdapter.idempotency({ store }));
    app.use((ctx) => {
      ctx.status = 201;
      ctx.body = { sent: true };
    });
    server = http.createServer(app.callback());
  }
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

function count(raw: Raw, name: string): number {
  return raw.lines.filter(([line]) => line === name).length;
}

describe('a replay behind middleware that sets headers on every request', () => {
  for (const kind of ['express5', 'express4', 'koa3', 'koa2'] as const) {
    it(`${kind}: each header once, as on the first response; each rate limit's RateLimit member once`, async () => {
      const app = await serve(kind);
      try {
        const first = await rawRequest(app.url, '/m', { 'idempotency-key': 'cors-1' });
        const replay = await rawRequest(app.url, '/m', { 'idempotency-key': 'cors-1' });
        expect(first.status).toBe(201);
        expect(replay.status).toBe(201);
        expect(replay.body).toBe(first.body);
        expect(count(replay, 'idempotent-replayed')).toBe(1);
        for (const name of ['access-control-allow-origin', 'vary', 'strict-transport-security', 'x-powered-by', 'content-type', 'content-length']) {
          expect(count(first, name), `${name} on the first response`).toBe(1);
          expect(count(replay, name), `${name} on the replay`).toBe(1);
          expect(replay.lines.find(([line]) => line === name)?.[1], name).toBe(first.lines.find(([line]) => line === name)?.[1]);
        }
        // Two limiters: two members each, on the first response and on the replay alike.
        const members = (raw: Raw, name: string) => raw.lines.filter(([line]) => line === name).flatMap(([, value]) => value.split(', '));
        expect(members(replay, 'ratelimit-policy')).toEqual(['"minute";q=10;w=60', '"hour";q=100;w=3600']);
        expect(members(replay, 'ratelimit').map((member) => member.split(';')[0])).toEqual(['"minute"', '"hour"']);
        expect(members(first, 'ratelimit').map((member) => member.split(';')[0])).toEqual(['"minute"', '"hour"']);
      } finally {
        await app.close();
      }
    });
  }
});
