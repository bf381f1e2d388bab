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
  /** `pg`'s clients are event emitters: an error between queries is an 'error' event. */
  on?(event: 'error', listener: (err: Error) => void): unknown;
  removeListener?(event: 'error', listener: (err: Error) => void): unknown;
}

function ignore(): void {}

/**
 * Takes a checked-out connection in hand: a connection that the server ends while it is checked out
 * (`pg_terminate_backend`, a restart) emits 'error', which `pg` leaves to whoever holds it; without a
 * listener that would crash the process. Returns the release, which closes the connection on an error.
 * @internal
 */
export function hold(client: PgClient): (failure?: unknown) => void {
  client.on?.('error', ignore);
  return (failure) => {
    client.removeListener?.('error', ignore);
    client.release(failure === undefined ? undefined : failure instanceof Error ? failure : true);
  };
}

/**
 * The part of a `pg` `Pool` the store uses (structural, so that bulwark's types never require `pg`'s):
 * `connect` for every statement and for the transactional mode.
 */
export interface PgPool {
  connect(): Promise<PgClient>;
}

/**
 * Runs one statement on a connection of the pool within `timeoutMs`, the wait for a free connection
 * included: a later, refused or failed answer rejects with `StoreUnavailableError`. A statement is
 * never sent after its deadline (a connection that comes late goes back to the pool unused), and the
 * connection of a statement that failed or answered late is closed, never reused. A statement sent in
 * time but answered late may still be applied by the server, unless the pool sets `statement_timeout`.
 */
export async function run(pool: PgPool, text: string, values: unknown[], timeoutMs: number, what: string): Promise<PgResult> {
  const deadline = performance.now() + timeoutMs;
  let connecting: Promise<PgClient>;
  try {
    connecting = pool.connect();
  } catch (err) {
    throw new StoreUnavailableError(`${what} failed`, { cause: err });
  }
  let client: PgClient;
  try {
    client = await withTimeout(connecting, timeoutMs, `${what} (connection)`);
  } catch (err) {
    // A connection that arrives after the deadline is handed back unused.
    connecting.then(
      (late) => late.release(),
      () => {},
    );
    throw err;
  }
  const release = hold(client);
  const left = Math.ceil(deadline - performance.now());
  if (left <= 0) {
    release();
    throw new StoreUnavailableError(`${what} took longer than ${timeoutMs} ms`);
  }
  let answer: Promise<PgResult>;
  try {
    answer = client.query({ text, values, query_timeout: left });
  } catch (err) {
    release(err);
    throw new StoreUnavailableError(`${what} failed`, { cause: err });
  }
  try {
    const result = await withTimeout(answer, left, what);
    release();
    return result;
  } catch (err) {
    release(err);
    throw err;
  }
}

/** The one row a store statement returns; a missing one is an outage (never a guess). */
export function onlyRow(result: PgResult, what: string): Record<string, unknown> {
  const row = result.rows[0];
  if (row === undefined) throw new StoreUnavailableError(`${what}: no reply row`);
  return row;
}
