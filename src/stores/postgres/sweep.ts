import type { PostgresNames } from './migration.js';
import { type PgPool, run } from './pool.js';

/** The store's tables that hold rows with an expiry. */
export type SweptTable = 'idempotency' | 'rate' | 'spend';

/**
 * The cleanup of expired rows, with no timer: every `every` writes to a table, one bounded
 * `DELETE` of at most `limit` expired rows of that table runs in the background (never on the
 * request's path; a failure is ignored and the next sweep tries again). Rows are also taken over in
 * place (an expired idempotency record by the next claim of its key, a rate-limit row by the next
 * decision), so the sweep only bounds the rows of keys that never come back.
 */
export class Sweeper {
  readonly #writes = { idempotency: 0, rate: 0, spend: 0 };
  readonly #running = new Set<SweptTable>();

  constructor(
    readonly pool: PgPool,
    readonly names: PostgresNames,
    readonly every: number,
    readonly limit: number,
    readonly timeoutMs: number,
  ) {}

  /** Counts one write to `table`; every `every`th starts a sweep of it. */
  wrote(table: SweptTable): void {
    if (this.every === 0) return;
    if (++this.#writes[table] < this.every) return;
    this.#writes[table] = 0;
    if (this.#running.has(table)) return;
    this.#running.add(table);
    this.sweep(table).then(
      () => this.#running.delete(table),
      () => this.#running.delete(table),
    );
  }

  /** Deletes at most `limit` expired rows of `table` (rows locked by a decision are skipped); how many. */
  async sweep(table: SweptTable): Promise<number> {
    const t = this.names[table];
    const result = await run(
      this.pool,
      `DELETE FROM ${t} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${t} WHERE expires_at < clock_timestamp() LIMIT $1 FOR UPDATE SKIP LOCKED))`,
      [this.limit],
      this.timeoutMs,
      'expired rows cleanup',
    );
    return result.rowCount ?? 0;
  }
}
