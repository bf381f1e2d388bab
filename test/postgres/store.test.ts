/**
 * PostgresStore's own surface: options (unknown ones refused by name), the exported migration SQL,
 * a migration that many processes may run at once, the cleanup of expired rows, and the
 * transactional mode's refusals.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { idempotency } from '../../adapters/express.js';
import { PostgresStore } from '../../src/stores/postgres/index.js';
import { connectPg, TEST_SCHEMA, testStore } from './support.js';

const PREFIX = `s${process.pid}_`;

afterAll(async () => {
  const pool = await connectPg();
  for (const table of ['idempotency', 'rate', 'spend']) await pool.query(`DROP TABLE IF EXISTS ${TEST_SCHEMA}.${PREFIX}${table}`);
  for (const fn of ['gcra', 'sliding', 'spend_decide', 'spend_refund', 'gcra_refund', 'sliding_refund']) {
    await pool.query(`DROP FUNCTION IF EXISTS ${TEST_SCHEMA}.${PREFIX}${fn}`);
  }
  await pool.end();
});

describe('PostgresStore options', () => {
  const pool = { connect: () => Promise.reject(new Error('unused')) };
  it('refuses unknown options with a TypeError naming them, and bad values naming the option', () => {
    expect(() => new PostgresStore(pool, { prefix: 'x' } as never)).toThrow(/PostgresStore: unknown option "prefix"/);
    expect(() => new PostgresStore(pool, { ttl: 5 } as never)).toThrow(TypeError);
    expect(() => new PostgresStore(pool, { schema: 'Bad-Name' })).toThrow(/options\.schema/);
    expect(() => new PostgresStore(pool, { tablePrefix: 'x"; DROP TABLE t; --' })).toThrow(/options\.tablePrefix/);
    expect(() => new PostgresStore(pool, { commandTimeoutMs: 0 })).toThrow(/options\.commandTimeoutMs/);
    expect(() => new PostgresStore(pool, { sweepEvery: -1 })).toThrow(/options\.sweepEvery/);
    expect(() => new PostgresStore(pool, { sweepLimit: 0 })).toThrow(/options\.sweepLimit/);
    expect(() => new PostgresStore({} as never)).toThrow(/pool must be a pg Pool/);
    expect(() => PostgresStore.migrationSql({ schema: 'x', prefix: 'y' } as never)).toThrow(/unknown option "prefix"/);
  });

  it('exports its migration SQL: one transaction, idempotent statements, in the schema and prefix asked for', () => {
    const sql = PostgresStore.migrationSql({ schema: 'billing', tablePrefix: 'api_' });
    expect(sql.startsWith('BEGIN;')).toBe(true);
    expect(sql.trimEnd().endsWith('COMMIT;')).toBe(true);
    for (const name of ['api_idempotency', 'api_rate', 'api_spend']) expect(sql).toContain(`CREATE TABLE IF NOT EXISTS "billing"."${name}"`);
    expect(sql).toContain('CREATE OR REPLACE FUNCTION "billing"."api_gcra"');
    expect(sql).not.toMatch(/CREATE TABLE (?!IF NOT EXISTS)/);
  });
});

describe('PostgresStore on PostgreSQL', () => {
  it('migrate() from four stores at once, and again, succeeds', async () => {
    const { pool } = await testStore(PREFIX);
    const stores = Array.from({ length: 4 }, () => new PostgresStore(pool, { schema: TEST_SCHEMA, tablePrefix: PREFIX }));
    await Promise.all(stores.map((s) => s.migrate()));
    await stores[0]!.migrate();
  });

  it('sweeps expired rows: sweep() deletes them, and writes start a bounded sweep on their own', async () => {
    const { store, pool } = await testStore(PREFIX, { sweepEvery: 5, sweepLimit: 1000 });
    const side = store.idempotency;
    const expired = Array.from({ length: 20 }, () => `sweep:${randomUUID()}`);
    for (const key of expired) {
      await side.claim(key, 'fp', 't', 10, 10);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const count = async () =>
      Number((await pool.query(`SELECT count(*) AS n FROM ${TEST_SCHEMA}.${PREFIX}idempotency WHERE key = ANY($1)`, [expired])).rows[0].n);
    // Twenty claims with sweepEvery 5: the background sweeps already took the older ones.
    for (let i = 0; i < 5; i++) await side.claim(`sweep:${randomUUID()}`, 'fp', 't', 10, 10);
    for (let i = 0; i < 50 && (await count()) === 20; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await count()).toBeLessThan(20);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await store.sweep()).toBeGreaterThan(0);
    expect(await count()).toBe(0);
  });

  it('transaction(): a key that no claim of this process holds is refused before any work; no key runs a plain transaction', async () => {
    const { store } = await testStore(PREFIX);
    let ran = 0;
    await expect(store.transaction({ key: 'never-claimed', scope: 'acct' }, async () => ran++)).rejects.toThrow(/holds no claim/);
    expect(ran).toBe(0);
    expect(await store.transaction({ key: undefined, scope: 'acct' }, async (client) => (await client.query({ text: 'SELECT 41 + 1 AS n' })).rows[0]!.n)).toBe(42);
  });

  it('transaction(): work that throws rolls back and leaves the claim in flight (the guard then releases it)', async () => {
    const { store, pool } = await testStore(PREFIX);
    const { scopedKey } = await import('../../src/idempotency/key.js');
    const key = scopedKey('u:acct', 'order-1');
    expect((await store.idempotency.claim(key, 'fp', 'owner', 5000, 60_000)).type).toBe('claimed');
    await pool.query(`CREATE TABLE IF NOT EXISTS ${TEST_SCHEMA}.${PREFIX}side (key text)`);
    await expect(
      store.transaction({ key: 'order-1', scope: 'acct' }, async (client) => {
        await client.query({ text: `INSERT INTO ${TEST_SCHEMA}.${PREFIX}side VALUES ($1)`, values: [key] });
        throw new Error('payment declined');
      }),
    ).rejects.toThrow('payment declined');
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${TEST_SCHEMA}.${PREFIX}side WHERE key = $1`, [key])).rows[0].n).toBe(0);
    expect((await store.idempotency.claim(key, 'fp', 'other', 5000, 60_000)).type).toBe('in_flight');
    expect(await store.idempotency.release(key, 'owner')).toBe(true);
    await pool.query(`DROP TABLE ${TEST_SCHEMA}.${PREFIX}side`);
  });

  it("transaction() behind the guard's default scope: the request's headers name its claim; a replay does not run the work again", async () => {
    const { store, pool } = await testStore(PREFIX);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${TEST_SCHEMA}.${PREFIX}notes (key text)`);
    const app = express();
    app.use(express.json());
    app.use(idempotency({ store }));
    app.post('/notes', async (req, res) => {
      const note = await store.transaction({ key: req.get('idempotency-key'), headers: req.headers }, async (client) => {
        await client.query({ text: `INSERT INTO ${TEST_SCHEMA}.${PREFIX}notes VALUES ($1)`, values: [req.get('idempotency-key')] });
        return { saved: true, n: Math.random() };
      });
      res.status(201).json(note);
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notes`;
    const key = `note-${randomUUID()}`;
    const init = { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key, authorization: 'Bearer a', cookie: 'sid=1' }, body: '{}' };
    try {
      const first = await fetch(url, init);
      expect(first.status).toBe(201);
      const replay = await fetch(url, init);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.text()).toBe(await first.text());
      expect((await pool.query(`SELECT count(*)::int AS n FROM ${TEST_SCHEMA}.${PREFIX}notes WHERE key = $1`, [key])).rows[0].n).toBe(1);
    } finally {
      server.close();
      await pool.query(`DROP TABLE ${TEST_SCHEMA}.${PREFIX}notes`);
    }
  });
});
