import { randomUUID } from 'node:crypto';
import type {
  RateReceipt,
  RateRequest,
  RateResult,
  RefundResult,
  SpendReceipt,
  SpendRequest,
  SpendResult,
  ThrottleStore,
} from '../../throttle/store.js';
import { StoreUnavailableError } from '../store-error.js';
import type { PostgresNames } from './migration.js';
import { onlyRow, type PgPool, run } from './pool.js';
import type { Sweeper } from './sweep.js';

const PERIOD = /^[A-Za-z0-9-]{1,40}$/;
const RECEIPT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** An admitted rate-limit request, to refund once: its terms and (sliding window) its entry's time. */
class PostgresRateReceipt {
  open = true;
  constructor(
    readonly store: PostgresThrottleStore,
    readonly request: RateRequest,
    readonly at: string | undefined,
  ) {}
}

/** A recorded spend: its key and the name of its receipt row. */
class PostgresSpendReceipt {
  constructor(
    readonly store: PostgresThrottleStore,
    readonly key: string,
    readonly name: string,
  ) {}
}

const NOT_REFUNDED: RefundResult = Object.freeze({ refunded: false });

/**
 * The throttle side of `PostgresStore`: one statement per decision (`SELECT * FROM <prefix>gcra(...)`,
 * `<prefix>sliding(...)`, `<prefix>spend_decide(...)`: plpgsql functions created by `migrate()`), each
 * locking its key's rows for the length of the decision, with exact `numeric` arithmetic and the
 * database's clock (`clock_timestamp()`, which also picks the calendar period a spend counts in).
 * Every call has the store's deadline and rejects with `StoreUnavailableError` past it.
 */
export class PostgresThrottleStore implements ThrottleStore {
  readonly #gcra: string;
  readonly #sliding: string;
  readonly #spend: string;
  readonly #spendRefund: string;
  readonly #gcraRefund: string;
  readonly #slidingRefund: string;

  constructor(
    readonly pool: PgPool,
    readonly names: PostgresNames,
    readonly timeoutMs: number,
    readonly sweeper: Sweeper,
  ) {
    this.#gcra = `SELECT * FROM ${names.gcra}($1, $2, $3, $4, $5)`;
    this.#sliding = `SELECT * FROM ${names.sliding}($1, $2, $3, $4)`;
    this.#spend = `SELECT * FROM ${names.spendFn}($1, $2, $3::text[], $4::numeric[], $5::bigint[], $6::bigint[], $7, $8, $9, $10)`;
    this.#spendRefund = `SELECT ${names.spendRefund}($1, $2) AS refunded`;
    this.#gcraRefund = `SELECT ${names.gcraRefund}($1, $2, $3, $4) AS refunded`;
    this.#slidingRefund = `SELECT ${names.slidingRefund}($1, $2, $3) AS refunded`;
  }

  async consume(request: RateRequest): Promise<RateResult> {
    const sliding = request.algorithm === 'sliding-window';
    if (request.cost > 0) this.sweeper.wrote('rate');
    const reply = await run(
      this.pool,
      sliding ? this.#sliding : this.#gcra,
      sliding
        ? [request.key, request.limit, request.windowMs, request.cost]
        : [request.key, request.limit, request.windowMs, request.burst, request.cost],
      this.timeoutMs,
      'rate limit decision',
    );
    const row = onlyRow(reply, 'rate limit decision');
    if (typeof row.allowed !== 'boolean') throw new StoreUnavailableError('rate limit decision: unexpected reply');
    const retryUs = Number(row.retry_us);
    const result: RateResult = {
      allowed: row.allowed,
      remaining: Number(row.remaining),
      resetMs: Number(row.reset_us) / 1000,
      retryAfterMs: retryUs < 0 ? -1 : retryUs / 1000,
      nextMs: Number(row.next_us) / 1000,
    };
    if (result.allowed && request.cost > 0) {
      const at = sliding ? row.at_us : undefined;
      if (!sliding || typeof at === 'string') result.receipt = new PostgresRateReceipt(this, request, at as string | undefined);
    }
    return result;
  }

  async refundRate(receipt: RateReceipt): Promise<RefundResult> {
    if (!(receipt instanceof PostgresRateReceipt) || receipt.store !== this || !receipt.open) return NOT_REFUNDED;
    receipt.open = false;
    const { request, at } = receipt;
    const reply =
      at !== undefined
        ? await run(this.pool, this.#slidingRefund, [request.key, at, request.cost], this.timeoutMs, 'rate limit refund')
        : await run(this.pool, this.#gcraRefund, [request.key, request.limit, request.windowMs, request.cost], this.timeoutMs, 'rate limit refund');
    return { refunded: onlyRow(reply, 'rate limit refund').refunded === true };
  }

  async refundSpend(receipt: SpendReceipt): Promise<RefundResult> {
    if (!(receipt instanceof PostgresSpendReceipt) || receipt.store !== this) return NOT_REFUNDED;
    const reply = await run(this.pool, this.#spendRefund, [receipt.key, receipt.name], this.timeoutMs, 'spend refund');
    return { refunded: onlyRow(reply, 'spend refund').refunded === true };
  }

  async spend(request: SpendRequest): Promise<SpendResult> {
    const n = request.counters.length;
    if (n < 1 || n > 3) throw new RangeError('spend: between 1 and 3 counters per decision');
    const periods: string[] = [];
    const starts: number[] = [];
    const limits: number[] = [];
    const ttls: number[] = [];
    for (const counter of request.counters) {
      for (const period of counter.periods) {
        if (!PERIOD.test(period)) throw new RangeError('spend: a period is letters, digits and - only');
        periods.push(period);
      }
      starts.push(counter.starts[0], counter.starts[1]);
      limits.push(counter.limit);
      ttls.push(Math.max(1, Math.ceil(counter.ttlMs)));
    }
    const ttl = request.receiptTtlMs;
    const withReceipt = ttl !== undefined && request.cost > 0;
    const named = request.receiptId;
    if (named !== undefined && !RECEIPT_ID.test(named)) throw new RangeError('spend: a receiptId is 1 to 64 letters, digits, - or _');
    const name = named !== undefined ? `k${named}` : withReceipt ? randomUUID() : '-';
    if (request.cost > 0) this.sweeper.wrote('spend');
    const reply = await run(
      this.pool,
      this.#spend,
      [request.key, request.cost, periods, starts, limits, ttls, name, withReceipt ? Math.max(1, Math.ceil(ttl)) : 0, named !== undefined, request.force === true],
      this.timeoutMs,
      'spend decision',
    );
    const row = onlyRow(reply, 'spend decision');
    if (typeof row.allowed !== 'boolean' || !Array.isArray(row.used)) throw new StoreUnavailableError('spend decision: unexpected reply');
    const result: SpendResult = { allowed: row.allowed, exceeded: Number(row.exceeded), used: (row.used as unknown[]).map(Number) };
    if (row.retried === true) result.retried = true;
    else if (result.allowed && withReceipt) result.receipt = new PostgresSpendReceipt(this, request.key, name);
    return result;
  }
}
