/**
 * Whatever way a response is written or broken off, and whenever its client gives up, an idempotency key
 * ends up replayable or free: none stays in flight once its handler is done. Each adapter gets 120 keyed
 * requests over a mix of write paths (JSON, slow JSON, streams that end, streams that fail, chunked
 * writes, thrown errors, destroyed responses, 5xx), a third of their clients aborting at a random moment;
 * then, well past the lease, each key is sent again: a 409 that is not the "too large to replay" kind is a
 * key left behind. The choices come from a seeded generator, so a failure names a reproducible mix. Both
 * stores: with Redis the claim takes a round trip, so some clients leave before the application runs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import koaBodyParser from '@koa/bodyparser';
import express from 'express';
import Koa from 'koa';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as fetchAdapter from '../../adapters/fetch.js';
import * as koaAdapter from '../../adapters/koa.js';
import type { IdempotencyStore } from '../../src/idempotency/store.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { connectRedis } from '../support/redis.js';

const LEASE_MS = 150;
const REQUESTS = 120;
const KINDS = ['json', 'slow-json', 'stream', 'slow-stream', 'failing-stream', 'chunked', 'throws', 'destroyed', 'status-500'] as const;
type Kind = (typeof KINDS)[number];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A small seeded generator (mulberry32): the same seed gives the same mix of requests and aborts. */
function seeded(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const quiet = { onError: () => {} };

/** A Node stream of three chunks at 10-30 ms each, ending or failing after them. */
function slowNodeStream(fail: boolean, random: (n: number) => number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      setTimeout(() => {
        if (sent === 3) {
          if (fail) this.destroy(new Error('upstream broke'));
          else this.push(null);
          return;
        }
        this.push(`chunk-${sent++};`);
      }, 10 + random(20));
    },
  });
}

/** A Web stream of three chunks at 10-30 ms each, ending or failing after them. */
function slowWebStream(fail: boolean, random: (n: number) => number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      await sleep(10 + random(20));
      if (sent === 3) {
        if (fail) controller.error(new Error('upstream broke'));
        else controller.close();
        return;
      }
      controller.enqueue(new TextEncoder().encode(`chunk-${sent++};`));
    },
  });
}

type Store = { idempotency: IdempotencyStore };
type Start = (random: (n: number) => number, store: Store) => Promise<{ port: number; close: () => void }>;

async function listening(server: http.Server): Promise<{ port: number; close: () => void }> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const ADAPTERS: Record<string, Start> = {
  express: (random, store) => {
    const app = express();
    app.use(express.json());
    app.use(expressAdapter.idempotency({ store, leaseMs: LEASE_MS }));
    app.post('/:kind', async (req, res, next) => {
      switch (req.params.kind as Kind) {
        case 'json':
          return res.status(201).json({ ok: true });
        case 'slow-json':
          await sleep(random(60));
          return res.status(201).json({ ok: true });
        case 'stream':
          return Readable.from(['a;', 'b']).pipe(res);
        case 'slow-stream':
          return slowNodeStream(false, random).pipe(res);
        case 'failing-stream':
          return pipeline(slowNodeStream(true, random), res, () => {});
        case 'chunked':
          res.write('x;');
          await sleep(random(40));
          return res.end('y');
        case 'throws':
          await sleep(random(30));
          return next(new Error('database went away'));
        case 'destroyed':
          res.write('x;');
          await sleep(random(30));
          return res.destroy();
        case 'status-500':
          return res.status(500).json({ retry: true });
      }
    });
    app.use(expressAdapter.errorHandler(quiet));
    return listening(app.listen(0, '127.0.0.1'));
  },
  koa: (random, store) => {
    const app = new Koa();
    app.use(koaAdapter.errorHandler(quiet));
    app.use(koaBodyParser());
    app.use(koaAdapter.idempotency({ store, leaseMs: LEASE_MS }));
    app.use(async (ctx) => {
      switch (ctx.path.slice(1) as Kind) {
        case 'json':
          ctx.status = 201;
          ctx.body = { ok: true };
          return;
        case 'slow-json':
          await sleep(random(60));
          ctx.status = 201;
          ctx.body = { ok: true };
          return;
        case 'stream':
          ctx.body = Readable.from(['a;', 'b']);
          return;
        case 'slow-stream':
          ctx.body = slowNodeStream(false, random);
          return;
        case 'failing-stream':
          ctx.body = slowNodeStream(true, random);
          return;
        case 'chunked':
          await sleep(random(40));
          ctx.body = 'x;y';
          return;
        case 'throws':
          await sleep(random(30));
          throw new Error('database went away');
        case 'destroyed':
          await sleep(random(30));
          ctx.respond = false;
          ctx.res.destroy();
          return;
        case 'status-500':
          ctx.status = 500;
          ctx.body = { retry: true };
      }
    });
    return listening(app.listen(0, '127.0.0.1'));
  },
  fetch: (random, store) => {
    const handler = async (request: Request): Promise<Response> => {
      switch (new URL(request.url).pathname.slice(1) as Kind) {
        case 'json':
        case 'chunked':
          return Response.json({ ok: true }, { status: 201 });
        case 'slow-json':
          await sleep(random(60));
          return Response.json({ ok: true }, { status: 201 });
        case 'stream':
          return new Response('a;b', { status: 201 });
        case 'slow-stream':
          return new Response(slowWebStream(false, random), { status: 201 });
        case 'failing-stream':
        case 'destroyed':
          return new Response(slowWebStream(true, random), { status: 201 });
        case 'throws':
          await sleep(random(30));
          throw new Error('database went away');
        default:
          return Response.json({ retry: true }, { status: 500 });
      }
    };
    const app = fetchAdapter.guard(handler, { errors: quiet, idempotency: { store, leaseMs: LEASE_MS } });
    return listening(serve({ fetch: app, port: 0, hostname: '127.0.0.1' }) as http.Server);
  },
};

/** One keyed POST; `abortAfterMs` makes the client give up then. Never rejects: it reports what happened. */
function post(port: number, kind: Kind, key: string, abortAfterMs?: number): Promise<{ status: number | string; body: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: `/${kind}`,
        method: 'POST',
        agent: false,
        timeout: 5000,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ status: 'cut', body }));
      },
    );
    req.on('error', () => resolve({ status: 'cut', body: '' }));
    req.on('timeout', () => {
      resolve({ status: 'no answer in 5 s', body: '' });
      req.destroy();
    });
    if (abortAfterMs !== undefined) setTimeout(() => req.destroy(), abortAfterMs);
    req.end('{"to":"+15550100"}');
  });
}

let redis: Redis;
beforeAll(async () => {
  redis = await connectRedis();
});
afterAll(() => redis?.quit());

const STORES: Record<string, () => Store> = {
  memory: () => new MemoryStore(),
  redis: () => new RedisStore(redis, { prefix: `bulwark-test:no-stuck:${process.pid}:${Date.now()}:` }),
};

describe('idempotency: no key is left in flight, whatever the write path and whenever the client leaves', () => {
  for (const [name, start] of Object.entries(ADAPTERS)) {
    for (const [storeName, makeStore] of Object.entries(STORES)) {
      it(`${name}, ${storeName} store`, { timeout: 60_000 }, async () => {
        const random = seeded(0xb01d + name.length + storeName.length);
        const { port, close } = await start(random, makeStore());
        try {
          const sent: Array<{ kind: Kind; key: string }> = [];
          const firsts: Array<Promise<{ status: number | string }>> = [];
          for (let i = 0; i < REQUESTS; i++) {
            const kind = KINDS[random(KINDS.length)]!;
            const key = `${name}-${i}`;
            sent.push({ kind, key });
            firsts.push(post(port, kind, key, random(3) === 0 ? random(50) : undefined));
            if (i % 20 === 19) await sleep(5);
          }
          const outcomes = await Promise.all(firsts);
          expect(outcomes.filter((o) => o.status === 'no answer in 5 s')).toEqual([]);
          // Every handler is done within about 150 ms; then a lease more, so that only a renewed claim remains.
          await sleep(400 + 3 * LEASE_MS);
          const left: string[] = [];
          for (let i = 0; i < sent.length; i += 20) {
            const batch = sent.slice(i, i + 20);
            const answers = await Promise.all(batch.map(({ kind, key }) => post(port, kind, key)));
            answers.forEach((again, j) => {
              const { kind, key } = batch[j]!;
              if (again.status === 409 && !again.body.includes('replayable')) left.push(`${kind} ${key}`);
              if (again.status === 'no answer in 5 s') left.push(`${kind} ${key} (no answer)`);
            });
          }
          expect(left).toEqual([]);
        } finally {
          close();
        }
      });
    }
  }
});
