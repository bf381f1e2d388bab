import { StoreUnavailableError, withTimeout } from '../store-error.js';

/** A query result as `pg` gives it: the rows and how many a write touched. */
export interface PgResult {
  rows: Array<Record<string, unknown>>;
  rowCount: number | null;
}

/** A query as `pg` takes it: text, values, and its client-side deadline. */
export interface PgQuery {
  text: string;
  values?: unknown[];
  /** `pg`'s per-query read deadline: the connection that ran a late query is closed. */
  query_timeout?: number;
}

/** A connection checked out of a pool (`pg`'s `PoolClient`): what the transactional mode uses. */
export interface PgClient {
  query(query: PgQuery): Promise<PgResult>;
  /** Back to the pool; with an error (or `true`), the connection is closed instead. */
  release(destroy?: boolean | Error): void;
}

/**
 * The part of a `pg` `Pool` the store uses (structural, so that bulwark's types never require `pg`'s):
 * `query` for every decision and record, `connect` for the transactional mode.
 */
export interface PgPool {
  query(query: PgQuery): Promise<PgResult>;
  connect(): Promise<PgClient>;
}

/**
 * Runs one statement on the pool within `timeoutMs` (the wait for a free connection included): a later,
 * refused or failed answer rejects with `StoreUnavailableError`. The deadline is also given to `pg`
 * (`query_timeout`), so that a connection stuck on a stalled server is closed rather than reused.
 */
export function run(pool: PgPool, text: string, values: unknown[], timeoutMs: number, what: string): Promise<PgResult> {
  let answer: Promise<PgResult>;
  try {
    answer = pool.query({ text, values, query_timeout: timeoutMs });
  } catch (err) {
    return Promise.reject(new StoreUnavailableError(`${what} failed`, { cause: err }));
  }
  return withTimeout(answer, timeoutMs, what);
}

/** The one row a store statement returns; a missing one is an outage (never a guess). */
export function onlyRow(result: PgResult, what: string): Record<string, unknown> {
  const row = result.rows[0];
  if (row === undefined) throw new StoreUnavailableError(`${what}: no reply row`);
  return row;
}
