import { refuseUnknownOptions } from '../options/unknown-options.js';
import type { TrustProxy } from '../allowlist/client-ip.js';
import { ApiError } from '../errors/api-error.js';
import { channels, type GuardMode, hashKey, type SpendCapEvent } from '../events/channels.js';
import { type Logger, validateLogger } from '../events/logger.js';
import { errorDecision, NEXT } from '../guard/respond.js';
import type { Decision, Guard, Outcome, RequestView } from '../guard/types.js';
import { compileMetered } from './metered-guard.js';
import { Calendar, type SpendPeriod } from './calendar.js';
import { askStore, type MaybePromise } from './decide.js';
import { checkSetMode, inShadowChain, shadowPass, validateMode } from './mode.js';
import {
  type OutageMode,
  type RefundErrorEvent,
  StoreHealth,
  type StoreSwitchEvent,
  unavailableError,
  validateOutage,
  validateRefundHook,
} from './outage.js';
import { didNoWork, outcomeRefund, RECEIPT_TTL_MS, type RefundReport, type RefundRule, runRefund } from './refund.js';
import { sha256 } from '../idempotency/hash.js';
import type { HasThrottleStore, RefundResult, SpendReceipt, SpendRequest, SpendResult, ThrottleStore } from './store.js';

/** A calendar period of a spend cap; `period` in the 403 body. */
export type { SpendPeriod } from './calendar.js';

/** Options of `spendCap` (the same object on Express, Koa and fetch) and of {@link createSpendCap}. */
export interface SpendCapOptions<Req = unknown> {
  /**
   * Most spent per calendar day (in `timeZone`). At least one of `daily` and `monthly` is required.
   * @default undefined (no daily cap)
   * @example `daily: 10_000` (for example cents)
   */
  daily?: number;
  /**
   * Most spent per calendar month (in `timeZone`).
   * @default undefined (no monthly cap)
   * @example `monthly: 200_000`
   */
  monthly?: number;
  /**
   * What one request spends: a non-negative integer, or a function of the framework's request. A
   * request that would take a total past a cap is refused with 403 `spend_limit_exceeded` and spends nothing.
   * @default 1
   * @example `cost: (req) => req.body.recipients.length * 5`
   */
  cost?: number | ((request: Req) => MaybePromise<number>);
  /**
   * The spender: usually the account.
   * @default the client address, as `rateLimit`'s default key
   * @example `key: (req) => req.account.id`
   */
  key?: (request: Req) => MaybePromise<string>;
  /**
   * Requests for which this returns true spend nothing and are not checked.
   * @default undefined
   * @example `skip: (req) => req.method === 'GET'`
   */
  skip?: (request: Req) => MaybePromise<boolean>;
  /**
   * The IANA time zone whose calendar days and months the caps follow.
   * @default 'UTC'
   * @example `timeZone: 'Europe/Paris'`
   */
  timeZone?: string;
  /**
   * Where counters live (`MemoryStore`, `RedisStore`). Memory counters are per process and a counter
   * evicted by the store's `max` starts again from zero: use Redis for caps that matter.
   * @default a MemoryStore of this middleware's own
   * @example `store: new RedisStore(redis)`
   */
  store?: HasThrottleStore;
  /**
   * This cap's key space in the store (two caps with the same name share counters). Letters, digits, `-`, `_`.
   * @default 'spend'
   * @example `name: 'sms-spend'`
   */
  name?: string;
  /**
   * While the store is unavailable: `'fallback'` counts in a per-process memory store, `'open'` admits,
   * `'closed'` answers 503 `service_unavailable`.
   * @default 'fallback'
   * @example `onStoreError: 'closed'`
   */
  onStoreError?: OutageMode;
  /**
   * Called on each switch between the store and the outage mode (instead of the log line; the
   * `bulwark:store` event is published either way).
   * @default one `logger.warn` line per switch
   * @example `onStoreSwitch: (e) => log.warn(e)`
   */
  onStoreSwitch?: (event: StoreSwitchEvent) => void;
  /** For the default key, as in `rateLimit`. @default undefined @example `trustProxy: ['10.0.0.0/8']` */
  trustProxy?: TrustProxy;
  /** For the default key, as in `rateLimit`. @default false @example `forwarded: true` */
  forwarded?: boolean;
  /**
   * The 403 message per period.
   * @default `This request would exceed your daily spend limit.` (or `monthly`)
   * @example `message: (period) => \`This send would exceed your ${period} spend limit.\``
   */
  message?: (period: SpendPeriod) => string;
  /**
   * Which requests get their spend back once they ended. A request reserves its cost at admission (so
   * concurrent requests never take a total past the cap) and the reservation is refunded, in the period
   * it went into, when this returns true for the outcome: `{ status, replayed, thrown, ran, completed,
   * request }`. `false`: never refund (the cost is spent at admission, whatever happens).
   * @default refund when nothing was done: a status that is not 2xx (a 409 or 422 of `idempotency`
   *   included), an idempotent replay (`Idempotent-Replayed: true`), a thrown error, a client that left
   *   before the application ran
   * @example `refund: (o) => o.replayed || o.thrown || o.status >= 500` (a 4xx of the handler's own stays spent)
   */
  refund?: false | RefundRule<Req>;
  /**
   * Called for each refund that could not reach the store (down, slower than its deadline): the charge
   * stays. A refund never throws and never rejects.
   * @default at most one `logger.warn` line a minute, with the count lost
   * @example `onRefundError: (e) => metrics.increment('spend.refund_lost')`
   */
  onRefundError?: (event: RefundErrorEvent) => void;
  /**
   * How the cap tells a retry from a new send, so that the order of `spendCap` and `idempotency` does not
   * matter: a request whose key (this header, with its method and path) was charged before and not
   * refunded is not charged again, nor refused for want of room, so that `idempotency` replays it (or
   * answers 409 while the first runs). Should it do work again (no `idempotency` after the cap, or its
   * record expired), it is charged once it ended, past the cap if need be. `ttlMs` is how long a charged
   * key is remembered (at least as long as `idempotency`'s `ttlMs`). `false`: every request is charged
   * at admission, so a retry may be refused with 403 when the cap has no room for it again.
   * @default { header: 'Idempotency-Key', ttlMs: 86_400_000 } (as `idempotency`'s defaults)
   * @example `idempotencyKey: { header: 'X-Request-Id', ttlMs: 7 * 86_400_000 }`
   */
  idempotencyKey?: false | { header?: string; ttlMs?: number };
  /**
   * `'enforce'` refuses a spend past a cap; `'shadow'` asks the store exactly as enforcing does (a spend
   * that enforcing would refuse records nothing), publishes the same decision on `bulwark:spend-cap` with
   * `wouldDeny: true`, and lets every request through. Refunds of admitted spends work as when enforcing.
   * A request whose `key` or `cost` function fails still gets the 500. Switch at run time with `setMode()`.
   * @default 'enforce'
   * @example `mode: 'shadow'`
   */
  mode?: GuardMode;
  /**
   * Where the lines about the store go (unavailable, available again, refunds that could not reach it),
   * each starting `bulwark: spendCap "name": `, unless `onStoreSwitch` or `onRefundError` takes them.
   * @default console
   * @example `logger: pino()`
   */
  logger?: Logger;
}

/** One cap's state for a spender, as {@link SpendCapGuard.peek} reads it. */
export interface SpendPeekPeriod {
  /** The cap. */
  limit: number;
  /** Spent in the current period (refunds taken off). */
  used: number;
  /** Still available: `limit - used`, at least 0. */
  remaining: number;
  /** Milliseconds until the period ends (by this process's clock) and the counter starts again from 0. */
  resetMs: number;
}

/** A spender's caps, as {@link SpendCapGuard.peek} reads them: one entry per configured period. */
export type SpendPeek = Partial<Record<SpendPeriod, SpendPeekPeriod>>;

/** The spend cap guard, with {@link SpendCapGuard.peek}. */
export interface SpendCapGuard<Req = unknown> extends Guard<Req> {
  /**
   * Reads a spender's totals without spending: one store call, no write. `key` is what the `key` option
   * returns for the spender (with the default key, the client address). Rejects with the store's error
   * when the store cannot answer, and with a `TypeError` for a key that is not a string.
   * @example
   * ```ts
   * const cap = spendCap({ daily: 10_000, key: (req) => req.account.id, store });
   * const { daily } = await cap.peek('acct_42'); // { limit: 10000, used: 600, remaining: 9400, resetMs: 3600000 }
   * ```
   */
  peek(key: string): Promise<SpendPeek>;
  /**
   * Switches between `'enforce'` and `'shadow'` at run time, for the requests decided from now on (a
   * `TypeError` for any other value). The middleware of every adapter carries it.
   * @example `cap.setMode('enforce')`
   */
  setMode(mode: GuardMode): void;
  /** The current mode. @example `if (cap.mode === 'shadow') ...` */
  readonly mode: GuardMode;
}

const NAME = 'spendCap';
const DAY_MS = 86_400_000;

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'daily',
  'monthly',
  'cost',
  'key',
  'skip',
  'timeZone',
  'store',
  'name',
  'onStoreError',
  'onStoreSwitch',
  'trustProxy',
  'forwarded',
  'message',
  'refund',
  'onRefundError',
  'idempotencyKey',
  'mode',
  'logger',
]);

/** Who decided a request: the store, or the outage mode while it is unavailable. */
type Source = SpendCapEvent['source'];

/**
 * Builds the spend cap guard that `spendCap` (Express, Koa) and `guard({ spendCap })` (fetch) run: a
 * per-spender total over calendar days and/or months in a time zone. A request that would take a total
 * past its cap gets 403 `spend_limit_exceeded` with `period` (`daily` or `monthly`) in the body, and
 * spends nothing. Both counters move together or not at all.
 *
 * The store decides which period a request counts in by its own clock (Redis `TIME`; the memory store's
 * is the application's): the application names the periods around its own reading, with where they
 * begin, because a calendar date needs a time zone, which Redis lacks. Counters expire on their own a
 * day or so after their period ends.
 *
 * @throws TypeError naming the option when an option is invalid
 * @example
 * ```ts
 * app.post('/v1/messages', spendCap({ daily: 10_000, timeZone: 'Europe/Paris', key: (req) => req.account.id,
 *   cost: (req) => req.body.to.length, store }), send);
 * ```
 */
export function createSpendCap<Req = unknown>(options: SpendCapOptions<Req>): SpendCapGuard<Req> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${NAME}: options must be an object`);
  refuseUnknownOptions(NAME, options, OPTION_NAMES);
  for (const field of ['daily', 'monthly'] as const) {
    const value = options[field];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new TypeError(`${NAME}: options.${field} must be a non-negative integer`);
    }
  }
  if (options.daily === undefined && options.monthly === undefined) {
    throw new TypeError(`${NAME}: options.daily or options.monthly is required`);
  }
  if (options.message !== undefined && typeof options.message !== 'function') throw new TypeError(`${NAME}: options.message must be a function`);
  const name = options.name ?? 'spend';
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new TypeError(`${NAME}: options.name must be 1 to 64 letters, digits, - or _`);
  }
  const metered = compileMetered<Req>(NAME, options, `sc:${name}:`);
  const timeZone = options.timeZone ?? 'UTC';
  const calendars = new Map<SpendPeriod, Calendar>();
  try {
    if (typeof timeZone !== 'string') throw new RangeError('not a string');
    for (const period of ['daily', 'monthly'] as const) {
      if (options[period] !== undefined) calendars.set(period, new Calendar(timeZone, period));
    }
  } catch {
    throw new TypeError(`${NAME}: options.timeZone must be an IANA time zone such as 'UTC' or 'Europe/Paris'`);
  }
  const { mode: outageMode, hook } = validateOutage(NAME, options.onStoreError, options.onStoreSwitch);
  let mode = validateMode(NAME, options.mode);
  const logger = validateLogger(NAME, options.logger);
  const refundOption = options.refund;
  if (refundOption !== undefined && refundOption !== false && typeof refundOption !== 'function') {
    throw new TypeError(`${NAME}: options.refund must be false or a function (outcome) => boolean`);
  }
  const refundHook = validateRefundHook(NAME, options.onRefundError);
  const keyed = idempotencyKeyOf(options.idempotencyKey);
  const store = metered.store;
  const health = new StoreHealth({ guard: NAME, policy: name, mode: outageMode, hook, refundHook, logger });
  const rule: RefundRule<Req> | undefined = refundOption === false ? undefined : (refundOption ?? didNoWork);
  if (rule !== undefined && typeof store.refundSpend !== 'function') {
    process.emitWarning(`bulwark: ${NAME} "${name}": the store has no refundSpend(); spends are never refunded`, { code: 'BULWARK_NO_REFUND' });
  }
  const refunds = (from: ThrottleStore) => (from.refundSpend ? (receipt: SpendReceipt) => from.refundSpend!(receipt) : undefined);
  const storeRefund = rule !== undefined ? refunds(store) : undefined;
  const caps: SpendCounter[] = [];
  for (const [period, calendar] of calendars) {
    // Counters outlive their period by a day or so, whichever clock ends it.
    caps.push(new SpendCounter(period, options[period]!, period === 'daily' ? 2 * DAY_MS : 32 * DAY_MS, calendar));
  }
  const message = options.message ?? ((period: SpendPeriod) => `This request would exceed your ${period} spend limit.`);

  /** Publishes one decision; called only when the channel has subscribers. */
  const publish = (decision: SpendCapEvent['decision'], spend: SpendRequest, source: Source, period?: SpendPeriod, retried?: boolean): void => {
    const event: SpendCapEvent = {
      guard: NAME,
      decision,
      policy: name,
      key: hashKey(spend.key),
      cost: spend.cost,
      source,
      mode,
      wouldDeny: mode === 'shadow' && decision === 'deny',
    };
    if (period !== undefined) event.period = period;
    if (retried === true) event.retried = true;
    channels.spendCap.publish(event);
  };
  const refundReport: RefundReport<Asked<Req>> = {
    channel: channels.spendCap,
    refunded: (asked) => publish('refund', asked.spend, asked.source),
  };

  const decidedWith =
    (from: ThrottleStore, refund: ((receipt: SpendReceipt) => MaybePromise<RefundResult>) | undefined, source: 'store' | 'fallback') =>
    (asked: Asked<Req>, result: SpendResult): Decision => {
      if (result.allowed) {
        if (channels.spendCap.hasSubscribers) publish('allow', asked.spend, source, undefined, result.retried);
        // A retry of a send already charged: charged only if it turns out to do work again.
        if (result.retried === true && asked.view !== undefined) return { type: 'next', onOutcome: chargeIfWorked(from, asked) };
        if (refund === undefined || result.receipt === undefined || asked.view === undefined) return NEXT;
        asked.source = source;
        return { type: 'next', onOutcome: outcomeRefund(rule!, asked.view.request, health, refund, result.receipt, refundReport, asked, mode === 'shadow') };
      }
      const period = caps[result.exceeded]?.period ?? 'daily';
      if (channels.spendCap.hasSubscribers) publish('deny', asked.spend, source, period);
      if (mode === 'shadow') return shadowPass(403);
      let text: string;
      try {
        text = message(period);
      } catch {
        text = `This request would exceed your ${period} spend limit.`;
      }
      return errorDecision(new ApiError('spend_limit_exceeded', { message: String(text), details: { period } }));
    };

  /** The outcome callback of a retried pass: a retry that did work again is charged now (forced). */
  const chargeIfWorked = (from: ThrottleStore, asked: Asked<Req>) => {
    let done = false;
    return (outcome: Outcome): void => {
      if (done) return;
      done = true;
      if (didNoWork(outcome)) return;
      try {
        if (rule !== undefined && rule({ ...outcome, request: asked.view!.request }) === true) return;
      } catch {
        // a rule that throws keeps the charge
      }
      // Charged past the cap (the work is done), and the key's name held for no time: a route where no
      // idempotency guard replays retries (the key was reused for new work) lets a key through uncharged
      // once, never again; its next use is admitted, or refused, as a new spend.
      runRefund(health, (request: SpendRequest) => from.spend(request), { ...asked.spend, force: true, receiptTtlMs: 1 });
    };
  };

  const decided = decidedWith(store, storeRefund, 'store');
  let fallbackDecided: ReturnType<typeof decidedWith> | undefined;
  const spend = (asked: Asked<Req>) => store.spend(asked.spend);
  /** The decision while the store is unavailable, by the outage mode. */
  const fallback = (asked: Asked<Req>): Decision => {
    if (health.mode === 'fallback') {
      fallbackDecided ??= decidedWith(health.fallback, rule !== undefined ? refunds(health.fallback) : undefined, 'fallback');
      return fallbackDecided(asked, health.fallback.spend(asked.spend));
    }
    if (health.mode === 'open') {
      if (channels.spendCap.hasSubscribers) publish('allow', asked.spend, 'open');
      return NEXT;
    }
    if (channels.spendCap.hasSubscribers) publish('deny', asked.spend, 'closed');
    return mode === 'shadow' ? shadowPass(503) : errorDecision(unavailableError());
  };
  const receiptTtlMs = storeRefund !== undefined ? RECEIPT_TTL_MS : undefined;
  const guard = metered.guard((key, units, view) => {
    const now = Date.now();
    const counters = caps.map((cap) => cap.around(now));
    if (units > 0 && keyed !== undefined) {
      // A keyed request: its receipt is named after the key, so that a retry is told from a new send.
      const value = view.header(keyed.header);
      if (value !== undefined && value !== '') {
        const receiptId = sha256(`${view.method} ${view.path}\n${value}`);
        const asked: Asked<Req> = { spend: { key, cost: units, counters, receiptTtlMs: keyed.ttlMs, receiptId }, view, source: 'store' };
        return askStore(health, asked, spend, decided, fallback);
      }
    }
    // A request asks for a receipt only when a refund can follow (a positive cost, refunds on).
    const asked: Asked<Req> =
      receiptTtlMs !== undefined && units > 0
        ? { spend: { key, cost: units, counters, receiptTtlMs }, view, source: 'store' }
        : { spend: { key, cost: units, counters }, source: 'store' };
    return askStore(health, asked, spend, decided, fallback);
  });
  const peek = async (key: string): Promise<SpendPeek> => {
    const storeKey = metered.storeKeyOf(key);
    const now = Date.now();
    const counters = caps.map((cap) => cap.around(now));
    const result = await store.spend({ key: storeKey, cost: 0, counters });
    const out: SpendPeek = {};
    caps.forEach((cap, i) => {
      const used = Number(result.used[i] ?? 0);
      out[cap.period] = { limit: cap.limit, used, remaining: Math.max(0, cap.limit - used), resetMs: Math.max(0, counters[i]!.starts[1] - now) };
    });
    return out;
  };
  const setMode = (next: GuardMode): void => {
    mode = checkSetMode(NAME, next);
  };
  const cap = Object.assign(inShadowChain(guard, () => mode), { peek, setMode });
  Object.defineProperty(cap, 'mode', { get: () => mode, enumerable: true, configurable: true });
  return cap as SpendCapGuard<Req>;
}

type Counter = SpendRequest['counters'][number];

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Validates `idempotencyKey`: the header (lower-case) and how long a charged key is remembered, or undefined for `false`. */
function idempotencyKeyOf(option: SpendCapOptions['idempotencyKey']): { header: string; ttlMs: number } | undefined {
  if (option === false) return undefined;
  if (option !== undefined && (typeof option !== 'object' || option === null)) {
    throw new TypeError(`${NAME}: options.idempotencyKey must be false or { header?, ttlMs? }`);
  }
  const header = option?.header ?? 'Idempotency-Key';
  if (typeof header !== 'string' || !HEADER_NAME.test(header)) throw new TypeError(`${NAME}: options.idempotencyKey.header must be a header name`);
  const ttlMs = option?.ttlMs ?? 86_400_000;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new TypeError(`${NAME}: options.idempotencyKey.ttlMs must be a positive integer of milliseconds`);
  for (const name of Object.keys(option ?? {})) {
    if (name !== 'header' && name !== 'ttlMs') throw new TypeError(`${NAME}: options.idempotencyKey.${name} is not an option`);
  }
  return { header: header.toLowerCase(), ttlMs };
}

/** One decision asked of the store, with the request it is for when a refund may follow. */
interface Asked<Req> {
  spend: SpendRequest;
  view?: RequestView<Req>;
  /** Who decided the admission (for a refund's event). */
  source: Source;
}

/**
 * One cap of a spend cap: its period, limit and calendar, and the counter it hands the store, made again
 * only when the clock enters another period (a decision reuses it rather than building one per request).
 */
class SpendCounter {
  #counter: Counter | undefined;

  constructor(
    readonly period: SpendPeriod,
    readonly limit: number,
    readonly ttlMs: number,
    readonly calendar: Calendar,
  ) {}

  /** The counter around `now` (epoch milliseconds). Shared between decisions: stores only read it. */
  around(now: number): Counter {
    // The calendar answers the same timeline while the clock stays in one period.
    const { periods, starts } = this.calendar.around(now);
    if (this.#counter?.starts !== starts) this.#counter = { periods, starts, limit: this.limit, ttlMs: this.ttlMs };
    return this.#counter;
  }
}
