import type { TrustProxy } from '../allowlist/client-ip.js';
import { ApiError } from '../errors/api-error.js';
import { errorDecision, NEXT } from '../guard/respond.js';
import type { Decision, Guard, HeaderPairs } from '../guard/types.js';
import { compileMetered } from './metered-guard.js';
import { askStore, type MaybePromise } from './decide.js';
import { MAX_MODULUS } from './exact.js';
import { type HeadersMode, headerWriter, isSfStringSafe, MAX_HEADER_INTEGER } from './headers.js';
import { type OutageMode, StoreHealth, type StoreSwitchEvent, validateOutage } from './outage.js';
import { retryAfterSeconds } from './retry-after.js';
import type { Algorithm, HasThrottleStore, RateRequest, RateResult } from './store.js';

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
}

const NAME = 'rateLimit';

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
export function createRateLimiter<Req = unknown>(options: RateLimitOptions<Req>): Guard<Req> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${NAME}: options must be an object`);
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
  const store = metered.store;
  const health = new StoreHealth(`${NAME} "${policyName}"`, mode, hook);
  const message = options.message;

  const decided = (request: RateRequest, result: RateResult): Decision => {
    const headers: HeaderPairs = [];
    writeHeaders(result, headers);
    if (result.allowed) return headers.length === 0 ? NEXT : { type: 'next', headers };
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

  const consume = (request: RateRequest) => store.consume(request);
  const fallback = (request: RateRequest) => decided(request, health.fallback.consume(request));
  return metered.guard((key, units) => {
    const request: RateRequest = { key, algorithm, limit, windowMs, burst: capacity, cost: units };
    if (units > capacity) return tooCostly(units, []);
    return askStore(health, request, consume, decided, fallback);
  });
}
