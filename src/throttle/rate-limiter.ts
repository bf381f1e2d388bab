import { refuseUnknownOptions } from '../options/unknown-options.js';
import type { TrustProxy } from '../allowlist/client-ip.js';
import { ApiError } from '../errors/api-error.js';
import { errorDecision, NEXT } from '../guard/respond.js';
import type { Decision, Guard, HeaderPairs, RequestView } from '../guard/types.js';
import { compileMetered } from './metered-guard.js';
import { askStore, type MaybePromise } from './decide.js';
import { MAX_MODULUS } from './exact.js';
import { type HeadersMode, headerWriter, isSfStringSafe, MAX_HEADER_INTEGER } from './headers.js';
import { type OutageMode, type RefundErrorEvent, StoreHealth, type StoreSwitchEvent, validateOutage, validateRefundHook } from './outage.js';
import { failed, outcomeRefund, type RefundOutcome, type RefundRule } from './refund.js';
import { retryAfterSeconds } from './retry-after.js';
import type { Algorithm, HasThrottleStore, RateReceipt, RateRequest, RateResult, ThrottleStore } from './store.js';

/** Options of `rateLimit` (the same object on Express, Koa and fetch) and of {@link createRateLimiter}. */
export interface RateLimitOptions<Req = unknown> {
  /**
   * Units admitted per `windowMs` (the steady rate). A positive integer, at most 999,999,999,999,999
   * (the 15 digits of a structured-field integer). Any rate is exact: from one a day to ten million a
   * second and beyond, no unit is lost or invented.
   * @example `limit: 100, windowMs: 60_000` (100 requests a minute)
   */
  limit: number;
  /**
   * Window length in milliseconds (a positive integer; 30 days and more work, up to 2^50 microseconds,
   * about 35 years).
   * @example `windowMs: 60_000`
   */
  windowMs: number;
  /**
   * GCRA only: the bucket size, the most units admitted at once. Over any span of `windowMs`, at most
   * `limit + burst` units are admitted. At most 999,999,999,999,999, and the empty bucket must refill
   * within 2^50 microseconds (`burst * windowMs / limit`, about 35 years). Not allowed with
   * `algorithm: 'sliding-window'`.
   * @default limit
   * @example `limit: 100, windowMs: 60_000, burst: 20` (100 a minute, at most 20 at once)
   */
  burst?: number;
  /**
   * `'gcra'`: token bucket semantics, one number per key. `'sliding-window'`: an exact log of the last
   * `windowMs` (never more than `limit` in any window; memory per key grows with `limit`).
   * @default 'gcra'
   * @example `algorithm: 'sliding-window'`
   */
  algorithm?: Algorithm;
  /**
   * What one request costs: a non-negative integer, or a function of the framework's request.
   * A request costing more than the bucket holds is refused with 422 `invalid_request` (it could never
   * be admitted; nothing is consumed). A cost function that throws or returns a bad value gives a 500.
   * @default 1
   * @example `cost: (req) => (req.path.startsWith('/v1/batch') ? 10 : 1)`
   */
  cost?: number | ((request: Req) => MaybePromise<number>);
  /**
   * The bucket key of a request (Express `req`, Koa `ctx`, Web `Request`).
   * @default the client address (see `trustProxy`), IPv6 grouped by `ipv6Subnet`, IPv4-mapped as IPv4;
   *   requests without a known address share the key `unknown`
   * @example `key: (req) => req.get('authorization') ?? req.ip`
   */
  key?: (request: Req) => MaybePromise<string>;
  /**
   * Requests for which this returns true are not counted and get no headers.
   * @default undefined (every request counts)
   * @example `skip: (req) => req.path === '/health'`
   */
  skip?: (request: Req) => MaybePromise<boolean>;
  /**
   * Where buckets live: `new MemoryStore()` (per process) or `new RedisStore(redis)` (shared). One store
   * can serve every middleware; each keeps its own key space (see `name`).
   * @default a MemoryStore of this middleware's own
   * @example `store: new RedisStore(new Redis(process.env.REDIS_URL))`
   */
  store?: HasThrottleStore;
  /**
   * Rate-limit headers on every response (allowed or refused): `'draft-10'`, `'draft-11'` (the newer
   * revision's `t`, the effective window), `'draft-7'`, `'legacy'` or `false` (see {@link HeadersMode}).
   * @default 'draft-10'
   * @example `headers: 'legacy'`
   */
  headers?: HeadersMode;
  /**
   * The policy name (draft-10 headers) and this limiter's key space in the store: two limiters on one
   * store with the same name share buckets. Printable ASCII.
   * @default `${limit}-in-${windowMs / 1000}s` (for example `100-in-60s`), with `-sw` for a sliding window
   * @example `name: 'burst'`
   */
  name?: string;
  /**
   * While the store is unavailable: `'fallback'` decides with a per-process memory limiter (and returns
   * to the store when it answers again), `'open'` admits every request, `'closed'` answers 503
   * `service_unavailable`.
   * @default 'fallback'
   * @example `onStoreError: 'closed'`
   */
  onStoreError?: OutageMode;
  /**
   * Called on each switch between the store and the outage mode.
   * @default one `console.warn` line per switch
   * @example `onStoreSwitch: (e) => metrics.gauge('ratelimit.degraded', e.state === 'degraded' ? 1 : 0)`
   */
  onStoreSwitch?: (event: StoreSwitchEvent) => void;
  /**
   * For the default key: which peers are trusted proxies whose forwarding headers are believed
   * (CIDR list, an IpSet, or a hop count), as in `ipAllowlist`.
   * @default undefined (the socket peer is the client)
   * @example `trustProxy: ['10.0.0.0/8']`
   */
  trustProxy?: TrustProxy;
  /**
   * For the default key: read the RFC 7239 `Forwarded` header instead of `X-Forwarded-For`, as in `ipAllowlist`.
   * @default false
   * @example `forwarded: true`
   */
  forwarded?: boolean;
  /**
   * For the default key: IPv6 clients are grouped by this prefix length.
   * @default 56
   * @example `ipv6Subnet: 64`
   */
  ipv6Subnet?: number;
  /**
   * The message of the 429 body.
   * @default the catalog's message for `throttled`
   * @example `message: 'Slow down: 100 requests a minute.'`
   */
  message?: string;
  /**
   * Give a request's units back once it failed: a status of 400 or more, a thrown error, a response
   * that closed before it ended, a client that left before the application ran (as express-rate-limit's
   * option of the same name).
   * @default false (a rate limit protects the server from requests, failed or not)
   * @example `skipFailedRequests: true` (a 4xx or 5xx does not use up the client's quota)
   */
  skipFailedRequests?: boolean;
  /**
   * Give a request's units back once it succeeded (status below 400, sent whole): with it, only failures
   * count, as express-rate-limit's option of the same name (a limiter of failed logins).
   * @default false
   * @example `skipSuccessfulRequests: true`
   */
  skipSuccessfulRequests?: boolean;
  /**
   * Whether an idempotent replay (`Idempotent-Replayed: true`) counts against the limit. A replay is
   * a request the server answered, so it counts by default, as Stripe counts it.
   * @default true
   * @example `countReplays: false`
   */
  countReplays?: boolean;
  /**
   * Decides instead of `skipFailedRequests`, `skipSuccessfulRequests` and `countReplays` whether a
   * request's units are given back, from `{ status, replayed, thrown, ran, completed, request }`. GCRA
   * returns the units to the bucket (exactly, never past `burst`); the sliding window removes the entry.
   * @default undefined (the three options above)
   * @example `refund: (o) => o.status === 304` (a revalidation costs nothing)
   */
  refund?: RefundRule<Req>;
  /**
   * Called for each refund that could not reach the store (the units stay consumed). Never thrown.
   * @default at most one `console.warn` line a minute, with the count lost
   * @example `onRefundError: (e) => metrics.increment('ratelimit.refund_lost')`
   */
  onRefundError?: (event: RefundErrorEvent) => void;
}

/** A rate limiter's state for one key, as {@link RateLimiterGuard.peek} reads it. */
export interface RatePeek {
  /** Units admitted per window. */
  limit: number;
  /** Units available now. */
  remaining: number;
  /** Milliseconds until the bucket (or window) is full again. */
  resetMs: number;
}

/** The rate limiter guard, with {@link RateLimiterGuard.peek}. */
export interface RateLimiterGuard<Req = unknown> extends Guard<Req> {
  /**
   * Reads a key's quota without consuming any: one store call, no write. `key` is what the `key`
   * option returns (with the default key, the client address). Rejects with the store's error when the
   * store cannot answer, and with a `TypeError` for a key that is not a string.
   * @example
   * ```ts
   * const limiter = rateLimit({ limit: 100, windowMs: 60_000, key: (req) => req.account.id });
   * const { remaining, resetMs } = await limiter.peek('acct_42');
   * ```
   */
  peek(key: string): Promise<RatePeek>;
}

const NAME = 'rateLimit';

/** The rule of the rate limit's refund options, or undefined when nothing is ever given back. */
function rateRefundRule<Req>(options: RateLimitOptions<Req>): RefundRule<Req> | undefined {
  for (const field of ['skipFailedRequests', 'skipSuccessfulRequests', 'countReplays'] as const) {
    if (options[field] !== undefined && typeof options[field] !== 'boolean') throw new TypeError(`${NAME}: options.${field} must be a boolean`);
  }
  if (options.refund !== undefined) {
    if (typeof options.refund !== 'function') throw new TypeError(`${NAME}: options.refund must be a function (outcome) => boolean`);
    if (options.skipFailedRequests !== undefined || options.skipSuccessfulRequests !== undefined || options.countReplays !== undefined) {
      throw new TypeError(`${NAME}: options.refund replaces skipFailedRequests, skipSuccessfulRequests and countReplays: give one or the other`);
    }
    return options.refund;
  }
  const skipFailed = options.skipFailedRequests === true;
  const skipSucceeded = options.skipSuccessfulRequests === true;
  const skipReplays = options.countReplays === false;
  if (!skipFailed && !skipSucceeded && !skipReplays) return undefined;
  return (outcome: RefundOutcome<Req>) =>
    (skipReplays && outcome.replayed) || (failed(outcome) ? skipFailed : skipSucceeded);
}

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'limit',
  'windowMs',
  'burst',
  'algorithm',
  'cost',
  'key',
  'skip',
  'store',
  'headers',
  'name',
  'onStoreError',
  'onStoreSwitch',
  'trustProxy',
  'forwarded',
  'ipv6Subnet',
  'message',
  'skipFailedRequests',
  'skipSuccessfulRequests',
  'countReplays',
  'refund',
  'onRefundError',
]);

/**
 * Builds the rate limiter guard that `rateLimit` (Express, Koa) and `guard({ rateLimit })` (fetch) run.
 * A refused request gets 429 `throttled` with `Retry-After` in whole seconds (at least 1, rounded up:
 * a retry after exactly that delay is admitted); every response gets the rate-limit headers.
 *
 * @throws TypeError naming the option when an option is invalid
 * @example
 * ```ts
 * const limiter = createRateLimiter({ limit: 100, windowMs: 60_000 });
 * const decision = await limiter.check(view);
 * ```
 */
export function createRateLimiter<Req = unknown>(options: RateLimitOptions<Req>): RateLimiterGuard<Req> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${NAME}: options must be an object`);
  refuseUnknownOptions(NAME, options, OPTION_NAMES);
  const limit = options.limit;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_HEADER_INTEGER) {
    throw new TypeError(`${NAME}: options.limit must be a positive integer of at most ${MAX_HEADER_INTEGER}`);
  }
  const windowMs = options.windowMs;
  if (!Number.isSafeInteger(windowMs) || windowMs < 1 || windowMs * 1000 > MAX_MODULUS) {
    throw new TypeError(`${NAME}: options.windowMs must be a positive integer of milliseconds, at most ${Math.floor(MAX_MODULUS / 1000)} (about 35 years)`);
  }
  const algorithm = options.algorithm ?? 'gcra';
  if (algorithm !== 'gcra' && algorithm !== 'sliding-window') {
    throw new TypeError(`${NAME}: options.algorithm must be 'gcra' or 'sliding-window'`);
  }
  if (algorithm === 'sliding-window' && options.burst !== undefined) {
    throw new TypeError(`${NAME}: options.burst applies to algorithm 'gcra' only`);
  }
  const burst = options.burst ?? limit;
  if (!Number.isSafeInteger(burst) || burst < 1 || burst > MAX_HEADER_INTEGER) {
    throw new TypeError(`${NAME}: options.burst must be a positive integer of at most ${MAX_HEADER_INTEGER}`);
  }
  // The empty bucket's refill time in microseconds bounds every value of the exact arithmetic.
  if ((burst * windowMs * 1000) / limit > MAX_MODULUS) {
    throw new TypeError(`${NAME}: options.burst is too large for its rate: burst * windowMs / limit must be at most ${Math.floor(MAX_MODULUS / 1000)} ms (about 35 years)`);
  }
  if (options.message !== undefined && typeof options.message !== 'string') throw new TypeError(`${NAME}: options.message must be a string`);
  const policyName = options.name ?? `${limit}-in-${windowMs / 1000}s${algorithm === 'sliding-window' ? '-sw' : ''}`;
  if (typeof policyName !== 'string' || policyName.length === 0 || policyName.length > 100 || !isSfStringSafe(policyName)) {
    throw new TypeError(`${NAME}: options.name must be 1 to 100 printable ASCII characters`);
  }
  const namespace = `rl:${policyName}:`;
  const metered = compileMetered<Req>(NAME, options, namespace);
  const writeHeaders = headerWriter(options.headers, NAME, { name: policyName, limit, windowMs });
  const capacity = algorithm === 'gcra' ? burst : limit;
  const { mode, hook } = validateOutage(NAME, options.onStoreError, options.onStoreSwitch);
  const rule = rateRefundRule(options);
  const refundHook = validateRefundHook(NAME, options.onRefundError);
  const store = metered.store;
  const health = new StoreHealth(`${NAME} "${policyName}"`, mode, hook, 1000, refundHook);
  const message = options.message;
  const refunds = (from: ThrottleStore) => (from.refundRate ? (receipt: RateReceipt) => from.refundRate!(receipt) : undefined);
  if (rule !== undefined && typeof store.refundRate !== 'function') {
    process.emitWarning(`${NAME} "${policyName}": the store has no refundRate(); units are never given back`, { code: 'BULWARK_NO_REFUND' });
  }

  const decidedWith =
    (refund: ((receipt: RateReceipt) => ReturnType<NonNullable<ThrottleStore['refundRate']>>) | undefined) =>
    (asked: Asked<Req>, result: RateResult): Decision => {
      const headers: HeaderPairs = [];
      writeHeaders(result, headers);
      if (result.allowed) {
        if (refund !== undefined && result.receipt !== undefined && asked.view !== undefined) {
          const onOutcome = outcomeRefund(rule!, asked.view.request, health, refund, result.receipt);
          return headers.length === 0 ? { type: 'next', onOutcome } : { type: 'next', headers, onOutcome };
        }
        return headers.length === 0 ? NEXT : { type: 'next', headers };
      }
      return refused(asked.rate, result, headers);
    };

  const refused = (request: RateRequest, result: RateResult, headers: HeaderPairs): Decision => {
    if (result.retryAfterMs < 0) return tooCostly(request.cost, headers);
    const retryAfter = String(retryAfterSeconds(result.retryAfterMs));
    return errorDecision(new ApiError('throttled', { headers: { 'retry-after': retryAfter }, ...(message ? { message } : {}) }), headers);
  };

  const tooCostly = (units: number, headers: HeaderPairs): Decision =>
    errorDecision(
      new ApiError('invalid_request', {
        message: `This request costs ${units} rate-limit units, more than the ${capacity} this limit ever admits at once.`,
      }),
      headers,
    );

  const decided = decidedWith(rule !== undefined ? refunds(store) : undefined);
  let fallbackDecided: ReturnType<typeof decidedWith> | undefined;
  const consume = (asked: Asked<Req>) => store.consume(asked.rate);
  const fallback = (asked: Asked<Req>) => {
    fallbackDecided ??= decidedWith(rule !== undefined ? refunds(health.fallback) : undefined);
    return fallbackDecided(asked, health.fallback.consume(asked.rate));
  };
  // Without refunds, a decision is the store's answer alone: no wrapper, no outcome callback.
  const plainDecided = (request: RateRequest, result: RateResult): Decision => {
    const headers: HeaderPairs = [];
    writeHeaders(result, headers);
    if (result.allowed) return headers.length === 0 ? NEXT : { type: 'next', headers };
    return refused(request, result, headers);
  };
  const plainConsume = (request: RateRequest) => store.consume(request);
  const plainFallback = (request: RateRequest) => plainDecided(request, health.fallback.consume(request));
  const guard = metered.guard((key, units, view) => {
    const request: RateRequest = { key, algorithm, limit, windowMs, burst: capacity, cost: units };
    if (units > capacity) return tooCostly(units, []);
    if (rule === undefined) return askStore(health, request, plainConsume, plainDecided, plainFallback);
    return askStore(health, { rate: request, view }, consume, decided, fallback);
  });
  const peek = async (key: string): Promise<RatePeek> => {
    const result = await store.consume({ key: metered.storeKeyOf(key), algorithm, limit, windowMs, burst: capacity, cost: 0 });
    return { limit, remaining: result.remaining, resetMs: result.resetMs };
  };
  return Object.assign(guard, { peek });
}

/** One decision asked of the store, with the request it is for when a refund may follow. */
interface Asked<Req> {
  rate: RateRequest;
  view?: RequestView<Req>;
}
