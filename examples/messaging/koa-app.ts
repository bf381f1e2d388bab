/**
 * The demo messaging API on Koa, with bulwark's error handling.
 */
import bodyParser from '@koa/bodyparser';
import Koa, { type Context } from 'koa';
import { errorHandler, idempotency, ipAllowlist, rateLimit, spendCap } from '../../adapters/koa.js';
import type { DemoAppOptions } from './express-app.js';
import { demoGuards, memoryStore, type RequestReader } from './guards.js';
import { pathSegment } from './path.js';
import { MessagingService, type Reply } from './service.js';

/**
 * Builds the Koa demo app.
 *
 * @example
 * ```ts
 * createKoaApp().listen(3000);
 * ```
 */
export function createKoaApp(options: DemoAppOptions = {}): Koa {
  const service = options.service ?? new MessagingService();
  const reader: RequestReader<Context> = {
    header: (ctx, name) => ctx.get(name) || undefined,
    body: (ctx) => (ctx.request as { body?: unknown }).body,
    method: (ctx) => ctx.method,
    path: (ctx) => ctx.path,
  };
  const guards = demoGuards(options.store ?? memoryStore(), reader, options.allow);
  const app = new Koa();
  app.use(errorHandler({ onError: options.onError }));
  app.use(ipAllowlist(guards.ipAllowlist));
  app.use(rateLimit(guards.rateLimit));
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' }));
  app.use(spendCap(guards.spendCap));
  app.use(idempotency(guards.idempotency));
  app.use(async (ctx, next) => {
    const caller = () => service.authenticate(ctx.get('authorization') || undefined);
    const body = (ctx.request as { body?: unknown }).body;
    const message = /^\/v1\/messages\/([^/]+)$/.exec(ctx.path);
    let reply: Reply | undefined;
    if (ctx.method === 'POST' && ctx.path === '/v1/messages') reply = await service.send(caller(), body);
    else if (ctx.method === 'GET' && message) reply = service.get(caller(), pathSegment(message[1]!));
    else if (ctx.method === 'POST' && ctx.path === '/v1/lookups') reply = service.lookup(caller(), body);
    if (!reply) return next();
    ctx.status = reply.status;
    ctx.body = reply.body;
  });
  return app;
}
