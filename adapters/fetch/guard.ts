import { appendPairs, decisionResponse } from '../../src/guard/web-response.js';
import { refuseUnknownOptions } from '../../src/options/unknown-options.js';
import { createIpAllowlist, type IpAllowlist, type IpAllowlistOptions } from '../../src/allowlist/ip-allowlist.js';
import { createRateLimiter, type RateLimiterGuard, type RateLimitOptions } from '../../src/throttle/rate-limiter.js';
import { createSpendCap, type SpendCapGuard, type SpendCapOptions } from '../../src/throttle/spend-cap.js';
import { type ControlsOf, withControls } from '../../src/guard/controls.js';
import { ApiError } from '../../src/errors/api-error.js';
import { createErrorResponder, type ErrorHandlerOptions } from '../../src/errors/error-responder.js';
import { formatError } from '../../src/errors/format.js';
import { createIdempotency, type IdempotencyOptions } from '../../src/idempotency/idempotency.js';
import type { Decision, Guard, HeaderPairs, Outcome, ResponseSink } from '../../src/guard/types.js';
import { captureResponse } from './capture.js';
import { fetchView } from './view.js';

/** A Web `fetch` handler: `(request, ...rest) => Response`. */
export type FetchHandler<Rest extends unknown[] = unknown[]> = (
  request: Request,
  ...rest: Rest
) => Response | Promise<Response>;

/** Options of {@link guard}. Each key takes the same option object as the Express and Koa middleware. */
export interface GuardOptions<Rest extends unknown[] = unknown[]> {
  /**
   * Error handling (always on): the documented JSON body for every thrown error or rejected promise.
   * @default {}
   */
  errors?: ErrorHandlerOptions;
  /**
   * IP allowlist (applied first): `403` `ip_not_allowed` unless the client address is on the list. Takes the
   * options of Express/Koa `ipAllowlist` (`allow` functions receive the `Request`), or an allowlist built with
   * `createIpAllowlist` (keep it to call `replace(list)` at run time). The peer address comes from `clientIp`.
   * @default undefined (no allowlist)
   * @example
   * ```ts
   * ipAllowlist: { allow: ['203.0.113.0/24'], trustProxy: ['10.0.0.0/8'] }
   * ```
   */
  ipAllowlist?: IpAllowlistOptions<Request> | IpAllowlist<Request>;
  /**
   * Rate limit (after the allowlist): 429 `throttled` with `Retry-After` and `RateLimit` headers. Takes the
   * options of Express/Koa `rateLimit` (`key`, `cost` and `skip` receive the `Request`); the default key is
   * the address from `clientIp`. A list stacks several limiters (for example per second and per day); each
   * appends its own `RateLimit` list member, and the first to refuse answers.
   * @default undefined (no rate limit)
   * @example
   * ```ts
   * rateLimit: { limit: 100, windowMs: 60_000 }
   * rateLimit: [{ limit: 10, windowMs: 1_000, name: 'burst' }, { limit: 10_000, windowMs: 86_400_000, name: 'daily' }]
   * ```
   */
  rateLimit?: RateLimitOptions<Request> | ReadonlyArray<RateLimitOptions<Request>>;
  /**
   * Spend cap (after the rate limit): 403 `spend_limit_exceeded` with `period` in the body. Takes the options
   * of Express/Koa `spendCap` (`key`, `cost` and `skip` receive the `Request`).
   * @default undefined (no spend cap)
   * @example
   * ```ts
   * spendCap: { daily: 10_000, timeZone: 'Europe/Paris', key: (request) => request.headers.get('x-account') ?? '' }
   * ```
   */
  spendCap?: SpendCapOptions<Request>;
  /**
   * Idempotency keys (applied last, just before the handler): a duplicate while the first runs gets 409
   * `idempotency_conflict`, after it completed the stored response with `Idempotent-Replayed: true`. Takes
   * the options of Express/Koa `idempotency` (`scope` receives the `Request`).
   * @default undefined (no idempotency keys)
   * @example
   * ```ts
   * idempotency: { store: new RedisStore(redis), scope: (request) => request.headers.get('authorization') ?? undefined }
   * ```
   */
  idempotency?: IdempotencyOptions<Request>;
  /**
   * The peer address of a request, which a Web `Request` does not carry. Without it, address-based
   * features see no address (an allowlist then denies).
   * @default undefined
   * @example
   * ```ts
   * // @hono/node-server: serve({ fetch: guarded })
   * clientIp: (_request, env) => env.incoming.socket.remoteAddress
   * // Bun: Bun.serve({ fetch: (req, server) => guarded(req, server) })
   * clientIp: (request, server) => server.requestIP(request)?.address
   * ```
   */
  clientIp?: (request: Request, ...rest: Rest) => string | undefined | null | Promise<string | undefined | null>;
}

/**
 * The run-time controls of one built guard: those it has of `peek(key)`, `replace(list)` and
 * `setMode(mode)`, and its read-only `mode`, called on the guard itself (they are its own closures).
 */
export type GuardControlsOf<G> = ControlsOf<G>;

/**
 * The run-time controls of the guards that {@link guard} built, one entry per configured guard, in the
 * order they apply. A guard that is not configured has no entry (`rateLimit` is then empty); idempotency
 * and error handling have no run-time controls.
 * @example
 * ```ts
 * const guarded = guard(handler, { ipAllowlist: { allow: await loadIps() }, rateLimit: [perSecond, perDay], clientIp });
 * const { remaining } = await guarded.controls.rateLimit[1].peek('203.0.113.7'); // the daily limiter, nothing spent
 * guarded.controls.ipAllowlist?.replace(await loadIps()); // compiled first; a bad entry throws, the old list stays
 * guarded.controls.ipAllowlist?.setMode('shadow'); // report, but let everyone through
 * ```
 */
export interface GuardedControls {
  /** The allowlist's `replace(list)`, `setMode(mode)` and `mode`; absent without `ipAllowlist`. */
  readonly ipAllowlist?: GuardControlsOf<IpAllowlist<Request>>;
  /**
   * One entry per rate limiter, in the order of the `rateLimit` option (one object counts as a list of
   * one): `peek(key)` and, where the limiter has them, `setMode(mode)` and `mode`. Empty without `rateLimit`.
   */
  readonly rateLimit: ReadonlyArray<GuardControlsOf<RateLimiterGuard<Request>>>;
  /** The spend cap's `peek(key)` and, where it has them, `setMode(mode)` and `mode`; absent without `spendCap`. */
  readonly spendCap?: GuardControlsOf<SpendCapGuard<Request>>;
}

/** What {@link guard} returns: the guarded handler, with the run-time controls of its guards. */
export type GuardedHandler<Rest extends unknown[] = unknown[]> = ((request: Request, ...rest: Rest) => Promise<Response>) & {
  /** The run-time controls of the guards built from the options (see {@link GuardedControls}). */
  readonly controls: GuardedControls;
};

const GUARD_OPTION_NAMES: ReadonlySet<string> = new Set(['errors', 'ipAllowlist', 'rateLimit', 'spendCap', 'idempotency', 'clientIp']);

/**
 * Wraps a Web `fetch` handler (Hono, Next.js route handlers, Bun, Deno, Workers, @hono/node-server)
 * with bulwark: errors become the documented JSON body, and the allowlist, rate limit, spend cap and
 * idempotency keys apply in that order before the handler runs. The returned function carries the
 * guards' run-time controls as `controls` (see {@link GuardedControls}).
 *
 * @example
 * ```ts
 * import { guard, readJson } from 'bulwark/fetch';
 * import { ApiError } from 'bulwark';
 *
 * export default guard(async (request) => {
 *   const body = await readJson(request);
 *   if (!body) throw new ApiError('invalid_request', { message: 'A JSON body is required.' });
 *   return Response.json({ id: 'msg_1' }, { status: 202 });
 * });
 * ```
 * @example
 * ```ts
 * const guarded = guard(handler, { rateLimit: { limit: 100, windowMs: 60_000 }, clientIp });
 * const { remaining, resetMs } = await guarded.controls.rateLimit[0].peek('203.0.113.7');
 * ```
 */
export function guard<Rest extends unknown[] = unknown[]>(
  handler: FetchHandler<Rest>,
  options: GuardOptions<Rest> = {},
): GuardedHandler<Rest> {
  if (typeof handler !== 'function') throw new TypeError('guard: handler must be a function (request) => Response');
  if (typeof options !== 'object' || options === null) throw new TypeError('guard: options must be an object');
  refuseUnknownOptions('guard', options, GUARD_OPTION_NAMES);
  if (options.clientIp !== undefined && typeof options.clientIp !== 'function') {
    throw new TypeError('guard: options.clientIp must be a function (request, ...rest) => string | undefined');
  }
  const responder = createErrorResponder(options.errors ?? {}, 'guard: options.errors');
  // In this order: allowlist, rate limit, spend cap, idempotency (one line each).
  const allowlist = options.ipAllowlist ? createIpAllowlist<Request>(options.ipAllowlist) : undefined;
  const limiters = listOf(options.rateLimit).map((limit) => createRateLimiter<Request>(limit));
  const cap = options.spendCap ? createSpendCap<Request>(options.spendCap) : undefined;
  const keys = options.idempotency ? createIdempotency<Request>(options.idempotency) : undefined;
  const guards: Array<Guard<Request>> = [...(allowlist ? [allowlist] : []), ...limiters, ...(cap ? [cap] : []), ...(keys ? [keys] : [])];
  const clientIp = options.clientIp;
  if (clientIp === undefined) warnNoPeer(options);
  const controls: GuardedControls = Object.freeze({
    ...(allowlist ? { ipAllowlist: controlsOf(allowlist) } : {}),
    rateLimit: Object.freeze(limiters.map(controlsOf)),
    ...(cap ? { spendCap: controlsOf(cap) } : {}),
  });

  const guarded = async function guarded(request: Request, ...rest: Rest): Promise<Response> {
    const added: HeaderPairs = [];
    let sink: ResponseSink | undefined;
    // The guards that asked how the request ends (none: no list, nothing to call).
    let reports: Array<(outcome: Outcome) => void> | undefined;
    try {
      const peer = clientIp ? await peerOf(clientIp, request, rest) : undefined;
      const view = fetchView(request, peer);
      for (const g of guards) {
        const decision: Decision = await g.check(view);
        if (decision.type === 'respond') {
          // An error to report (a 5xx, dropped headers): answered and reported below, as a thrown error.
          if (decision.error !== undefined) throw decision.error;
          const answered = decisionResponse(request, added, decision);
          return reports ? reported(answered, reports, false) : answered;
        }
        if (decision.headers) added.push(...decision.headers);
        if (decision.sink) sink = decision.sink;
        if (decision.onOutcome) (reports ??= []).push(decision.onOutcome);
      }
      let response = await handler(request, ...rest);
      if (!(response instanceof Response)) {
        throw new TypeError('guard: the handler did not return a Response');
      }
      if (sink) {
        const captured = sink;
        sink = undefined;
        response = await captureResponse(response, captured);
      }
      const finished = finish(response, added);
      return reports ? reported(finished, reports, false) : finished;
    } catch (err) {
      const answered = await failed(err, request, added, sink);
      return reports ? reported(answered, reports, true) : answered;
    }
  };
  Object.defineProperty(guarded, 'controls', { value: controls, enumerable: true });
  return guarded as GuardedHandler<Rest>;

  /** The documented error response for `err`. Never rejects, whatever was thrown. */
  async function failed(err: unknown, request: Request, added: HeaderPairs, sink: ResponseSink | undefined): Promise<Response> {
    try {
      if (sink) await sink.abort(err);
    } catch {
      // a sink never throws; if one did, the error still gets its answer
    }
    let method = 'GET';
    let path = '/';
    try {
      method = request.method;
      path = new URL(request.url).pathname;
    } catch {
      // not a Request: the log line says so little
    }
    try {
      const formatted = responder.respond(err, method, path);
      const decision: Decision = {
        type: 'respond',
        status: formatted.status,
        headers: Object.entries(formatted.headers),
        body: formatted.body,
        appendHeaders: true,
      };
      return decisionResponse(request, added, decision);
    } catch {
      return new Response(LAST_RESORT, { status: 500, headers: { 'content-type': 'application/json; charset=utf-8' } });
    }
  }
}

/**
 * Tells the guards that asked how the request ended: the final response's status, whether it is a replay
 * (`Idempotent-Replayed: true`, a later guard's), whether it answers a thrown error. Each is called once;
 * one that throws changes nothing.
 */
function reported(response: Response, reports: Array<(outcome: Outcome) => void>, thrown: boolean): Response {
  const outcome: Outcome = {
    status: response.status,
    replayed: response.headers.get('idempotent-replayed') === 'true',
    thrown,
    ran: true,
    completed: true,
  };
  for (const report of reports) {
    try {
      report(outcome);
    } catch {
      // a guard's outcome callback never throws; if one did, the response is sent anyway
    }
  }
  return response;
}

let warnedDenyAll = false;
let warnedSharedKey = false;

const CLIENT_IP_HOW =
  'pass clientIp: (request, ...rest) => the peer address (@hono/node-server: (_request, env) => env.incoming.socket.remoteAddress; Bun: (request, server) => server.requestIP(request)?.address)';

/**
 * Without `clientIp` a Web `Request` has no peer address: an allowlist denies every request, and a rate
 * limit or spend cap on the default key (the client address) puts every client under one key. Each is told
 * to the process once, when such a guard is built.
 */
function warnNoPeer(options: GuardOptions<any>): void {
  if (options.ipAllowlist && !warnedDenyAll) {
    warnedDenyAll = true;
    process.emitWarning(
      `bulwark: guard: ipAllowlist without clientIp denies every request (403 ip_not_allowed): a Web Request carries no peer address; ${CLIENT_IP_HOW}`,
      { code: 'BULWARK_NO_PEER_ADDRESS' },
    );
  }
  if (warnedSharedKey) return;
  const shared = [
    ...(listOf(options.rateLimit).some((limit) => limit.key === undefined) ? ['rateLimit'] : []),
    ...(options.spendCap && options.spendCap.key === undefined ? ['spendCap'] : []),
  ];
  if (shared.length === 0) return;
  warnedSharedKey = true;
  process.emitWarning(
    `bulwark: guard: ${shared.join(' and ')} without clientIp and without key: every client shares one key ('unknown'), so one client's traffic counts against all; ${CLIENT_IP_HOW}, or give a key function`,
    { code: 'BULWARK_SHARED_KEY' },
  );
}

/** A guard's run-time controls, as the framework middleware carry them, on an object of their own. */
function controlsOf<G extends object>(built: G): GuardControlsOf<G> {
  return Object.freeze(withControls(built, () => ({}))) as unknown as GuardControlsOf<G>;
}

/** The answer when even formatting failed (it cannot): the documented 500 body. */
const LAST_RESORT = formatError(new ApiError('internal_error')).body;

function listOf<T>(value: T | ReadonlyArray<T> | undefined): ReadonlyArray<T> {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as ReadonlyArray<T>) : [value as T];
}

/** The peer address from `clientIp`; one that throws or gives no string counts as unknown (address checks then deny). */
async function peerOf<Rest extends unknown[]>(
  clientIp: NonNullable<GuardOptions<Rest>['clientIp']>,
  request: Request,
  rest: Rest,
): Promise<string | undefined> {
  try {
    const peer = await clientIp(request, ...rest);
    return typeof peer === 'string' && peer.length > 0 ? peer : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Adds the guards' headers to the application's response. The response is kept as it is (its body and
 * length untouched) unless its headers are immutable (`Response.redirect()`, a proxied `fetch()`), when a
 * copy is made. An error inside a streamed body happens after this returns: the runtime ends the
 * connection.
 */
function finish(response: Response, added: HeaderPairs): Response {
  if (added.length === 0) return response;
  try {
    for (const [name, value] of added) response.headers.append(name, value);
    return response;
  } catch {
    const headers = new Headers(response.headers);
    appendPairs(headers, added, false);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}
