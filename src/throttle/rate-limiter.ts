import { refuseUnknownOptions } from '../options/unknown-options.js';
import type { TrustProxy } from '../allowlist/client-ip.js';
import { ApiError, isApiError } from '../errors/api-error.js';
import { channels, type GuardMode, hashKey, type RateLimitEvent } from '../events/channels.js';
import { type Logger, validateLogger } from '../events/logger.js';
import { errorDecision, NEXT } from '../guard/respond.js';
import type { Decision, Guard, HeaderPairs, RequestView } from '../guard/types.js';
import { compileMetered } from './metered-guard.js';
import { askStore, type MaybePromise } from './decide.js';
import { MAX_MODULUS } from './exact.js';
import { type HeadersMode, type HeaderWriter, headerWriter, isSfStringSafe, MAX_HEADER_INTEGER } from './headers.js';
import { checkSetMode, inShadowChain, shadowPass, validateFlag, validateMode } from './mode.js';
import {
  type OutageMode,
  type RefundErrorEvent,
  StoreHealth,
  type StoreSwitchEvent,
  unavailableError,
  validateOutage,
  validateRefundHook,
} from './outage.js';
import { failed, outcomeRefund, type RefundOutcome, type RefundReport, type RefundRule } from './refund.js';
import { retryAfterSeconds } from './retry-after.js';
import type { Algorithm, HasThrottleStore, RateReceipt, RateRequest, RateResult, ThrottleStore } from './store.js';

/** Options of `rateLimit` (the same object on Express, Koa and fetch) and of {@link createRateLimiter}. */
export interface RateLimitOptions<Req = unknown> {
  /**
   * Units admitted per `windowMs` (the steady rate). A positive integer, at most 999,999,999,999,999
   * (the 15 digits of a structured-field integer). Any rate is exact: from one a day to ten million a
   * second and beyond, no unit is lost or invented.
   *
   * Or a function of the framework's request that returns it (or a promise of it), for per-plan limits:
   * each request is counted against its own limit, and its headers report that limit. The value is
   * checked on every call: anything but a positive integer of at most 999,999,999,999,999, a throw or a
   * rejection answers 500 `internal_error` (a `TypeError` naming `options.limit`, the thrown value as its
   * `cause`, goes to `errorHandler`'s `onError`); an `ApiError` thrown on purpose is answered as itself.
   * A function limit needs `name` (the default name is made from the number). Requests of one key under
   * different limits share one bucket: a key that changes plan keeps what it used.
   * @example `limit: 100, windowMs: 60_000` (100 requests a minute)
   * @example `limit: (req) => (req.account.plan === 'pro' ? 1000 : 100), windowMs: 60_000, name: 'api'`
   */
  limit: number | ((request: Req) => MaybePromise<number>);
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
   * `algorithm: 'sliding-window'`. With a function `limit`, that bound is checked for each request's
   * limit (a limit too low for the burst answers 500, as a bad limit does).
   * @default limit (with a function `limit`, the limit of each request)
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
   * @default `${limit}-in-${windowMs / 1000}s` (for example `100-in-60s`), with `-sw` for a sliding window;
   *   required when `limit` is a function
   * @example `name: 'burst'`
   */
  name?: string;
  /**
   * `'enforce'` refuses requests over the limit; `'shadow'` asks the store exactly as enforcing does (a
   * request that enforcing would refuse consumes nothing), publishes the same decision on
   * `bulwark:rate-limit` with `wouldDeny: true`, and lets every request through without rate-limit
   * headers (see `shadowHeaders`). A request whose `key`, `cost` or `limit` function fails still gets
   * the 500. Switch at run time with `setMode()`.
   * @default 'enforce'
   * @example `mode: 'shadow'` (measure a new limit on live traffic before enforcing it)
   */
  mode?: GuardMode;
  /**
   * In shadow mode, send the rate-limit headers anyway (those the decision would carry: on a request that
   * enforcing would refuse, `r=0` and its `t`, but no `Retry-After` and no 429).
   * @default false
   * @example `mode: 'shadow', shadowHeaders: true`
   */
  shadowHeaders?: boolean;
  /**
   * Where the lines about the store go (unavailable, available again, refunds that could not reach it),
   * each starting `bulwark: rateLimit "name": `, unless `onStoreSwitch` or `onRefundError` takes them.
   * @default console
   * @example `logger: pino()`
   */
  logger?: Logger;
  /**
   * While the store is unavailable: `'fallback'` decides with a per-process memory limiter (and returns
   * to the store when it answers again), `'open'` admits every request, `'closed'` answers 503
   * `service_unavailable`.
   * @default 'fallback'
   * @example `onStoreError: 'closed'`
   */
  onStoreError?: OutageMode;
  /**
   * Called on each switch between the store and the outage mode (instead of the log line; the
   * `bulwark:store` event is published either way).
   * @default one `logger.warn` line per switch
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
   * @default at most one `logger.warn` line a minute, with the count lost
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

/** Options of {@link RateLimiterGuard.peek}. */
export interface RatePeekOptions {
  /**
   * The limit to read the key's bucket under (a positive integer, as `limit`). Required when the
   * limiter's `limit` is a function; otherwise it replaces the limiter's limit for this reading.
   * @default the limiter's `limit` (when it is a number)
   * @example `peek('acct_42', { limit: plans[account.plan] })`
   */
  limit?: number;
}

/** The rate limiter guard, with {@link RateLimiterGuard.peek} and its mode. */
export interface RateLimiterGuard<Req = unknown> extends Guard<Req> {
  /**
   * Reads a key's quota without consuming any: one store call, no write. `key` is what the `key`
   * option returns (with the default key, the client address). Rejects with the store's error when the
   * store cannot answer, and with a `TypeError` for a key that is not a string, a bad `limit`, or no
   * `limit` when the limiter's `limit` is a function (peek does not call it: it has no request).
   * @example
   * ```ts
   * const limiter = rateLimit({ limit: 100, windowMs: 60_000, key: (req) => req.account.id });
   * const { remaining, resetMs } = await limiter.peek('acct_42');
   * const perPlan = rateLimit({ name: 'api', limit: (req) => plans[req.account.plan], windowMs: 60_000, key: (req) => req.account.id });
   * await perPlan.peek('acct_42', { limit: plans.pro });
   * ```
   */
  peek(key: string, options?: RatePeekOptions): Promise<RatePeek>;
  /**
   * Switches between `'enforce'` and `'shadow'` at run time, for the requests decided from now on (a
   * `TypeError` for any other value). The middleware of every adapter carries it.
   * @example `limiter.setMode('enforce')`
   */
  setMode(mode: GuardMode): void;
  /** The current mode. @example `if (limiter.mode === 'shadow') ...` */
  readonly mode: GuardMode;
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
  'mode',
  'shadowHeaders',
  'logger',
]);

const PEEK_OPTION_NAMES: ReadonlySet<string> = new Set(['limit']);

/** Who decided a request: the store, or the outage mode while it is unavailable. */
type Source = RateLimitEvent['source'];

/** Most header writers a limiter with a function `limit` keeps (one per distinct limit). */
const MAX_WRITERS = 64;

function isLimit(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= MAX_HEADER_INTEGER;
}

/** A value as an error message names it (never its content for anything but a number). */
function described(value: unknown): string {
  return typeof value === 'number' ? String(value) : `a ${value === null ? 'null' : typeof value}`;
}

/** Whether the empty bucket's refill time in microseconds stays within the exact arithmetic's bound. */
function withinBound(burst: number, windowMs: number, limit: number): boolean {
  return (burst * windowMs * 1000) / limit <= MAX_MODULUS;
}

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
  const limitOption = options.limit;
  const limitFn = typeof limitOption === 'function' ? limitOption : undefined;
  if (limitFn === undefined && !isLimit(limitOption)) {
    throw new TypeError(`${NAME}: options.limit must be a positive integer of at most ${MAX_HEADER_INTEGER}, or a function of the request returning one`);
  }
  const fixedLimit = limitFn === undefined ? (limitOption as number) : undefined;
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
  const burstOption = options.burst;
  if (burstOption !== undefined && !isLimit(burstOption)) {
    throw new TypeError(`${NAME}: options.burst must be a positive integer of at most ${MAX_HEADER_INTEGER}`);
  }
  // The empty bucket's refill time in microseconds bounds every value of the exact arithmetic.
  if (fixedLimit !== undefined && !withinBound(burstOption ?? fixedLimit, windowMs, fixedLimit)) {
    throw new TypeError(`${NAME}: options.burst is too large for its rate: burst * windowMs / limit must be at most ${Math.floor(MAX_MODULUS / 1000)} ms (about 35 years)`);
  }
  if (options.message !== undefined && typeof options.message !== 'string') throw new TypeError(`${NAME}: options.message must be a string`);
  if (fixedLimit === undefined && options.name === undefined) {
    throw new TypeError(`${NAME}: options.name is required when options.limit is a function (the default name is made from a numeric limit)`);
  }
  const policyName = options.name ?? `${fixedLimit}-in-${windowMs / 1000}s${algorithm === 'sliding-window' ? '-sw' : ''}`;
  if (typeof policyName !== 'string' || policyName.length === 0 || policyName.length > 100 || !isSfStringSafe(policyName)) {
    throw new TypeError(`${NAME}: options.name must be 1 to 100 printable ASCII characters`);
  }
  let mode = validateMode(NAME, options.mode);
  const shadowHeaders = validateFlag(NAME, 'shadowHeaders', options.shadowHeaders);
  const logger = validateLogger(NAME, options.logger);
  const namespace = `rl:${policyName}:`;
  const metered = compileMetered<Req>(NAME, options, namespace);
  // Validates `headers` whatever the limit; with a function limit, one writer per limit seen (bounded).
  const fixedWriter = headerWriter(options.headers, NAME, { name: policyName, limit: fixedLimit ?? 1, windowMs });
  const writers = new Map<number, HeaderWriter>();
  const writerOf = (limit: number): HeaderWriter => {
    if (limit === fixedLimit) return fixedWriter;
    let writer = writers.get(limit);
    if (writer === undefined) {
      if (writers.size >= MAX_WRITERS) writers.delete(writers.keys().next().value as number);
      writer = headerWriter(options.headers, NAME, { name: policyName, limit, windowMs });
      writers.set(limit, writer);
    }
    return writer;
  };
  const capacityOf = (limit: number) => (algorithm === 'gcra' ? (burstOption ?? limit) : limit);
  const { mode: outageMode, hook } = validateOutage(NAME, options.onStoreError, options.onStoreSwitch);
  const rule = rateRefundRule(options);
  const refundHook = validateRefundHook(NAME, options.onRefundError);
  const store = metered.store;
  const health = new StoreHealth({ guard: NAME, policy: policyName, mode: outageMode, hook, refundHook, logger });
  const message = options.message;
  const refunds = (from: ThrottleStore) => (from.refundRate ? (receipt: RateReceipt) => from.refundRate!(receipt) : undefined);
  if (rule !== undefined && typeof store.refundRate !== 'function') {
    process.emitWarning(`bulwark: ${NAME} "${policyName}": the store has no refundRate(); units are never given back`, { code: 'BULWARK_NO_REFUND' });
  }
  const storeRefund = rule !== undefined ? refunds(store) : undefined;
  let fallbackRefund: ReturnType<typeof refunds>;

  /** Publishes one decision; called only when the channel has subscribers. */
  const publish = (decision: RateLimitEvent['decision'], request: RateRequest, remaining: number, retryAfterMs: number, source: Source): void => {
    const event: RateLimitEvent = {
      guard: NAME,
      decision,
      policy: policyName,
      key: hashKey(request.key),
      cost: request.cost,
      limit: request.limit,
      remaining,
      source,
      mode,
      wouldDeny: mode === 'shadow' && (decision === 'throttle' || decision === 'too-costly'),
    };
    if (decision === 'throttle') event.retryAfterMs = retryAfterMs;
    channels.rateLimit.publish(event);
  };
  const refundReport: RefundReport<Asked<Req>> = {
    channel: channels.rateLimit,
    refunded: (asked) => publish('refund', asked.rate, asked.remaining, 0, asked.source),
  };

  const throttled = (result: RateResult, headers: HeaderPairs): Decision => {
    const retryAfter = String(retryAfterSeconds(result.retryAfterMs));
    return errorDecision(new ApiError('throttled', { headers: { 'retry-after': retryAfter }, ...(message ? { message } : {}) }), headers);
  };

  const tooCostly = (request: RateRequest, headers: HeaderPairs): Decision =>
    errorDecision(
      new ApiError('invalid_request', {
        message: `This request costs ${request.cost} rate-limit units, more than the ${request.burst} this limit ever admits at once.`,
      }),
      headers,
    );

  /** The decision on a store's (or the fallback's) answer; `asked` is there when a refund may follow. */
  const finish = (request: RateRequest, result: RateResult, source: 'store' | 'fallback', asked: Asked<Req> | undefined): Decision => {
    const headers: HeaderPairs = [];
    if (mode === 'enforce' || shadowHeaders) writerOf(request.limit)(result, headers);
    if (result.allowed) {
      if (channels.rateLimit.hasSubscribers) publish('allow', request, result.remaining, 0, source);
      if (asked !== undefined && result.receipt !== undefined) {
        const refund = source === 'store' ? storeRefund : (fallbackRefund ??= refunds(health.fallback));
        if (refund !== undefined) {
          asked.remaining = result.remaining;
          asked.source = source;
          const onOutcome = outcomeRefund(rule!, asked.view.request, health, refund, result.receipt, refundReport, asked, mode === 'shadow');
          return headers.length === 0 ? { type: 'next', onOutcome } : { type: 'next', headers, onOutcome };
        }
      }
      return headers.length === 0 ? NEXT : { type: 'next', headers };
    }
    const costly = result.retryAfterMs < 0;
    if (channels.rateLimit.hasSubscribers) publish(costly ? 'too-costly' : 'throttle', request, result.remaining, result.retryAfterMs, source);
    if (mode === 'shadow') return shadowPass(costly ? 422 : 429, headers);
    return costly ? tooCostly(request, headers) : throttled(result, headers);
  };

  /** The decision while the store is unavailable, by the outage mode. */
  const outage = (request: RateRequest, asked: Asked<Req> | undefined): Decision => {
    if (health.mode === 'fallback') return finish(request, health.fallback.consume(request), 'fallback', asked);
    if (health.mode === 'open') {
      if (channels.rateLimit.hasSubscribers) publish('allow', request, request.limit, 0, 'open');
      return NEXT;
    }
    if (channels.rateLimit.hasSubscribers) publish('throttle', request, 0, 1000, 'closed');
    return mode === 'shadow' ? shadowPass(503) : errorDecision(unavailableError());
  };

  // Without refunds, a decision is the store's answer alone: no wrapper object, no outcome callback.
  const plainConsume = (request: RateRequest) => store.consume(request);
  const plainDecided = (request: RateRequest, result: RateResult) => finish(request, result, 'store', undefined);
  const plainOutage = (request: RateRequest) => outage(request, undefined);
  const consume = (asked: Asked<Req>) => store.consume(asked.rate);
  const decided = (asked: Asked<Req>, result: RateResult) => finish(asked.rate, result, 'store', asked);
  const askedOutage = (asked: Asked<Req>) => outage(asked.rate, asked);

  /** One request under `limit` (already checked), its bucket holding `capacity`. */
  const decide = (key: string, units: number, view: RequestView<Req>, limit: number, capacity: number): MaybePromise<Decision> => {
    const request: RateRequest = { key, algorithm, limit, windowMs, burst: capacity, cost: units };
    if (units > capacity) {
      // No bucket of this limit can ever hold the cost: refused without asking the store.
      if (channels.rateLimit.hasSubscribers) publish('too-costly', request, 0, 0, 'store');
      return mode === 'shadow' ? shadowPass(422) : tooCostly(request, []);
    }
    if (rule === undefined) return askStore(health, request, plainConsume, plainDecided, plainOutage);
    return askStore(health, { rate: request, view, remaining: 0, source: 'store' }, consume, decided, askedOutage);
  };

  let guard: Guard<Req>;
  if (limitFn === undefined) {
    const limit = fixedLimit!;
    const capacity = capacityOf(limit);
    guard = metered.guard((key, units, view) => decide(key, units, view, limit, capacity));
  } else {
    const withLimit = (key: string, units: number, view: RequestView<Req>, value: unknown): MaybePromise<Decision> => {
      if (!isLimit(value)) {
        return errorDecision(new TypeError(`${NAME}: options.limit returned ${described(value)}, not a positive integer of at most ${MAX_HEADER_INTEGER}`));
      }
      const capacity = capacityOf(value);
      if (!withinBound(capacity, windowMs, value)) {
        return errorDecision(
          new TypeError(`${NAME}: options.limit returned ${value}, too low for burst ${capacity}: burst * windowMs / limit must be at most ${Math.floor(MAX_MODULUS / 1000)} ms`),
        );
      }
      return decide(key, units, view, value, capacity);
    };
    const limitFailed = (err: unknown): Decision =>
      errorDecision(isApiError(err) ? err : new TypeError(`${NAME}: options.limit threw or rejected`, { cause: err }));
    guard = metered.guard((key, units, view) => {
      let value: MaybePromise<number>;
      try {
        value = limitFn(view.request);
      } catch (err) {
        return limitFailed(err);
      }
      if (value instanceof Promise) return value.then((v) => withLimit(key, units, view, v), limitFailed);
      return withLimit(key, units, view, value);
    });
  }

  const peek = async (key: string, peekOptions?: RatePeekOptions): Promise<RatePeek> => {
    let limit = fixedLimit;
    if (peekOptions !== undefined) {
      if (typeof peekOptions !== 'object' || peekOptions === null) throw new TypeError(`${NAME}: peek(key, options) takes options as an object`);
      refuseUnknownOptions(`${NAME}.peek`, peekOptions, PEEK_OPTION_NAMES);
      if (peekOptions.limit !== undefined) {
        if (!isLimit(peekOptions.limit)) throw new TypeError(`${NAME}: peek(key, { limit }): limit must be a positive integer of at most ${MAX_HEADER_INTEGER}`);
        limit = peekOptions.limit;
      }
    }
    if (limit === undefined) throw new TypeError(`${NAME}: peek(key, { limit }) needs the limit: options.limit is a function, which peek cannot call without a request`);
    const capacity = capacityOf(limit);
    if (!withinBound(capacity, windowMs, limit)) throw new TypeError(`${NAME}: peek(key, { limit }): limit ${limit} is too low for burst ${capacity}`);
    const result = await store.consume({ key: metered.storeKeyOf(key), algorithm, limit, windowMs, burst: capacity, cost: 0 });
    return { limit, remaining: result.remaining, resetMs: result.resetMs };
  };
  const setMode = (next: GuardMode): void => {
    mode = checkSetMode(NAME, next);
  };
  const limiter = Object.assign(inShadowChain(guard, () => mode), { peek, setMode });
  Object.defineProperty(limiter, 'mode', { get: () => mode, enumerable: true, configurable: true });
  return limiter as RateLimiterGuard<Req>;
}

/**
 * One decision asked of the store when a refund may follow: the request it is for, and (once admitted)
 * what the admission left and who decided it, for the refund's event.
 */
interface Asked<Req> {
  rate: RateRequest;
  view: RequestView<Req>;
  remaining: number;
  source: Source;
}
