/**
 * The demo messaging API on Hono 4, with bulwark's middleware from `bulwark/hono`: the same routes, guards
 * and error bodies as the Express, Koa and fetch versions.
 *
 * Without `app.onError(errorHandler())` and `app.notFound(notFound())`, Hono would answer an `ApiError`
 * thrown in a route as `500 text/plain` (and print its stack), and an unknown route as a text 404.
 * A Web `Request` carries no peer address: the allowlist reads it with Hono's `getConnInfo` for the runtime
 * (here @hono/node-server's).
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import { type Context, Hono } from 'hono';
import { readJson } from '../../adapters/fetch.js';
import { errorHandler, idempotency, ipAllowlist, notFound, rateLimit, spendCap } from '../../adapters/hono.js';
import type { DemoAppOptions } from './express-app.js';
import { demoGuards, memoryStore, type RequestReader } from './guards.js';
import { pathSegment } from './path.js';
import { type Caller, MessagingService } from './service.js';

const reader: RequestReader<Context> = {
  header: (c, name) => c.req.header(name),
  // A clone: the route still reads the body itself (readJson, with its limit and its 422 for bad JSON).
  body: (c) => c.req.raw.clone().json().catch(() => undefined),
  method: (c) => c.req.method,
  path: (c) => c.req.path,
};

/** The largest request body the demo reads, in bytes (a larger one is 413 payload_too_large). */
const BODY_LIMIT = 16_384;

/**
 * Builds the Hono demo app. Serve `app.fetch` with @hono/node-server (the allowlist's `getConnInfo` is
 * that server's).
 *
 * @example
 * ```ts
 * serve({ fetch: createHonoApp().fetch, port: 3004 });
 * ```
 */
export function createHonoApp(options: Omit<DemoAppOptions, 'faults'> = {}): Hono {
  const service = options.service ?? new MessagingService();
  const guards = demoGuards(options.store ?? memoryStore(), reader, options.allow);
  const app = new Hono();

  const errors = errorHandler({ onError: options.onError });
  app.use(errors); // first: also answers thrown values that are not Errors
  app.onError(errors); // an ApiError (or anything else) thrown in a route: the documented body
  app.notFound(notFound()); // an unknown route: 404 not_found in the same body
  app.use(ipAllowlist({ ...guards.ipAllowlist, getConnInfo }));
  app.use(rateLimit(guards.rateLimit));
  app.use(spendCap(guards.spendCap));
  app.use(idempotency(guards.idempotency));

  const caller = (c: Context): Caller => service.authenticate(c.req.header('authorization'));
  const reply = (c: Context, { status, body }: { status: number; body: unknown }) => c.json(body, status as 200);

  app.post('/v1/messages', async (c) => {
    const who = caller(c);
    return reply(c, await service.send(who, await readJson(c.req.raw, { limit: BODY_LIMIT })));
  });
  // Hono leaves a parameter it cannot decode as it came: pathSegment answers a malformed one with 400.
  app.get('/v1/messages/:id', (c) => reply(c, service.get(caller(c), pathSegment(rawParam(c)))));
  app.post('/v1/lookups', async (c) => {
    const who = caller(c);
    return reply(c, service.lookup(who, await readJson(c.req.raw, { limit: BODY_LIMIT })));
  });
  return app;
}

/** The undecoded last segment of the path (the `:id` of `/v1/messages/:id`). */
function rawParam(c: Context): string {
  const path = new URL(c.req.url).pathname;
  return path.slice(path.lastIndexOf('/') + 1);
}
