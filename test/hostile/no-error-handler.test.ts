/**
 * A guard's own 5xx (a `key` callback that throws, a store that is down) when bulwark's errorHandler is not
 * mounted: the guard answers with the documented JSON body itself, never leaving the error to Express's
 * finalhandler (an HTML page with the stack when NODE_ENV is unset) or to Koa's text answer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import Koa from 'koa';
import Koa2 from 'koa2';
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as fastifyAdapter from '../../adapters/fastify.js';
import * as koaAdapter from '../../adapters/koa.js';
import type { IdempotencyStore } from '../../src/idempotency/store.js';

const down: IdempotencyStore = {
  claim: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')),
  renew: () => Promise.reject(new Error('down')),
  complete: () => Promise.reject(new Error('down')),
  release: () => Promise.reject(new Error('down')),
};
const throwingKey = () => {
  throw new Error('the account lookup failed at /srv/app/accounts.js:12');
};

async function answer(handler: http.RequestListener, init: RequestInit): Promise<{ status: number; type: string | null; body: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/messages`, init);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  } finally {
    server.close();
  }
}

const keyed: RequestInit = { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' }, body: '{}' };

describe('guard 5xx without bulwark errorHandler', () => {
  for (const [name, make] of [
    ['Express 5', express],
    ['Express 4', express4 as unknown as typeof express],
  ] as const) {
    it(`${name}: the documented JSON body, no stack`, async () => {
      const limited = make();
      limited.use(expressAdapter.rateLimit({ limit: 10, windowMs: 1000, key: throwingKey }));
      limited.post('/v1/messages', (_req, res) => res.json({ ok: true }));
      const keyedApp = make();
      keyedApp.use(expressAdapter.idempotency({ store: down, storeTimeoutMs: 200 }));
      keyedApp.post('/v1/messages', (_req, res) => res.json({ ok: true }));
      for (const [app, status, code] of [
        [limited, 500, 'internal_error'],
        [keyedApp, 503, 'service_unavailable'],
      ] as const) {
        const res = await answer(app, keyed);
        expect(res.status).toBe(status);
        expect(res.type).toBe('application/json; charset=utf-8');
        expect(JSON.parse(res.body).error).toBe(code);
        expect(res.body).not.toMatch(/accounts\.js|at |ECONNREFUSED/);
      }
    });
  }

  for (const [name, K] of [
    ['Koa 3', Koa],
    ['Koa 2', Koa2 as unknown as typeof Koa],
  ] as const) {
    it(`${name}: the documented JSON body, not Koa's text`, async () => {
      const app = new K();
      app.silent = true;
      app.use(koaAdapter.idempotency({ store: down, storeTimeoutMs: 200 }));
      app.use((ctx) => {
        ctx.body = { ok: true };
      });
      const res = await answer(app.callback(), keyed);
      expect(res.status).toBe(503);
      expect(res.type).toBe('application/json; charset=utf-8');
      expect(JSON.parse(res.body).error).toBe('service_unavailable');
    });
  }

  for (const [name, make] of [
    ['Fastify 5', Fastify],
    ['Fastify 4', Fastify4 as unknown as typeof Fastify],
  ] as const) {
    it(`${name}: the documented JSON body, not Fastify's default (which sends the thrown message)`, async () => {
      const app = make();
      await app.register(fastifyAdapter.rateLimit, { limit: 10, windowMs: 1000, key: throwingKey });
      app.post('/v1/messages', async () => ({ ok: true }));
      await app.ready();
      const res = await answer((req, res) => app.routing(req, res), keyed);
      expect(res.status).toBe(500);
      expect(res.type).toBe('application/json; charset=utf-8');
      expect(JSON.parse(res.body).error).toBe('internal_error');
      expect(res.body).not.toMatch(/accounts\.js|account lookup/);
      await app.close();
    });
  }
});
