import { asBuffer } from '../../guard/as-buffer.js';
import type { HeaderPairs, RequestView } from '../../guard/types.js';
import { scopedKey } from '../../idempotency/key.js';
import { defaultScope } from '../../idempotency/scope.js';
import { StoreUnavailableError, withTimeout } from '../store-error.js';
import type { PostgresIdempotencyStore } from './idempotency.js';
import { hold, type PgClient, type PgPool } from './pool.js';

/**
 * Which request's claim a {@link PostgresStore.transaction} belongs to: the request's idempotency key and
 * the scope the `idempotency()` guard gave it. Give `scope` when the guard has a `scope` option (the same
 * value it returned for this request, `undefined` and `null` included); otherwise give the request's
 * `headers` (the guard's default scope is made of its credential headers).
 */
export type TransactionClaim =
  | { key: string | undefined | null; scope: string | undefined | null }
  | { key: string | undefined | null; headers?: Readonly<Record<string, string | string[] | undefined>> };

/** The response to replay should the process die after the commit but before its response is recorded. */
export interface ProvisionalResponse {
  status: number;
  headers?: HeaderPairs;
  body?: string | Uint8Array;
}

/** Options of {@link PostgresStore.transaction}. */
export interface TransactionOptions<T> {
  /**
   * The response a retry replays if this process dies between the commit and the recording of the
   * response it sent (the guard then replaces it with the captured bytes). Without it, such a retry gets
   * 422 `idempotency_key_used` (completed, not replayable): the work is never done twice either way.
   * @default none
   * @example
   * ```ts
   * { response: (order) => ({ status: 201, headers: [['content-type', 'application/json']], body: JSON.stringify(order) }) }
   * ```
   */
  response?: (result: T) => ProvisionalResponse;
}

/** The key under which the guard claimed this request (see `createIdempotency`), or undefined for none. */
function claimedKey(claim: TransactionClaim): string | undefined {
  const key = claim.key;
  if (key === undefined || key === null || key === '') return undefined;
  if (typeof key !== 'string') throw new TypeError('PostgresStore.transaction: claim.key must be the Idempotency-Key header (a string)');
  if ('scope' in claim) return scopedKey(`u:${claim.scope ?? ''}`, key);
  const headers = claim.headers ?? {};
  // The guard's default scope, from the same headers (it reads nothing else of the request's view).
  const view = {
    header(name: string): string | undefined {
      const value = headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
  return scopedKey(defaultScope(view as unknown as RequestView<unknown>), key);
}

/**
 * Runs `work` in one transaction on a connection of `pool`, and marks the request's idempotency record
 * committed in that same transaction: the record is committed if and only if the work is. @internal
 */
export async function inTransaction<T>(
  side: PostgresIdempotencyStore,
  pool: PgPool,
  timeoutMs: number,
  claim: TransactionClaim,
  work: (client: PgClient) => Promise<T>,
  options: TransactionOptions<T> = {},
): Promise<T> {
  if (typeof claim !== 'object' || claim === null) throw new TypeError('PostgresStore.transaction: claim must be { key, scope } or { key, headers }');
  if (typeof work !== 'function') throw new TypeError('PostgresStore.transaction: work must be a function (client) => Promise');
  const key = claimedKey(claim);
  const token = key === undefined ? undefined : side.live.get(key);
  if (key !== undefined && token === undefined) {
    throw new Error(
      'PostgresStore.transaction: this process holds no claim of this idempotency key; mount idempotency() with this store before the route, and give the scope it uses',
    );
  }
  const client = await withTimeout(pool.connect(), timeoutMs, 'transaction connection');
  const release = hold(client);
  let broken: Error | undefined;
  try {
    await client.query({ text: 'BEGIN' });
    try {
      const result = await work(client);
      if (key !== undefined && token !== undefined) {
        const provisional = options.response?.(result);
        const values =
          provisional === undefined
            ? [key, token, null, null, null]
            : [
                key,
                token,
                provisional.status,
                JSON.stringify(provisional.headers ?? []),
                typeof provisional.body === 'string' ? Buffer.from(provisional.body) : asBuffer(provisional.body ?? new Uint8Array(0)),
              ];
        const marked = await client.query({
          text: `UPDATE ${side.names.idempotency} SET state = 3, status = $3, headers = $4::jsonb, body = $5, status_text = NULL
WHERE key = $1 AND token = $2 AND state = 1`,
          values,
          query_timeout: timeoutMs,
        });
        if (marked.rowCount !== 1) {
          throw new StoreUnavailableError('PostgresStore.transaction: the claim was lost (its lease ran out); the work was rolled back');
        }
      }
      await client.query({ text: 'COMMIT', query_timeout: timeoutMs });
      return result;
    } catch (err) {
      try {
        await client.query({ text: 'ROLLBACK', query_timeout: timeoutMs });
      } catch (rollback) {
        broken = rollback instanceof Error ? rollback : new Error('rollback failed');
      }
      throw err;
    }
  } finally {
    release(broken);
  }
}
