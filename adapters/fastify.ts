/**
 * bulwark for Fastify 4 and 5: the plugins `errorHandler`, `ipAllowlist`, `rateLimit`, `spendCap` and
 * `idempotency`, each registered with the option object it takes on every adapter
 * (`await app.register(rateLimit, { limit: 100, windowMs: 60_000 })`). Translation only: every decision
 * is made in the framework-neutral core.
 *
 * - The plugins skip encapsulation: registered at the top they guard the whole app, registered inside an
 *   encapsulated context (`app.register(async (api) => { ... })`) they guard that context only.
 * - `ipAllowlist` and `rateLimit` decide in an `onRequest` hook (before the body is read); `spendCap` and
 *   `idempotency` in a `preHandler` hook, once Fastify parsed the body (a `cost` may read `request.body`;
 *   the idempotency fingerprint uses the parsed body). Guards of one hook run in the order registered.
 * - Client address: bulwark's own `trustProxy` option decides, from the socket's peer address; Fastify's
 *   `trustProxy` (and so `request.ip`) is not consulted. Give bulwark the same proxies to key by the
 *   address `request.ip` shows.
 * - A route can skip guards or have its own options: see {@link BulwarkRouteConfig}.
 * @module
 */
import type { FastifyRequest } from 'fastify';
import { createIdempotency, type IdempotencyOptions } from '../src/idempotency/idempotency.js';
import { createSpendCap, type SpendCapOptions } from '../src/throttle/spend-cap.js';
import { createRateLimiter, type RateLimitOptions } from '../src/throttle/rate-limiter.js';
import { createIpAllowlist, type IpAllowlist, type IpAllowlistOptions } from '../src/allowlist/ip-allowlist.js';
import { guardPlugin } from './fastify/guard-plugin.js';
export { errorHandler, frameworkErrors } from './fastify/errors.js';
export type { BulwarkRouteConfig } from './fastify/guard-plugin.js';
export type { ErrorEvent, ErrorHandlerOptions } from '../src/errors/error-responder.js';

/**
 * Fastify plugin that answers `403` `ip_not_allowed` unless the client address is on the list. The client
 * is the socket peer unless bulwark's `trustProxy` says which proxies' `X-Forwarded-For` (or `Forwarded`)
 * to believe; Fastify's own `trustProxy` (`request.ip`) is not consulted. `allow` functions and `onDeny`
 * receive the `FastifyRequest`. To swap a static list at run time, register an allowlist built with
 * `createIpAllowlist` and call its `replace`. Runs in an `onRequest` hook.
 *
 * @example
 * ```ts
 * const allowlist = createIpAllowlist<FastifyRequest>({ allow: ['203.0.113.0/24'], trustProxy: ['10.0.0.0/8'] });
 * await app.register(ipAllowlist, allowlist);
 * allowlist.replace(['203.0.113.0/24', '198.51.100.0/24']); // later: a bad entry throws, the old list stays
 * ```
 */
export const ipAllowlist = guardPlugin<IpAllowlistOptions<FastifyRequest> | IpAllowlist<FastifyRequest>>('ipAllowlist', 'onRequest', (options) =>
  createIpAllowlist(options),
);
export type { AllowList, IpAllowlist, IpAllowlistOptions, IpDenyEvent, IpDenyReason } from '../src/allowlist/ip-allowlist.js';

/**
 * Fastify plugin that throttles requests: 429 `throttled` with `Retry-After` (whole seconds, a retry after
 * exactly that delay is admitted) and IETF `RateLimit-Policy`/`RateLimit` headers on every response. GCRA by
 * default; keys by client address (see {@link ipAllowlist} for which) unless `key` is given; `key`, `cost`
 * and `skip` receive the `FastifyRequest`. Runs in an `onRequest` hook, before the body is parsed. See
 * {@link RateLimitOptions}.
 *
 * @example
 * ```ts
 * await app.register(rateLimit, { limit: 100, windowMs: 60_000, store: new RedisStore(redis) });
 * ```
 */
export const rateLimit = guardPlugin<RateLimitOptions<FastifyRequest>>('rateLimit', 'onRequest', (options) => createRateLimiter(options));
export type { RateLimitOptions } from '../src/throttle/rate-limiter.js';

/**
 * Fastify plugin for idempotency keys (`Idempotency-Key` on POST and PATCH by default): the first request
 * runs, a duplicate while it runs gets `409` `idempotency_conflict` with `Retry-After`, a duplicate after it
 * completed gets the stored status, headers and body with `Idempotent-Replayed: true`, and the same key on
 * another request gets `422` `idempotency_key_mismatch`. Runs in a `preHandler` hook (the fingerprint uses
 * the body Fastify parsed). The response is stored before it is sent, whatever wrote it: `reply.send` of a
 * string, Buffer, object or stream, `reply.redirect`, or a hijacked reply writing to `reply.raw`; a thrown
 * error, a reply that closes before it ends, or a client that leaves first releases the key.
 * See {@link IdempotencyOptions}.
 *
 * @example
 * ```ts
 * await app.register(idempotency, { store: new RedisStore(redis), scope: (request) => request.headers.authorization });
 * ```
 */
export const idempotency = guardPlugin<IdempotencyOptions<FastifyRequest>>('idempotency', 'preHandler', (options) => createIdempotency(options));
export type { IdempotencyOptions } from '../src/idempotency/idempotency.js';

/**
 * Fastify plugin that caps spend per calendar day and/or month (in a time zone): a request that would take
 * a total past its cap gets 403 `spend_limit_exceeded` with `period` in the body and spends nothing. Runs
 * in a `preHandler` hook, so `cost` may read `request.body`. See {@link SpendCapOptions}.
 *
 * @example
 * ```ts
 * await app.register(spendCap, { daily: 10_000, timeZone: 'Europe/Paris', key: accountOf, cost: (request) => 1, store });
 * ```
 */
export const spendCap = guardPlugin<SpendCapOptions<FastifyRequest>>('spendCap', 'preHandler', (options) => createSpendCap(options));
export type { SpendCapOptions, SpendPeriod } from '../src/throttle/spend-cap.js';
