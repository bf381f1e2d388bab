import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, expect, it } from 'vitest';
import { idempotency } from '../../adapters/express.js';
import { ApiError, createFetch, type RetryEvent } from '../../src/client/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

const servers: Array<import('node:http').Server> = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

it('retries a POST whose response was lost to a connection reset; the retry is replayed and the charge runs once', async () => {
  let received = 0;
  let charges = 0;
  const app = express();
  app.use((req, res, next) => {
    received++;
    if (received === 1) {
      // The first response is lost: once the idempotency middleware has stored it and sends it, the
      // connection is reset instead.
      res.end = (() => {
        req.socket.resetAndDestroy();
        return res;
      }) as typeof res.end;
    }
    next();
  });
  app.use(express.json());
  app.use(idempotency({ store: new MemoryStore() }));
  app.post('/v1/charges', (req, res) => {
    charges++;
    res.status(201).json({ id: `ch_${charges}`, amount: req.body.amount });
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/charges`;

  const retries: RetryEvent[] = [];
  const client = createFetch({ baseDelayMs: 1, maxDelayMs: 5, onRetry: (event) => retries.push(event) });
  const res = await client(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ amount: 1200 }),
  });

  expect(res.status).toBe(201);
  expect(await res.json()).toEqual({ id: 'ch_1', amount: 1200 });
  expect(res.headers.get('idempotent-replayed')).toBe('true');
  expect(charges).toBe(1);
  expect(received).toBe(2);
  expect(retries).toHaveLength(1);
  expect(retries[0]?.reason).toBe('network');
  expect(retries[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);

  // Without a key the same loss cannot be retried safely, so the wrapper does not retry.
  received = 0;
  const unkeyed = createFetch({ baseDelayMs: 1, idempotencyHeader: false });
  await expect(
    unkeyed(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"amount":5}' }),
  ).rejects.toThrow(/fetch failed/);
  expect(charges).toBe(2);
  expect(received).toBe(1);
});

it('a key whose response was too large to keep gets 422 idempotency_key_used, which the client returns at once', async () => {
  let received = 0;
  let runs = 0;
  const app = express();
  app.use((_req, _res, next) => {
    received++;
    next();
  });
  app.use(express.json());
  app.use(idempotency({ store: new MemoryStore(), maxResponseBytes: 1024 }));
  app.post('/v1/exports', (_req, res) => {
    runs++;
    res.status(201).json({ id: `exp_${runs}`, data: 'x'.repeat(5_000) });
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/exports`;

  const retries: RetryEvent[] = [];
  const client = createFetch({ baseDelayMs: 1, maxDelayMs: 5, onRetry: (event) => retries.push(event) });
  const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', bulwark: { idempotencyKey: 'export-1' } };
  const first = await client(url, init);
  expect(first.status).toBe(201);
  expect(((await first.json()) as { data: string }).data).toHaveLength(5_000);

  const again = await client(url, init);
  expect(again.status).toBe(422);
  const error = await ApiError.fromResponse(again);
  expect([error.code, error.retryable, error.details.replayable]).toEqual(['idempotency_key_used', false, false]);
  expect(received).toBe(2);
  expect(runs).toBe(1);
  expect(retries).toHaveLength(0);
});
