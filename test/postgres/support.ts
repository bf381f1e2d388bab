/**
 * Real PostgreSQL for tests: the server at DATABASE_URL (or postgres://postgres@127.0.0.1:5432/test).
 * Nothing here skips: a PostgreSQL that cannot be reached is a failure with one line saying how to
 * provide one. Tests use the schema `bulwark_test` and a table prefix of their own.
 */
import pg from 'pg';
import { PostgresStore, type PostgresStoreOptions } from '../../src/stores/postgres/index.js';

const HOW = 'start PostgreSQL on 127.0.0.1:5432 with trust auth and a database "test", or set DATABASE_URL';

/** The test database's URL. */
export function databaseUrl(): string {
  return process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
}

/** The schema every test of bulwark uses. */
export const TEST_SCHEMA = 'bulwark_test';

/** A pool on the test database that never keeps the process alive; throws one line when none answers. */
export async function connectPg(config: pg.PoolConfig = {}): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: databaseUrl(), connectionTimeoutMillis: 3_000, allowExitOnIdle: true, ...config });
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`PostgreSQL is not reachable at ${databaseUrl()} (${(err as Error).message}): ${HOW}`);
  }
  return pool;
}

const migrated = new Map<string, Promise<void>>();

/** A PostgresStore on the shared test pool under `tablePrefix`, migrated (once per prefix and process). */
export async function testStore(tablePrefix: string, options: PostgresStoreOptions = {}): Promise<{ store: PostgresStore; pool: pg.Pool }> {
  const pool = await sharedPool();
  const store = new PostgresStore(pool, { schema: TEST_SCHEMA, tablePrefix, commandTimeoutMs: 5_000, ...options });
  let done = migrated.get(tablePrefix);
  if (!done) {
    done = store.migrate();
    migrated.set(tablePrefix, done);
  }
  await done;
  return { store, pool };
}

let shared: Promise<pg.Pool> | undefined;
function sharedPool(): Promise<pg.Pool> {
  shared ??= connectPg({ max: 20 });
  return shared;
}
