/**
 * bulwark for Koa 2 and 3: `errorHandler`, `ipAllowlist`, `rateLimit`, `spendCap` and `idempotency`.
 * Translation only: every decision is made in the framework-neutral core.
 * @module
 */
import { fromGuard } from './koa/middleware.js';
import type { Context } from 'koa';
import { createIdempotency, type IdempotencyOptions } from '../src/idempotency/idempotency.js';
import { createSpendCap, type SpendCapOptions } from '../src/throttle/spend-cap.js';
import { createRateLimiter, type RateLimitOptions } from '../src/throttle/rate-limiter.js';
import { createIpAllowlist, type IpAllowlist, type IpAllowlistOptions } from '../src/allowlist/ip-allowlist.js';
import { withControls } from '../src/guard/controls.js';
export { errorHandler } from './koa/errors.js';
export type { ErrorEvent, ErrorHandlerOptions } from '../src/errors/error-responder.js';

/**
 * Koa middleware that answers `403` `ip_not_allowed` unless the client address is on the list. The client
 * is the socket peer unless `trustProxy` says which proxies' `X-Forwarded-For` (or `Forwarded`) to believe.
 * `allow` functions receive `ctx`. The middleware has `replace(list)` to swap a static list atomically.
 *
 * @example
 * ```ts
 * const allowlist = ipAllowlist({ allow: ['203.0.113.0/24', '2001:db8::/48'], trustProxy: ['10.0.0.0/8'] });
 * app.use(allowlist);
 * allowlist.replace(['203.0.113.0/24']); // later: a bad entry throws, the old list stays
 * ```
 */
export const ipAllowlist = (options: IpAllowlistOptions<Context> | IpAllowlist<Context>) => withControls(createIpAllowlist(options), fromGuard);
export type { AllowList, IpAllowlist, IpAllowlistOptions, IpDenyEvent, IpDenyReason } from '../src/allowlist/ip-allowlist.js';

/**
 * Koa middleware that throttles requests: 429 `throttled` with `Retry-After` (whole seconds, a retry after
 * exactly that delay is admitted) and IETF `RateLimit-Policy`/`RateLimit` headers on every response. GCRA by
 * default; keys by client address unless `key` is given. See {@link RateLimitOptions}.
 *
 * @example
 * ```ts
 * const limiter = rateLimit({ limit: 100, windowMs: 60_000, store: new RedisStore(redis) });
 * app.use(limiter);
 * const { remaining, resetMs } = await limiter.peek('203.0.113.7'); // reads, consumes nothing
 * ```
 */
export const rateLimit = (options: RateLimitOptions<Context>) => withControls(createRateLimiter(options), fromGuard);
export type { RateLimitOptions, RatePeek } from '../src/throttle/rate-limiter.js';
export type { RefundOutcome } from '../src/throttle/refund.js';
export type { RefundErrorEvent } from '../src/throttle/outage.js';

/**
 * Koa middleware for idempotency keys (`Idempotency-Key` on POST and PATCH by default): the first
 * request runs, a duplicate while it runs gets `409` `idempotency_conflict` with `Retry-After`, a
 * duplicate after it completed gets the stored status, headers and body with `Idempotent-Replayed: true`,
 * and the same key on another request gets `422` `idempotency_key_mismatch`. The response (string, Buffer,
 * object or stream body) is stored before it is sent. `scope` receives `ctx`. See {@link IdempotencyOptions}.
 *
 * @example
 * ```ts
 * app.use(bodyParser());
 * app.use(idempotency({ store: new RedisStore(redis), scope: (ctx) => ctx.state.accountId }));
 * ```
 */
export const idempotency = (options?: IdempotencyOptions<Context>) => fromGuard(createIdempotency(options));
export type { IdempotencyOptions } from '../src/idempotency/idempotency.js';

/**
 * Koa middleware that caps spend per calendar day and/or month (in a time zone): a request that would take
 * a total past its cap gets 403 `spend_limit_exceeded` with `period` in the body and spends nothing.
 * See {@link SpendCapOptions}.
 *
 * @example
 * ```ts
 * const cap = spendCap({ daily: 10_000, monthly: 200_000, timeZone: 'Europe/Paris', key: accountOf, store });
 * app.use(cap);
 * const { daily, monthly } = await cap.peek('acct_42'); // { limit, used, remaining, resetMs } each
 * ```
 */
export const spendCap = (options: SpendCapOptions<Context>) => withControls(createSpendCap(options), fromGuard);
export type { SpendCapOptions, SpendPeek, SpendPeekPeriod, SpendPeriod } from '../src/throttle/spend-cap.js';
