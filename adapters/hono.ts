/**
 * bulwark for Hono 4: `errorHandler()` for `app.onError`, `notFound()` for `app.notFound`, and
 * `ipAllowlist`, `rateLimit`, `spendCap` and `idempotency` middleware for `app.use()`. Translation only:
 * every decision is made in the framework-neutral core. User callbacks (`key`, `cost`, `scope`, `allow`,
 * `skip`) receive Hono's Context `c`.
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono';
import { createIpAllowlist, type IpAllowlist, type IpAllowlistOptions } from '../src/allowlist/ip-allowlist.js';
import { type ControlsOf, withControls } from '../src/guard/controls.js';
import { createIdempotency, type IdempotencyOptions } from '../src/idempotency/idempotency.js';
import { createRateLimiter, type RateLimitOptions } from '../src/throttle/rate-limiter.js';
import { createSpendCap, type SpendCapOptions } from '../src/throttle/spend-cap.js';
import { fromGuard } from './hono/middleware.js';
import { type HonoPeerOptions, requirePeer, splitPeer, warnSharedKey } from './hono/peer.js';
export { errorHandler, type HonoErrorHandler, notFound } from './hono/errors.js';
export type { HonoPeerOptions } from './hono/peer.js';
export type { ErrorEvent, ErrorHandlerOptions } from '../src/errors/error-responder.js';

/**
 * Hono middleware that answers `403` `ip_not_allowed` unless the client address is on the list. The client
 * is the peer that `getConnInfo` gives (required: a Web `Request` carries no address) unless `trustProxy`
 * says which proxies' `X-Forwarded-For` (or `Forwarded`) to believe. The middleware has `replace(list)` to
 * swap a static list atomically at run time. An allowlist built with `createIpAllowlist` is taken too, with
 * `getConnInfo` as the second argument.
 *
 * @throws TypeError when `getConnInfo` is missing, or an option is invalid (naming it)
 * @example
 * ```ts
 * import { getConnInfo } from '@hono/node-server/conninfo';
 * const allowlist = ipAllowlist({ allow: ['203.0.113.0/24', '2001:db8::/48'], trustProxy: ['10.0.0.0/8'], getConnInfo });
 * app.use(allowlist);
 * allowlist.replace(['203.0.113.0/24']); // later: a bad entry throws, the old list stays
 * ```
 */
export function ipAllowlist(
  options: (IpAllowlistOptions<Context> & HonoPeerOptions) | IpAllowlist<Context>,
  peer?: HonoPeerOptions,
): MiddlewareHandler & ControlsOf<IpAllowlist<Context>> {
  const split = splitPeer('ipAllowlist', options);
  const peerOf = split.peerOf ?? splitPeer('ipAllowlist', peer ?? {}).peerOf;
  requirePeer('ipAllowlist', peerOf);
  return withControls(createIpAllowlist(split.options), (guard) => fromGuard(guard, peerOf));
}
export type { AllowList, IpAllowlist, IpAllowlistOptions, IpDenyEvent, IpDenyReason } from '../src/allowlist/ip-allowlist.js';

/**
 * Hono middleware that throttles requests: 429 `throttled` with `Retry-After` (whole seconds, a retry after
 * exactly that delay is admitted) and IETF `RateLimit-Policy`/`RateLimit` headers on every response. GCRA by
 * default; keys by client address (from `getConnInfo`) unless `key` is given. Without either, every client
 * shares one key: a warning says so once. See {@link RateLimitOptions}.
 *
 * @example
 * ```ts
 * import { getConnInfo } from '@hono/node-server/conninfo';
 * app.use(rateLimit({ limit: 100, windowMs: 60_000, store: new RedisStore(redis), getConnInfo }));
 * ```
 */
export function rateLimit(options: RateLimitOptions<Context> & HonoPeerOptions) {
  const split = splitPeer('rateLimit', options);
  const guard = createRateLimiter(split.options);
  warnSharedKey('rateLimit', split.options, split.peerOf);
  return withControls(guard, (g) => fromGuard(g, split.peerOf));
}
export type { RateLimitOptions } from '../src/throttle/rate-limiter.js';

/**
 * Hono middleware for idempotency keys (`Idempotency-Key` on POST and PATCH by default): the first request
 * runs, a duplicate while it runs gets `409` `idempotency_conflict` with `Retry-After`, a duplicate after it
 * completed gets the stored status, headers and body with `Idempotent-Replayed: true`, and the same key on
 * another request gets `422` `idempotency_key_mismatch`. The body is read from a clone of `c.req.raw` (or
 * from Hono's body cache, when a validator read it first), so `c.req.json()` still works in the handler;
 * the response is stored before it is sent. `scope` receives `c`. See {@link IdempotencyOptions}.
 *
 * @example
 * ```ts
 * app.use(idempotency({ store: new RedisStore(redis), scope: (c) => c.req.header('authorization') }));
 * ```
 */
export function idempotency(options?: IdempotencyOptions<Context> & HonoPeerOptions): MiddlewareHandler {
  const split = splitPeer('idempotency', options);
  return fromGuard(createIdempotency(split.options), split.peerOf);
}
export type { IdempotencyOptions } from '../src/idempotency/idempotency.js';

/**
 * Hono middleware that caps spend per calendar day and/or month (in a time zone): a request that would take
 * a total past its cap gets 403 `spend_limit_exceeded` with `period` in the body and spends nothing; a
 * response that did no work is refunded. The default key is the client address (from `getConnInfo`).
 * See {@link SpendCapOptions}.
 *
 * @example
 * ```ts
 * app.use(spendCap({ daily: 10_000, monthly: 200_000, timeZone: 'Europe/Paris', key: (c) => c.get('accountId'), store }));
 * ```
 */
export function spendCap(options: SpendCapOptions<Context> & HonoPeerOptions) {
  const split = splitPeer('spendCap', options);
  const guard = createSpendCap(split.options);
  warnSharedKey('spendCap', split.options, split.peerOf);
  return withControls(guard, (g) => fromGuard(g, split.peerOf));
}
export type { SpendCapOptions, SpendPeriod } from '../src/throttle/spend-cap.js';
