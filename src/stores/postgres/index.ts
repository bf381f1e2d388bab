/**
 * `bulwark/postgres`: the shared store on the PostgreSQL an API already runs, through `pg`.
 * @module
 */
import { refuseUnknownOptions } from '../../options/unknown-options.js';
import { withTimeout } from '../store-error.js';
import { PostgresIdempotencyStore } from './idempotency.js';
import { checkNames, migrationSql, namesOf, type PostgresNames } from './migration.js';
import { hold, type PgClient, type PgPool } from './pool.js';
import { Sweeper, type SweptTable } from './sweep.js';
import { PostgresThrottleStore } from './throttle.js';
import { inTransaction, type TransactionClaim, type TransactionOptions } from './transaction.js';

/** Options of {@link PostgresStore}. */
export interface PostgresStoreOptions {
  /**
   * Schema of the store's tables and functions (created by `migrate()` if missing).
   * @default 'public'
   * @example
   * ```ts
   * new PostgresStore(pool, { schema: 'bulwark' })
   * ```
   */
  schema?: string;
  /**
   * Prefix of the store's tables (`<prefix>idempotency`, `<prefix>rate`, `<prefix>spend`) and functions
   * (`<prefix>gcra`, `<prefix>sliding`, `<prefix>spend_decide`): lower-case letters, digits and `_`.
   * @default 'bulwark_'
   * @example
   * ```ts
   * new PostgresStore(pool, { tablePrefix: 'api_' })
   * ```
   */
  tablePrefix?: string;
  /**
   * Deadline of every statement, in milliseconds, the wait for a free connection of the pool included.
   * A later answer (a database down, unreachable, or stalled) rejects with `StoreUnavailableError`: rate
   * limits fall back to their outage behaviour, idempotency answers 503. No statement is sent after its
   * deadline, and the connection that ran a late one is closed, never reused. A statement sent in time
   * but answered late may still be applied by the server (a rate-limit unit spent, a claim held for one
   * lease) unless the pool cancels it there: give the `Pool` `statement_timeout` equal to this deadline.
   * @default 500
   * @example
   * ```ts
   * new PostgresStore(pool, { commandTimeoutMs: 250 })
   * ```
   */
  commandTimeoutMs?: number;
  /**
   * Cleanup of expired rows: every this many writes to a table, one `DELETE` of at most `sweepLimit`
   * expired rows of it runs in the background (no timer). `0` turns it off: then run
   * {@link PostgresStore.sweep} yourself (a cron job, `pg_cron`).
   * @default 100
   * @example
   * ```ts
   * new PostgresStore(pool, { sweepEvery: 0 }) // and: cron.schedule('* * * * *', () => store.sweep())
   * ```
   */
  sweepEvery?: number;
  /**
   * Most expired rows one sweep deletes (per table).
   * @default 500
   * @example
   * ```ts
   * new PostgresStore(pool, { sweepLimit: 2000 })
   * ```
   */
  sweepLimit?: number;
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['schema', 'tablePrefix', 'commandTimeoutMs', 'sweepEvery', 'sweepLimit']);
const OWNER = 'PostgresStore';

interface Resolved {
  schema: string;
  tablePrefix: string;
  commandTimeoutMs: number;
  sweepEvery: number;
  sweepLimit: number;
}

function resolve(options: PostgresStoreOptions): Resolved {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${OWNER}: options must be an object`);
  refuseUnknownOptions(OWNER, options, OPTION_NAMES);
  const schema = options.schema ?? 'public';
  const tablePrefix = options.tablePrefix ?? 'bulwark_';
  checkNames(OWNER, schema, tablePrefix);
  const commandTimeoutMs = options.commandTimeoutMs ?? 500;
  if (!Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) {
    throw new TypeError(`${OWNER}: options.commandTimeoutMs must be a positive number of milliseconds`);
  }
  const sweepEvery = options.sweepEvery ?? 100;
  if (!Number.isSafeInteger(sweepEvery) || sweepEvery < 0) throw new TypeError(`${OWNER}: options.sweepEvery must be a non-negative integer`);
  const sweepLimit = options.sweepLimit ?? 500;
  if (!Number.isSafeInteger(sweepLimit) || sweepLimit < 1) throw new TypeError(`${OWNER}: options.sweepLimit must be a positive integer`);
  return { schema, tablePrefix, commandTimeoutMs, sweepEvery, sweepLimit };
}

/**
 * A store on PostgreSQL through a `pg` `Pool`: one statement per decision or record, time from the
 * database (`clock_timestamp()`), every statement under a deadline. Run `migrate()` once (it is
 * idempotent; or run `PostgresStore.migrationSql()` with your own migrations). One instance can serve
 * every middleware at once.
 *
 * Beyond Redis, it offers exactly once inside the application's own transaction: see
 * {@link PostgresStore.transaction}.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { PostgresStore } from 'bulwark/postgres';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, statement_timeout: 500 });
 * const store = new PostgresStore(pool, { commandTimeoutMs: 500 });
 * await store.migrate();
 * app.use(rateLimit({ limit: 100, windowMs: 60_000, store }));
 * app.use(idempotency({ store, scope: (req) => req.user.accountId }));
 * ```
 */
export class PostgresStore {
  /** The pool every statement runs on. */
  readonly pool: PgPool;
  /** Resolved options. */
  readonly options: Readonly<Resolved>;
  readonly #names: PostgresNames;
  readonly #sweeper: Sweeper;
  #throttle: PostgresThrottleStore | undefined;
  #idempotency: PostgresIdempotencyStore | undefined;

  constructor(pool: PgPool, options: PostgresStoreOptions = {}) {
    if (typeof pool !== 'object' || pool === null || typeof pool.connect !== 'function') {
      throw new TypeError(`${OWNER}: pool must be a pg Pool`);
    }
    this.pool = pool;
    this.options = Object.freeze(resolve(options));
    this.#names = namesOf(this.options.schema, this.options.tablePrefix);
    const { sweepEvery, sweepLimit, commandTimeoutMs } = this.options;
    this.#sweeper = new Sweeper(pool, this.#names, sweepEvery, sweepLimit, commandTimeoutMs);
  }

  /**
   * The SQL that {@link PostgresStore.migrate} runs, for teams that run their own migrations: one
   * transaction, idempotent (`IF NOT EXISTS`, `CREATE OR REPLACE`), under an advisory lock.
   *
   * @example
   * ```ts
   * writeFileSync('migrations/0042_bulwark.sql', PostgresStore.migrationSql({ schema: 'bulwark' }));
   * ```
   */
  static migrationSql(options: Pick<PostgresStoreOptions, 'schema' | 'tablePrefix'> = {}): string {
    const { schema, tablePrefix } = resolve(options);
    return migrationSql(namesOf(schema, tablePrefix));
  }

  /**
   * Creates the store's schema, tables, indexes and functions if they are missing (safe to run on every
   * start, from many processes at once).
   * @param timeoutMs the deadline of the migration
   * @default timeoutMs 30000
   * @example
   * ```ts
   * await store.migrate();
   * ```
   */
  async migrate(timeoutMs = 30_000): Promise<void> {
    const client = await withTimeout(this.pool.connect(), timeoutMs, 'migration connection');
    const release = hold(client);
    let failed: Error | undefined;
    try {
      await withTimeout(client.query({ text: migrationSql(this.#names) }), timeoutMs, 'migration');
    } catch (err) {
      failed = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // A failed migration leaves its connection mid-transaction: closed, not reused.
      release(failed);
    }
  }

  /**
   * Deletes expired rows now, at most `sweepLimit` per table; resolves to how many. For a cron job (or
   * `pg_cron`, running the same `DELETE`) when `sweepEvery` is 0.
   * @example
   * ```ts
   * setInterval(() => store.sweep().catch(() => {}), 60_000).unref();
   * ```
   */
  async sweep(): Promise<number> {
    let total = 0;
    for (const table of ['idempotency', 'rate', 'spend'] as SweptTable[]) total += await this.#sweeper.sweep(table);
    return total;
  }

  /**
   * Exactly once inside the application's transaction: runs `work` in a transaction on one connection
   * of the pool, and in that same transaction marks the request's idempotency record as committed. The
   * record is committed if and only if the work is: a process that dies before the commit leaves neither
   * (a retry, after the lease, runs once), one that dies after it leaves both (a retry gets the
   * `response` replayed, or 422 `idempotency_key_used` without one, and never runs). When the guard then
   * records the captured response, it replaces the provisional one. A claim lost meanwhile (its lease ran
   * out and another request took the key) rolls the work back and rejects.
   *
   * The route must sit behind `idempotency({ store })` with this same store; a request without a key
   * (`claim.key` undefined) runs its work in a plain transaction. The key and scope name the claim:
   * give the same scope as the guard's `scope` option, or the request's headers when the guard uses
   * its default scope.
   *
   * @example
   * ```ts
   * app.use(express.json());
   * app.use(idempotency({ store, scope: (req) => req.get('x-account') }));
   * app.post('/v1/orders', async (req, res) => {
   *   const order = await store.transaction(
   *     { key: req.get('idempotency-key'), scope: req.get('x-account') },
   *     async (client) => {
   *       const { rows } = await client.query({ text: 'INSERT INTO orders (item) VALUES ($1) RETURNING id', values: [req.body.item] });
   *       return { id: rows[0].id };
   *     },
   *     { response: (order) => ({ status: 201, headers: [['content-type', 'application/json; charset=utf-8']], body: JSON.stringify(order) }) },
   *   );
   *   res.status(201).json(order);
   * });
   * ```
   */
  transaction<T>(claim: TransactionClaim, work: (client: PgClient) => Promise<T>, options?: TransactionOptions<T>): Promise<T> {
    return inTransaction(this.idempotency, this.pool, this.options.commandTimeoutMs, claim, work, options);
  }

  /** The rate-limit and spend-cap side of the store. */
  get throttle(): PostgresThrottleStore {
    this.#throttle ??= new PostgresThrottleStore(this.pool, this.#names, this.options.commandTimeoutMs, this.#sweeper);
    return this.#throttle;
  }

  /** The idempotency side of the store. */
  get idempotency(): PostgresIdempotencyStore {
    this.#idempotency ??= new PostgresIdempotencyStore(this.pool, this.#names, this.options.commandTimeoutMs, this.#sweeper);
    return this.#idempotency;
  }
}

export type { PgClient, PgPool, PgQuery, PgResult } from './pool.js';
export type { ProvisionalResponse, TransactionClaim, TransactionOptions } from './transaction.js';
