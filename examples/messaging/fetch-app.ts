/**
 * The demo messaging API as a Web fetch handler, with bulwark's `guard`. Serve it with any runtime that
 * takes a fetch handler; `examples/fetch-server.ts` serves it on Node with @hono/node-server.
 */
import type { IncomingMessage } from 'node:http';
import { guard, readJson } from '../../adapters/fetch.js';
import { ApiError } from '../../src/index.js';
import type { DemoAppOptions } from './express-app.js';
import { demoGuards, memoryStore, type RequestReader } from './guards.js';
import { pathSegment } from './path.js';
import { MessagingService, type Reply } from './service.js';

/** What @hono/node-server passes after the request. */
export type NodeBindings = { incoming: IncomingMessage };

/**
 * Builds the fetch handler of the demo API.
 *
 * @example
 * ```ts
 * serve({ fetch: createFetchApp(), port: 3000 });
 * ```
 */
export function createFetchApp(options: DemoAppOptions = {}): (request: Request, env: NodeBindings) => Promise<Response> {
  const service = options.service ?? new MessagingService();
  const reader: RequestReader<Request> = {
    header: (request, name) => request.headers.get(name) ?? undefined,
    // A clone: the handler still reads the body itself.
    body: (request) => request.clone().json().catch(() => undefined),
    method: (request) => request.method,
    path: (request) => new URL(request.url).pathname,
  };
  const guards = demoGuards(options.store ?? memoryStore(), reader, options.allow);
  return guard<[NodeBindings]>(
    async (request) => {
      const url = new URL(request.url);
      const caller = () => service.authenticate(request.headers.get('authorization') ?? undefined);
      const message = /^\/v1\/messages\/([^/]+)$/.exec(url.pathname);
      let reply: Reply | undefined;
      if (request.method === 'POST' && url.pathname === '/v1/messages') {
        const who = caller();
        reply = await service.send(who, await readJson(request, { limit: 16_384 }));
      } else if (request.method === 'GET' && message) {
        reply = service.get(caller(), pathSegment(message[1]!));
      } else if (request.method === 'POST' && url.pathname === '/v1/lookups') {
        const who = caller();
        reply = service.lookup(who, await readJson(request, { limit: 16_384 }));
      }
      if (!reply) throw new ApiError('not_found');
      return Response.json(reply.body, { status: reply.status });
    },
    {
      errors: { onError: options.onError },
      clientIp: (_request, env) => env.incoming.socket.remoteAddress,
      ...guards,
    },
  );
}
