/**
 * Bodies the idempotency guard cannot read, over real sockets: a client that leaves halfway through its
 * body holds no key (its retry runs), and middleware that swallowed the stream before the guard without
 * leaving a parsed body fails loudly (a 500 whose error says how to mount the guard), never a fingerprint
 * of an empty body and never a stored answer.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as koaAdapter from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { type AppSpec, send, startServer, VARIANTS } from '../support/matrix.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends the head and part of a body of `length` bytes, then closes the connection. */
async function leaveMidBody(url: string, key: string, length: number): Promise<void> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  socket.write(
    `POST /orders HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nIdempotency-Key: ${key}\r\nContent-Length: ${length}\r\n\r\n{"item":`,
  );
  await sleep(50);
  socket.destroy();
  await sleep(50);
}

function app(count: () => number): AppSpec {
  return {
    parseJson: false,
    errors: { onError: () => {} },
    guards: [{ kind: 'idempotency', options: { store: new MemoryStore() } }],
    routes: [{ method: 'POST', path: '/orders', handler: () => ({ status: 201, json: { n: count() } }) }],
  };
}

// bulwark's warnings are caught where they are emitted (a 'warning' listener would not keep Node.js from
// printing them); any other warning goes on as usual.
const emitWarning = process.emitWarning;
const warnings: string[] = [];
const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(((warning: string | Error, ...rest: unknown[]) => {
  const code = (rest[0] as { code?: string } | undefined)?.code;
  if (code?.startsWith('BULWARK_')) warnings.push(`${code}: ${typeof warning === 'string' ? warning : warning.message}`);
  else emitWarning.call(process, warning, ...(rest as [never]));
}) as typeof process.emitWarning);
afterAll(() => emitted.mockRestore());

describe('a body the guard cannot read', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: a client that leaves halfway through its body holds no key; the retry runs`, async () => {
      let n = 0;
      const server = await startServer(variant, app(() => ++n));
      try {
        await leaveMidBody(server.url, 'left-1', 100);
        expect(n).toBe(0);
        const retry = await send(server.url, { method: 'POST', path: '/orders', headers: { 'idempotency-key': 'left-1' }, body: '{"item":"book"}' });
        expect(retry.status).toBe(201);
        expect(JSON.parse(retry.body)).toEqual({ n: 1 });
      } finally {
        await server.close();
      }
    });
  }

  for (const variant of ['express5', 'express4', 'koa3', 'koa2'] as const) {
    it(`${variant}: middleware that read the stream before the guard and left no parsed body fails loudly, and nothing is stored`, async () => {
      let n = 0;
      const drain = (stream: NodeJS.ReadableStream) => new Promise<void>((resolve) => stream.on('end', resolve).resume());
      let listener: http.RequestListener;
      if (variant.startsWith('express')) {
        const express = (variant === 'express5' ? express5 : express4) as typeof express5;
        const application = express();
        // A signature check, say, that keeps the bytes to itself.
        application.use((req, _res, next) => void drain(req).then(() => next()));
        application.use(expressAdapter.idempotency({ store: new MemoryStore() }));
        application.post('/orders', (_req, res) => void res.status(201).json({ n: ++n }));
        application.use(expressAdapter.errorHandler({ onError: () => {} }));
        listener = application;
      } else {
        const Koa = (variant === 'koa3' ? Koa3 : Koa2) as typeof Koa3;
        const application = new Koa();
        application.use(koaAdapter.errorHandler({ onError: () => {} }));
        application.use(async (ctx, next) => {
          await drain(ctx.req);
          await next();
        });
        application.use(koaAdapter.idempotency({ store: new MemoryStore() }));
        application.use((ctx) => {
          ctx.status = 201;
          ctx.body = { n: ++n };
        });
        listener = application.callback();
      }
      const server = http.createServer(listener);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const request = { method: 'POST', path: '/orders', headers: { 'idempotency-key': 'sw-1' }, body: '{"item":"book"}' };
        const first = await send(url, request);
        expect(first.status).toBe(500);
        // Told once per process, on the first such request, as a warning on stderr.
        expect(warnings).toContainEqual(
          expect.stringMatching(/^BULWARK_BODY_ALREADY_READ: .*mount idempotency\(\) before it, or after a body parser/),
        );
        expect(n).toBe(0);
        // Not stored: the same request again is refused the same way, not replayed.
        const again = await send(url, request);
        expect(again.status).toBe(500);
        expect(again.headers['idempotent-replayed']).toBeUndefined();
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }
});
