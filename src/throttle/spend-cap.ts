import type { TrustProxy } from '../allowlist/client-ip.js';
import { ApiError } from '../errors/api-error.js';
import { errorDecision, NEXT } from '../guard/respond.js';
import type { Decision, Guard } from '../guard/types.js';
import { compileMetered } from './metered-guard.js';
import { Calendar, type SpendPeriod } from './calendar.js';
import { askStore, type MaybePromise } from './decide.js';
import { type OutageMode, StoreHealth, type StoreSwitchEvent, validateOutage } from './outage.js';
import type { HasThrottleStore, SpendRequest, SpendResult } from './store.js';

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
   * Called on each switch between the store and the outage mode.
   * @default one `console.warn` line per switch
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
}

const NAME = 'spendCap';
const DAY_MS = 86_400_000;

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
export function createSpendCap<Req = unknown>(options: SpendCapOptions<Req>): Guard<Req> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${NAME}: options must be an object`);
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
  const { mode, hook } = validateOutage(NAME, options.onStoreError, options.onStoreSwitch);
  const store = metered.store;
  const health = new StoreHealth(`${NAME} "${name}"`, mode, hook);
  const caps: SpendCounter[] = [];
  for (const [period, calendar] of calendars) {
    // Counters outlive their period by a day or so, whichever clock ends it.
    caps.push(new SpendCounter(period, options[period]!, period === 'daily' ? 2 * DAY_MS : 32 * DAY_MS, calendar));
  }
  const message = options.message ?? ((period: SpendPeriod) => `This request would exceed your ${period} spend limit.`);

  const decided = (_request: SpendRequest, result: SpendResult): Decision => {
    if (result.allowed) return NEXT;
    const period = caps[result.exceeded]?.period ?? 'daily';
    let text: string;
    try {
      text = message(period);
    } catch {
      text = `This request would exceed your ${period} spend limit.`;
    }
    return errorDecision(new ApiError('spend_limit_exceeded', { message: String(text), details: { period } }));
  };

  const spend = (request: SpendRequest) => store.spend(request);
  const fallback = (request: SpendRequest) => decided(request, health.fallback.spend(request));
  return metered.guard((key, units) => {
    const now = Date.now();
    const request: SpendRequest = {
      key,
      cost: units,
      counters: caps.map((cap) => cap.around(now)),
    };
    return askStore(health, request, spend, decided, fallback);
  });
}

type Counter = SpendRequest['counters'][number];

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
