/**
 * The `bulwark:idempotency` channel: the exact steps of keyed requests through a real Express app over a
 * socket and through fetch guard(); no event carries the key, the scope, or the stored key.
 */
import express from 'express';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { errorHandler, idempotency } from '../../adapters/express.js';
import { guard } from '../../adapters/fetch.js';
import { CHANNELS, hashKey, type IdempotencyEvent } from '../../src/events/channels.js';
import { scopedKey } from '../../src/idempotency/key.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { leaveOnceReached, signal } from '../support/leaving-client.js';
import { startRedisServer, TEST_CLIENT_OPTIONS, testPrefix } from '../support/redis.js';
import { collectOn, serving } from '../support/events.js';

const SCOPE = 'Bearer sk_live_scope_4f9a1c';
const KEY = 'order-key-7d3e2b9c';

/** Collects every event published on `bulwark:idempotency` until the test ends. */
const collect = () => collectOn<IdempotencyEvent>(CHANNELS.idempotency);


/** A keyed JSON POST of `body` with the scope in Authorization. */
const post = (key: string, body = '{"to":"+15550100"}'): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'idempotency-key': key, authorization: SCOPE },
  body,
});

async function status(response: Promise<globalThis.Response>): Promise<number> {
  const answered = await response;
  await answered.arrayBuffer();
  return answered.status;
}

/** The key every event of (SCOPE, key) carries, from the outside: scope `u:<scope>` as the option gives it. */
const digestOf = (key: string) => hashKey(scopedKey(`u:${SCOPE}`, key));

/** No event names the key, the scope, or the stored key (a SHA-256 a store holds) in clear. */
function expectNoSecrets(events: IdempotencyEvent[], keys: string[]) {
  for (const event of events) {
    const json = JSON.stringify(event);
    expect(json).not.toContain(SCOPE);
    expect(json).not.toContain('sk_live');
    for (const key of keys) {
      expect(json).not.toContain(key);
      expect(json).not.toContain(scopedKey(`u:${SCOPE}`, key));
    }
  }
}

describe('bulwark:idempotency on a real Express app', () => {
  it('claim, complete; conflict while it runs; replay after; mismatch for another body; release on a throw, a 5xx and a client that left', async () => {
    const seen = collect();
    const app = express();
    app.use(express.json());
    app.use(idempotency({ store: new MemoryStore(), scope: (req) => req.get('authorization') }));
    const first = signal();
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const gone = signal();
    app.post('/slow', async (_req, res) => {
      first.reached();
      await finished;
      res.status(201).json({ id: 'msg_1' });
    });
    app.post('/throws', () => {
      throw new Error('handler failed');
    });
    app.post('/fails', (_req, res) => {
      res.status(502).json({ error: 'upstream' });
    });
    // A handler that gives up when its client leaves (the capture keeps the key for a handler that may
    // still answer; this one never will).
    app.post('/hangs', (_req, res) => {
      res.once('close', () => res.destroy());
      gone.reached();
    });
    app.use(errorHandler({ onError: () => {} }));

    await serving(app, async (url) => {
      const running = status(fetch(`${url}/slow`, post(KEY)));
      await first.reachedYet;
      expect(await status(fetch(`${url}/slow`, post(KEY)))).toBe(409);
      finish();
      expect(await running).toBe(201);
      const replay = await fetch(`${url}/slow`, post(KEY));
      expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
      await replay.arrayBuffer();
      expect(await status(fetch(`${url}/slow`, post(KEY, '{"to":"+15550199"}')))).toBe(422);
      expect(await status(fetch(`${url}/throws`, post('throws-key-1a2b')))).toBe(500);
      expect(await status(fetch(`${url}/fails`, post('fails-key-3c4d')))).toBe(502);
      expect(await leaveOnceReached(`${url}/hangs`, post('leaves-key-5e6f'), gone.reachedYet)).toBe('left');
      // The release of a client that left happens when the server sees the socket close.
      for (let i = 0; i < 100 && seen.length < 11; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    });

    const k = digestOf(KEY);
    expect(seen).toEqual([
      { guard: 'idempotency', decision: 'claim', key: k },
      { guard: 'idempotency', decision: 'conflict', key: k },
      { guard: 'idempotency', decision: 'complete', key: k, status: 201 },
      { guard: 'idempotency', decision: 'replay', key: k, status: 201 },
      { guard: 'idempotency', decision: 'mismatch', key: k },
      { guard: 'idempotency', decision: 'claim', key: digestOf('throws-key-1a2b') },
      { guard: 'idempotency', decision: 'release', key: digestOf('throws-key-1a2b') },
      { guard: 'idempotency', decision: 'claim', key: digestOf('fails-key-3c4d') },
      { guard: 'idempotency', decision: 'release', key: digestOf('fails-key-3c4d'), status: 502 },
      { guard: 'idempotency', decision: 'claim', key: digestOf('leaves-key-5e6f') },
      { guard: 'idempotency', decision: 'release', key: digestOf('leaves-key-5e6f') },
    ]);
    for (const event of seen) expect(event.key).toMatch(/^[0-9a-f]{16}$/);
    expectNoSecrets(seen, [KEY, 'throws-key-1a2b', 'fails-key-3c4d', 'leaves-key-5e6f']);
  });

  it('store-failure (503) when the store is down, then claim and complete once it is back', async () => {
    const server = await startRedisServer();
    const redis = new Redis(server.url, { ...TEST_CLIENT_OPTIONS });
    redis.on('error', () => {});
    try {
      const seen = collect();
      const app = express();
      app.use(express.json());
      app.use(
        idempotency({
          store: new RedisStore(redis, { prefix: testPrefix('events-outage'), commandTimeoutMs: 200 }),
          storeTimeoutMs: 400,
          scope: (req) => req.get('authorization'),
        }),
      );
      app.post('/m', (_req, res) => res.status(201).json({ ok: true }));
      app.use(errorHandler({ onError: () => {} }));
      await serving(app, async (url) => {
        await server.kill();
        expect(await status(fetch(`${url}/m`, post(KEY)))).toBe(503);
        await server.restart();
        let answered = await status(fetch(`${url}/m`, post(KEY)));
        for (let i = 0; i < 60 && answered === 503; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          answered = await status(fetch(`${url}/m`, post(KEY)));
        }
        expect(answered).toBe(201);
      });
      const k = digestOf(KEY);
      const failures = seen.filter((e) => e.decision === 'store-failure');
      expect(failures.length).toBeGreaterThanOrEqual(1);
      expect(seen.slice(failures.length)).toEqual([
        { guard: 'idempotency', decision: 'claim', key: k },
        { guard: 'idempotency', decision: 'complete', key: k, status: 201 },
      ]);
      expect(failures.every((e) => e.key === k && Object.keys(e).length === 3)).toBe(true);
      expectNoSecrets(seen, [KEY]);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});

describe('bulwark:idempotency through fetch guard()', () => {
  it('the same sequence, and a response too large to keep completes and replays as not replayable', async () => {
    const seen = collect();
    let runs = 0;
    const handler = guard(
      async (request) => {
        runs++;
        const url = new URL(request.url);
        if (url.pathname === '/throws') throw new Error('handler failed');
        if (url.pathname === '/big') return new Response('x'.repeat(64), { status: 200 });
        return Response.json({ runs }, { status: 201 });
      },
      {
        errors: { onError: () => {} },
        idempotency: { store: new MemoryStore(), scope: (request) => request.headers.get('authorization') ?? undefined, maxResponseBytes: 16 },
      },
    );
    const ask = async (path: string, key: string, body?: string) => {
      const response = await handler(new Request(`http://api.test${path}`, post(key, body)));
      await response.arrayBuffer();
      return response.status;
    };
    expect(await ask('/m', KEY)).toBe(201);
    expect(await ask('/m', KEY)).toBe(201);
    expect(await ask('/m', KEY, '{"other":true}')).toBe(422);
    expect(await ask('/throws', 'throws-key-1a2b')).toBe(500);
    expect(await ask('/big', 'big-key-7a8b')).toBe(200);
    expect(await ask('/big', 'big-key-7a8b')).toBe(422);
    expect(runs).toBe(3);
    const k = digestOf(KEY);
    expect(seen).toEqual([
      { guard: 'idempotency', decision: 'claim', key: k },
      { guard: 'idempotency', decision: 'complete', key: k, status: 201 },
      { guard: 'idempotency', decision: 'replay', key: k, status: 201 },
      { guard: 'idempotency', decision: 'mismatch', key: k },
      { guard: 'idempotency', decision: 'claim', key: digestOf('throws-key-1a2b') },
      { guard: 'idempotency', decision: 'release', key: digestOf('throws-key-1a2b') },
      { guard: 'idempotency', decision: 'claim', key: digestOf('big-key-7a8b') },
      { guard: 'idempotency', decision: 'complete', key: digestOf('big-key-7a8b'), status: 200, replayable: false },
      { guard: 'idempotency', decision: 'replay', key: digestOf('big-key-7a8b'), replayable: false },
    ]);
    expectNoSecrets(seen, [KEY, 'throws-key-1a2b', 'big-key-7a8b']);
  });

  it('the onRecordError hook keeps working beside the channel', async () => {
    const seen = collect();
    const reported: string[] = [];
    const server = await startRedisServer();
    const redis = new Redis(server.url, { ...TEST_CLIENT_OPTIONS });
    redis.on('error', () => {});
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const reached = signal();
      const handler = guard(
        async () => {
          reached.reached();
          await held;
          return Response.json({ ok: true }, { status: 201 });
        },
        {
          errors: { onError: () => {} },
          idempotency: {
            store: new RedisStore(redis, { prefix: testPrefix('events-record'), commandTimeoutMs: 100 }),
            storeTimeoutMs: 200,
            onRecordError: ({ kind }) => reported.push(kind),
          },
        },
      );
      const answered = handler(new Request('http://api.test/m', post(KEY)));
      await reached.reachedYet;
      await server.kill();
      release();
      const response = await answered;
      expect(response.status).toBe(201);
      expect(reported).toEqual(['not_recorded']);
      expect(seen.map((e) => e.decision)).toEqual(['claim']);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});
