/**
 * Fastify's framework errors on Fastify 5 and 4, over real sockets: the errors Fastify raises before any
 * route or error handler runs (a malformed URL, a path parameter too long, an asynchronous constraint that
 * fails) are answered by `frameworkErrors` with the documented body, in the format of the errorHandler
 * registered at the top, never echoing the path or Fastify's message; and the request-body errors that do
 * reach the error handler (a Content-Type without a parser) never echo the request either.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fastify5, { type FastifyServerOptions } from 'fastify';
import fastify4 from 'fastify4';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { errorHandler, frameworkErrors, rateLimit } from '../../adapters/fastify.js';
import type { ErrorEvent } from '../../src/errors/error-responder.js';

type App = ReturnType<typeof fastify5>;

const apps: App[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Listens, with one GET route (Fastify 4 hands a malformed URL to the 404 handler in an app without any). */
async function listen(app: App): Promise<number> {
  apps.push(app);
  if (!app.hasRoute({ method: 'GET', url: '/health' })) app.get('/health', async () => 'ok');
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

/** One request with its request line exactly as given (`http.request` sends `/%` untouched). */
function request(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const BAD_URL = { message: 'The request path holds a malformed percent-encoding.', error: 'bad_request' };
const INTERNAL = { message: 'An internal error occurred. Retry with backoff.', error: 'internal_error' };

/** A route constraint whose asynchronous derivation fails (a tenant lookup that is down, say). */
const failingConstraint = {
  tenant: {
    name: 'tenant',
    storage: () => {
      const routes = new Map<string, unknown>();
      return { get: (value: string) => routes.get(value) ?? null, set: (value: string, store: unknown) => void routes.set(value, store) };
    },
    deriveConstraint: (_req: unknown, _ctx: unknown, done: (err: Error | null, value?: string) => void) => done(new Error('tenant lookup is down')),
    validate: () => true,
    mustMatchWhenDerived: true,
  },
};

describe.each([
  ['fastify5', fastify5],
  ['fastify4', fastify4 as unknown as typeof fastify5],
] as const)('%s', (name, Fastify) => {
  // Router options: under routerOptions on Fastify 5 (top-level ones are deprecated there), top-level on 4.
  const router = (options: Record<string, unknown>) => (name === 'fastify5' ? { routerOptions: options } : options) as Record<never, never>;
  it(`${name}: without frameworkErrors, Fastify answers a malformed URL itself and echoes the path`, async () => {
    const app = Fastify();
    await app.register(errorHandler, { onError: () => {} });
    const port = await listen(app);
    const res = await request(port, '/%3Cscript%3E%');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).code).toBe('FST_ERR_BAD_URL');
    expect(res.body).toContain('%3Cscript%3E%');
  });

  it(`${name}: a malformed URL is a 400 bad_request in the documented body, never echoing the path; the server goes on`, async () => {
    // Typed as the factory's options: the type check holds frameworkErrors to the option's signature (on the
    // installed Fastify 5's types; Fastify 4's are not checked against them here).
    const options: FastifyServerOptions = { frameworkErrors };
    const app = Fastify(options);
    await app.register(errorHandler, { onError: () => {} });
    app.get('/v1/messages/:id', async (request) => ({ id: (request.params as { id: string }).id }));
    const port = await listen(app);
    for (const path of ['/%', '/v1/messages/%E0%A4%A', '/%3Cscript%3E%zz']) {
      const res = await request(port, path);
      expect(res.status, path).toBe(400);
      expect(res.headers['content-type'], path).toBe('application/json; charset=utf-8');
      expect(JSON.parse(res.body), path).toEqual(BAD_URL);
      expect(res.body, path).not.toMatch(/%|script|FST_/);
    }
    const fine = await request(port, '/v1/messages/msg_1');
    expect([fine.status, JSON.parse(fine.body)]).toEqual([200, { id: 'msg_1' }]);
  });

  it(`${name}: the format of the errorHandler registered at the top is used, and a 4xx is not reported`, async () => {
    const events: ErrorEvent[] = [];
    const app = Fastify({ frameworkErrors });
    await app.register(errorHandler, { format: 'problem', problemTypeBase: 'https://errors.example.com', onError: (event) => events.push(event) });
    const port = await listen(app);
    const res = await request(port, '/%');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(res.body)).toEqual({
      ...BAD_URL,
      type: 'https://errors.example.com/bad_request',
      title: BAD_URL.message,
      status: 400,
      detail: BAD_URL.message,
    });
    expect(events).toEqual([]);
  });

  it(`${name}: without any errorHandler, the defaults answer (JSON)`, async () => {
    const app = Fastify({ frameworkErrors });
    const port = await listen(app);
    const res = await request(port, '/%');
    expect([res.status, res.headers['content-type'], JSON.parse(res.body)]).toEqual([400, 'application/json; charset=utf-8', BAD_URL]);
  });

  it(`${name}: an errorHandler inside an encapsulated context does not decide the body of the app's framework errors`, async () => {
    const app = Fastify({ frameworkErrors });
    await app.register(async (api) => {
      await api.register(errorHandler, { format: 'problem', onError: () => {} });
    });
    const port = await listen(app);
    const res = await request(port, '/%');
    expect([res.status, res.headers['content-type'], JSON.parse(res.body)]).toEqual([400, 'application/json; charset=utf-8', BAD_URL]);
  });

  it(`${name}: a failing asynchronous route constraint is a 500 internal_error, reported once with its cause`, async () => {
    const events: ErrorEvent[] = [];
    const app = Fastify({ frameworkErrors, ...router({ constraints: failingConstraint }) });
    await app.register(errorHandler, { onError: (event) => events.push(event) });
    app.get('/tenant', { constraints: { tenant: 'acme' } }, async () => ({ ok: true }));
    const port = await listen(app);
    const res = await request(port, '/tenant');
    expect([res.status, JSON.parse(res.body)]).toEqual([500, INTERNAL]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ method: 'GET', path: '/tenant', afterHeadersSent: false, error: { code: 'internal_error' } });
    // The cause is Fastify's own error, for the log.
    expect((events[0]!.cause as { code?: string }).code).toBe('FST_ERR_ASYNC_CONSTRAINT');
  });

  it(`${name}: with no errorHandler, that 500 is one line on console.error, naming neither Fastify's message nor more than the path`, async () => {
    const app = Fastify({ frameworkErrors, ...router({ constraints: failingConstraint }) });
    app.get('/tenant', { constraints: { tenant: 'acme' } }, async () => ({ ok: true }));
    const port = await listen(app);
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const res = await request(port, '/tenant');
      expect([res.status, JSON.parse(res.body)]).toEqual([500, INTERNAL]);
      expect(printed).toHaveBeenCalledTimes(1);
      expect(String(printed.mock.calls[0]![0])).toMatch(/^bulwark: 500 internal_error GET \/tenant: /);
    } finally {
      printed.mockRestore();
    }
  });

  it(`${name}: a path parameter past maxParamLength never echoes it`, async () => {
    const app = Fastify({ frameworkErrors, ...router({ maxParamLength: 10 }) });
    await app.register(errorHandler, { onError: () => {} });
    app.get('/v1/messages/:id', async () => ({ ok: true }));
    const port = await listen(app);
    const res = await request(port, `/v1/messages/${'x'.repeat(40)}`);
    expect(res.body).not.toContain('xxxxxxxxxx');
    if (name === 'fastify5') {
      // Fastify 5 raises FST_ERR_MAX_PARAM_LENGTH, a framework error.
      expect([res.status, JSON.parse(res.body)]).toEqual([414, { message: 'A parameter in the request URL is too long.', error: 'uri_too_long' }]);
    } else {
      // Fastify 4 finds no route: the errorHandler's 404.
      expect([res.status, JSON.parse(res.body).error]).toEqual([404, 'not_found']);
    }
  });

  it(`${name}: a Content-Type without a parser reaches the errorHandler: 415 unsupported_media_type, never echoing the type`, async () => {
    const app = Fastify({ frameworkErrors });
    await app.register(errorHandler, { onError: () => {} });
    app.post('/v1/messages', async () => ({ ok: true }));
    const port = await listen(app);
    const res = await request(port, '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/x-secret-type' }, body: 'ab' });
    expect(res.status).toBe(415);
    expect(JSON.parse(res.body)).toEqual({ message: 'The request body is of a type this endpoint does not take.', error: 'unsupported_media_type' });
    expect(res.body).not.toContain('secret');
  });

  it(`${name}: a malformed URL reaches no hook: the rate limiter neither counts nor answers it`, async () => {
    const app = Fastify({ frameworkErrors });
    await app.register(errorHandler, { onError: () => {} });
    await app.register(rateLimit, { limit: 1, windowMs: 60_000 });
    app.get('/x', async () => ({ ok: true }));
    const port = await listen(app);
    for (let i = 0; i < 3; i++) expect((await request(port, '/%')).status).toBe(400);
    const first = await request(port, '/x');
    expect(first.status).toBe(200);
    expect((await request(port, '/x')).status).toBe(429);
  });
});
