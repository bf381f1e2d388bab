import { asBuffer } from '../../guard/as-buffer.js';
import type { HeaderPairs } from '../../guard/types.js';
import type { ClaimResult, CompletedResponse, IdempotencyStore, StoredResponse } from '../../idempotency/store.js';
import { StoreUnavailableError } from '../store-error.js';
import type { PostgresNames } from './migration.js';
import { onlyRow, type PgPool, type PgResult, run } from './pool.js';
import type { Sweeper } from './sweep.js';

/** Most claims of this process remembered for the transactional mode (the oldest are forgotten first). */
const MAX_LIVE = 100_000;

/**
 * The idempotency side of `PostgresStore`: one statement per operation (claim, renew, complete,
 * release), each compare-and-set on the owner token, time from the database (`clock_timestamp()`).
 * A claim takes over a row whose lease or TTL ran out in the same statement (no timer per key), and
 * expired rows are deleted by the store's bounded sweep.
 *
 * States: 1 in flight, 2 completed, 3 committed by the application's transaction (see
 * `PostgresStore.transaction`), which counts as completed (its response, or not replayable, until the
 * captured one is written) and is never released: its side effect is committed.
 */
export class PostgresIdempotencyStore implements IdempotencyStore {
  /** Scoped key to owner token of the claims this process holds, for `PostgresStore.transaction`. @internal */
  readonly live = new Map<string, string>();
  readonly #claim: string;
  readonly #renew: string;
  readonly #complete: string;
  readonly #release: string;

  constructor(
    readonly pool: PgPool,
    readonly names: PostgresNames,
    readonly timeoutMs: number,
    readonly sweeper: Sweeper,
  ) {
    const t = names.idempotency;
    const now = '(SELECT c.t FROM c)';
    const free = `(r.expires_at <= ${now} OR (r.state = 1 AND r.lease_until <= ${now}))`;
    const take = (column: string) => `${column} = CASE WHEN ${free} THEN EXCLUDED.${column} ELSE r.${column} END`;
    this.#claim = `WITH c AS (SELECT clock_timestamp() AS t)
INSERT INTO ${t} AS r (key, fingerprint, token, state, lease_until, expires_at, ttl_ms)
SELECT $1, $2, $3, 1, c.t + $4::float8 * interval '1 millisecond', c.t + $5::float8 * interval '1 millisecond', $5 FROM c
ON CONFLICT (key) DO UPDATE SET ${['fingerprint', 'token', 'state', 'lease_until', 'expires_at', 'ttl_ms', 'status', 'status_text', 'headers', 'body'].map(take).join(', ')}
RETURNING r.token = $3 AS claimed, r.state, r.fingerprint, r.status, r.status_text, r.headers, r.body,
  greatest(ceil(extract(epoch from (r.lease_until - clock_timestamp())) * 1000), 1)::bigint AS lease_ms`;
    this.#renew = `UPDATE ${t} SET
  lease_until = CASE WHEN state = 1 THEN clock_timestamp() + $3::float8 * interval '1 millisecond' ELSE lease_until END,
  expires_at = CASE WHEN state = 1 THEN greatest(expires_at, clock_timestamp() + $3::float8 * interval '1 millisecond') ELSE expires_at END
WHERE key = $1 AND token = $2 AND state IN (1, 3) AND expires_at > clock_timestamp()`;
    this.#complete = `WITH u AS (
  UPDATE ${t} SET state = 2, lease_until = NULL, expires_at = clock_timestamp() + $7::float8 * interval '1 millisecond',
    status = $3, status_text = $4, headers = $5::jsonb, body = $6
  WHERE key = $1 AND token = $2 AND state IN (1, 3) AND expires_at > clock_timestamp() RETURNING 1)
SELECT EXISTS (SELECT 1 FROM u)
  OR EXISTS (SELECT 1 FROM ${t} WHERE key = $1 AND token = $2 AND state = 2 AND expires_at > clock_timestamp()) AS ok`;
    this.#release = `WITH d AS (DELETE FROM ${t} WHERE key = $1 AND token = $2 AND state = 1 RETURNING 1),
u AS (UPDATE ${t} SET state = 2, lease_until = NULL, expires_at = clock_timestamp() + ttl_ms * interval '1 millisecond'
  WHERE key = $1 AND token = $2 AND state = 3 RETURNING 1)
SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM u) AS n`;
  }

  async claim(key: string, fingerprint: string, token: string, leaseMs: number, ttlMs: number): Promise<ClaimResult> {
    this.sweeper.wrote('idempotency');
    const row = onlyRow(await this.#run(this.#claim, [key, fingerprint, token, leaseMs, ttlMs], 'idempotency claim'), 'idempotency claim');
    if (row.claimed === true) {
      if (this.live.size >= MAX_LIVE) this.live.delete(this.live.keys().next().value as string);
      this.live.set(key, token);
      return { type: 'claimed' };
    }
    const fp = String(row.fingerprint);
    const state = Number(row.state);
    if (state === 1) return { type: 'in_flight', fingerprint: fp, leaseRemainingMs: Number(row.lease_ms) };
    if (state === 2 || state === 3) return { type: 'completed', fingerprint: fp, response: decode(row) };
    throw new StoreUnavailableError('idempotency claim: unexpected record state');
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    return ((await this.#run(this.#renew, [key, token, leaseMs], 'idempotency renew')).rowCount ?? 0) === 1;
  }

  async complete(key: string, token: string, response: CompletedResponse, ttlMs: number): Promise<boolean> {
    const values =
      response === null
        ? [key, token, null, null, null, null, ttlMs]
        : [key, token, response.status, response.statusText ?? null, JSON.stringify(response.headers), asBuffer(response.body), ttlMs];
    const row = onlyRow(await this.#run(this.#complete, values, 'idempotency complete'), 'idempotency complete');
    this.#forget(key, token);
    return row.ok === true;
  }

  async release(key: string, token: string): Promise<boolean> {
    const row = onlyRow(await this.#run(this.#release, [key, token], 'idempotency release'), 'idempotency release');
    this.#forget(key, token);
    return Number(row.n) === 1;
  }

  #forget(key: string, token: string): void {
    if (this.live.get(key) === token) this.live.delete(key);
  }

  #run(text: string, values: unknown[], what: string): Promise<PgResult> {
    return run(this.pool, text, values, this.timeoutMs, what);
  }
}

/** The stored response of a completed row (`null`: completed, not replayable). */
function decode(row: Record<string, unknown>): CompletedResponse {
  if (row.status === null || row.status === undefined) return null;
  const headers = row.headers;
  const body = row.body;
  if (!Array.isArray(headers) || !(body instanceof Uint8Array)) throw new StoreUnavailableError('idempotency record is unreadable');
  const response: StoredResponse = { status: Number(row.status), headers: headers as HeaderPairs, body };
  if (typeof row.status_text === 'string') response.statusText = row.status_text;
  return response;
}
