/**
 * PostgreSQL unreachable, stalled or cutting connections while an Express app serves: every decision
 * comes within a bounded time, rate limits fall back to their per-process limiter, idempotency answers
 * 503, nothing crashes and no promise is left rejected. The machine's PostgreSQL is never stopped: the
 * store is pointed at a port where nothing listens, its tables are locked by another session, and its
 * backends are ended with pg_terminate_backend.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import express from 'express';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler, idempotency, rateLimit } from '../../adapters/express.js';
import { PostgresStore } from '../../src/stores/postgres/index.js';
import { connectPg, databaseUrl, TEST_SCHEMA, testStore } from './support.js';

const DEADLINE_MS = 200;
const PREFIX = `o${process.pid}_`;
const APP_NAME = `bulwark_outage_${process.pid}`;

const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onRejection);
});
afterAll(() => {
  process.off('unhandledRejection', onRejection);
});
afterEach(() => {
  expect(rejections).toEqual([]);
});

/**
 * An Express app with a rate limit and idempotency on `store`, listening on a free port; `lines` collects
 * what the rate limiter would print (a store switching off and on), so it is checked instead of printed.
 */
async function serve(store: PostgresStore): Promise<{ url: string; server: Server; lines: string[] }> {
  const lines: string[] = [];
  const logger = { warn: (line: string) => void lines.push(line), error: (line: string) => void lines.push(line) };
  const app = express();
  app.use(express.json());
  app.get('/limited', rateLimit({ limit: 1000, windowMs: 60_000, key: () => 'outage', store, logger }), (_req, res) => {
    res.json({ ok: true });
  });
  app.use(idempotency({ store, storeTimeoutMs: DEADLINE_MS * 2 }));
  app.post('/v1/messages', (_req, res) => {
    res.status(201).json({ id: Math.random() });
  });
  app.use(errorHandler({ onError: () => {} }));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, lines };
}

const FELL_BACK = /^bulwark: rateLimit "1000-in-60s": store unavailable, deciding with a per-process limiter \(StoreUnavailableError: /;

/** One request; its status and how long it took. */
async function timed(url: string, init?: RequestInit): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  const res = await fetch(url, init);
  const body = await res.text();
  return { status: res.status, ms: performance.now() - started, body };
}

const keyed = (key: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'idempotency-key': key },
  body: '{"to":"+15550100"}',
});

/** A keyed POST until it is answered 201 (a cold pool's first connections may miss the short deadline). */
async function created(url: string, key: string): Promise<number> {
  let status = 0;
  for (let i = 0; i < 20 && status !== 201; i++) status = (await timed(`${url}/v1/messages`, keyed(key))).status;
  return status;
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('PostgreSQL unreachable (nothing listens on the port)', () => {
  let server: Server;
  let url: string;
  let lines: string[];
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = new pg.Pool({ host: '127.0.0.1', port: await freePort(), user: 'postgres', database: 'test', connectionTimeoutMillis: 5_000 });
    pool.on('error', () => {});
    ({ url, server, lines } = await serve(new PostgresStore(pool, { schema: TEST_SCHEMA, tablePrefix: PREFIX, commandTimeoutMs: DEADLINE_MS })));
  });
  afterAll(async () => {
    server.close();
    await pool.end().catch(() => {});
  });

  it('rate limits fall back to the per-process limiter and idempotency answers 503, each within its deadline, 40 at once', async () => {
    const limited = await Promise.all(Array.from({ length: 40 }, () => timed(`${url}/limited`)));
    const keyedReplies = await Promise.all(Array.from({ length: 40 }, (_, i) => timed(`${url}/v1/messages`, keyed(`down-${i}`))));
    for (const r of limited) expect(r.status).toBe(200);
    for (const r of keyedReplies) {
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body).error).toBe('service_unavailable');
    }
    // Bounded: the deadline plus the app's own time on a loaded machine, never a hang.
    expect(Math.max(...limited.map((r) => r.ms), ...keyedReplies.map((r) => r.ms))).toBeLessThan(5_000);
    // One line for the switch to the fallback, however many decisions failed.
    expect(lines).toEqual([expect.stringMatching(FELL_BACK)]);
  });

  it('migrate() rejects (it never hangs) when the database cannot be reached', async () => {
    const store = new PostgresStore(pool, { schema: TEST_SCHEMA, tablePrefix: PREFIX });
    await expect(store.migrate(1_000)).rejects.toThrow();
  });
});

describe('PostgreSQL reachable but stalled, then cutting connections', () => {
  let server: Server;
  let url: string;
  let lines: string[];
  let pool: pg.Pool;
  let admin: pg.Pool;
  beforeAll(async () => {
    await testStore(PREFIX);
    admin = await connectPg();
    // The deployment setting the store's docs ask for: the server cancels what the store gave up on.
    pool = new pg.Pool({ connectionString: databaseUrl(), application_name: APP_NAME, max: 10, statement_timeout: DEADLINE_MS });
    pool.on('error', () => {});
    ({ url, server, lines } = await serve(new PostgresStore(pool, { schema: TEST_SCHEMA, tablePrefix: PREFIX, commandTimeoutMs: DEADLINE_MS })));
  });
  afterAll(async () => {
    server.close();
    await pool.end().catch(() => {});
    for (const table of ['idempotency', 'rate', 'spend']) await admin.query(`DROP TABLE IF EXISTS ${TEST_SCHEMA}.${PREFIX}${table}`);
    for (const fn of ['gcra', 'sliding', 'spend_decide', 'spend_refund', 'gcra_refund', 'sliding_refund']) {
      await admin.query(`DROP FUNCTION IF EXISTS ${TEST_SCHEMA}.${PREFIX}${fn}`);
    }
  });

  it("statements stalled behind another session's lock: rate limits fall back, idempotency answers 503, within the deadline; then the store answers again", async () => {
    expect(await created(url, 'before-stall')).toBe(201);
    const locker = await admin.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${TEST_SCHEMA}.${PREFIX}rate, ${TEST_SCHEMA}.${PREFIX}idempotency IN ACCESS EXCLUSIVE MODE`);
      const limited = await Promise.all(Array.from({ length: 20 }, () => timed(`${url}/limited`)));
      const keyedReplies = await Promise.all(Array.from({ length: 20 }, (_, i) => timed(`${url}/v1/messages`, keyed(`stalled-${i}`))));
      for (const r of limited) expect(r.status).toBe(200);
      for (const r of keyedReplies) expect(r.status).toBe(503);
      expect(Math.max(...limited.map((r) => r.ms), ...keyedReplies.map((r) => r.ms))).toBeLessThan(5_000);
      expect(lines).toEqual([expect.stringMatching(FELL_BACK)]);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    expect(await created(url, 'after-stall')).toBe(201);
    const replay = await fetch(`${url}/v1/messages`, keyed('after-stall'));
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it("the store's backends ended with pg_terminate_backend under load: every answer is a decision (never a 500 or a hang), and the store recovers", async () => {
    let stop = false;
    const statuses: number[] = [];
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        const replies = await Promise.all([timed(`${url}/limited`), timed(`${url}/v1/messages`, keyed(`cut-${i}`))]);
        for (const r of replies) {
          statuses.push(r.status);
          expect(r.ms).toBeLessThan(5_000);
        }
      }
    })();
    for (let round = 0; round < 5; round++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [APP_NAME]);
    }
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(0);
    for (const status of statuses) expect([200, 201, 503]).toContain(status);
    expect(await created(url, 'after-cut')).toBe(201);
    // Each switch is one line: to the fallback, or back to the store.
    for (const line of lines) expect(line).toMatch(/^bulwark: rateLimit "1000-in-60s": store (unavailable, deciding with a per-process limiter|available again)/);
  });
});
