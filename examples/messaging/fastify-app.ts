/**
 * The demo messaging API on Fastify (4 or 5), with bulwark's plugins from `bulwark/fastify`: the same
 * routes, guards and error bodies as the Express, Koa and fetch versions.
 *
 * Registered at the top, each plugin guards the whole app. `ipAllowlist` and `rateLimit` decide in an
 * `onRequest` hook (before the body is read); `spendCap` and `idempotency` in a `preHandler` hook, once
 * Fastify parsed the body, so the spend cap's `cost` reads `request.body`.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { errorHandler, frameworkErrors, idempotency, ipAllowlist, rateLimit, spendCap } from '../../adapters/fastify.js';
import type { DemoAppOptions } from './express-app.js';
import { demoGuards, memoryStore, type RequestReader } from './guards.js';
import type { Caller } from './service.js';
import { MessagingService } from './service.js';

const reader: RequestReader<FastifyRequest> = {
  header: (request, name) => {
    const value = request.headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  },
  body: (request) => request.body,
  method: (request) => request.method,
  path: (request) => request.url.split('?')[0] ?? '/',
};

/**
 * Builds the Fastify demo app, its plugins registered (call `listen` on it).
 *
 * @example
 * ```ts
 * const app = await createFastifyApp();
 * await app.listen({ port: 3003, host: '127.0.0.1' });
 * ```
 */
export async function createFastifyApp(options: Omit<DemoAppOptions, 'faults'> = {}): Promise<FastifyInstance> {
  const service = options.service ?? new MessagingService();
  const guards = demoGuards(options.store ?? memoryStore(), reader, options.allow);
  const app = Fastify({ bodyLimit: 16_384, frameworkErrors });

  // Errors of every route, and unmatched routes (404 not_found), in the documented body.
  await app.register(errorHandler, { onError: options.onError });
  await app.register(ipAllowlist, guards.ipAllowlist);
  await app.register(rateLimit, guards.rateLimit);
  await app.register(spendCap, guards.spendCap);
  await app.register(idempotency, guards.idempotency);

  const caller = (request: FastifyRequest): Caller => service.authenticate(reader.header(request, 'authorization'));

  app.post('/v1/messages', async (request, reply) => {
    const sent = await service.send(caller(request), request.body);
    return reply.code(sent.status).send(sent.body);
  });
  app.get<{ Params: { id: string } }>('/v1/messages/:id', async (request, reply) => {
    const found = service.get(caller(request), request.params.id);
    return reply.code(found.status).send(found.body);
  });
  app.post('/v1/lookups', async (request, reply) => {
    const looked = service.lookup(caller(request), request.body);
    return reply.code(looked.status).send(looked.body);
  });
  return app;
}
