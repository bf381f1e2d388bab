import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import createHttpError from 'http-errors';
import { beforeAll, expect, vi } from 'vitest';
import { ApiError } from '../../src/errors/api-error.js';
import type { ErrorEvent } from '../../src/errors/error-responder.js';
import { type AppSpec, matrix } from '../support/matrix.js';

beforeAll(() => {
  // Leaks must not depend on NODE_ENV: run as an application that forgot to set it.
  delete process.env.NODE_ENV;
});

const quiet = { onError: () => {} };

const app: AppSpec = {
  errors: quiet,
  routes: [
    {
      method: 'POST',
      path: '/v1/messages',
      handler: () => {
        throw new ApiError('spend_limit_exceeded', {
          message: 'This send would exceed your daily spend limit.',
          details: { period: 'daily' },
        });
      },
    },
    {
      method: 'GET',
      path: '/boom',
      handler: () => {
        const err = new Error('password=hunter2 at /srv/app/secret.js:12');
        throw err;
      },
    },
    {
      method: 'GET',
      path: '/reject',
      handler: () => Promise.reject(new TypeError('cannot read db.secret of undefined')),
    },
    {
      method: 'GET',
      path: '/throw-string',
      handler: () => {
        throw 'a string with /etc/passwd';
      },
    },
    {
      method: 'GET',
      path: '/http-error',
      handler: () => {
        throw createHttpError(401, 'Token expired', { headers: { 'WWW-Authenticate': 'Bearer realm="api"' } });
      },
    },
    {
      method: 'GET',
      path: '/http-error-429',
      handler: () => {
        throw createHttpError(429, 'Slow down', { headers: { 'Retry-After': '7', 'X-Secret': 'no' } });
      },
    },
    {
      method: 'GET',
      path: '/http-error-502',
      handler: () => {
        throw createHttpError(502, 'upstream 10.1.2.3 refused');
      },
    },
    {
      method: 'GET',
      path: '/weird-status',
      handler: () => {
        throw Object.assign(new Error('odd'), { status: 302 });
      },
    },
    {
      method: 'POST',
      path: '/echo',
      handler: (req) => ({ status: 201, json: { got: req.body } }),
    },
  ],
};

const JSON_TYPE = 'application/json; charset=utf-8';

matrix(
  'ApiError with details',
  app,
  async ({ send }) => [await send({ method: 'POST', path: '/v1/messages', body: '{"to":"+15550100"}' })],
  ([res]) => {
    expect(res!.status).toBe(403);
    expect(res!.headers['content-type']).toBe(JSON_TYPE);
    expect(JSON.parse(res!.body)).toEqual({
      message: 'This send would exceed your daily spend limit.',
      error: 'spend_limit_exceeded',
      period: 'daily',
    });
  },
);

matrix(
  'unknown throws and rejections leak nothing',
  app,
  async ({ send }) => [
    await send({ path: '/boom' }),
    await send({ path: '/reject' }),
    await send({ path: '/throw-string' }),
  ],
  (results) => {
    for (const res of results) {
      expect(res.status).toBe(500);
      const body = JSON.parse(res.body);
      expect(body.error).toBe('internal_error');
      expect(Object.keys(body).sort()).toEqual(['error', 'message']);
      expect(res.body).not.toMatch(/hunter2|secret|passwd|\/srv|at \w+ \(|TypeError/);
    }
  },
);

matrix(
  'malformed JSON is a 422 invalid_request',
  app,
  async ({ send }) => [await send({ method: 'POST', path: '/echo', body: '{"to": ' })],
  ([res]) => {
    expect(res!.status).toBe(422);
    const body = JSON.parse(res!.body);
    expect(body.error).toBe('invalid_request');
    expect(body.message).toMatch(/could not be parsed/);
  },
);

matrix(
  'a body that does not decode with its Content-Encoding is a 422 invalid_request',
  app,
  async ({ send }) => [await send({ method: 'POST', path: '/echo', headers: { 'content-encoding': 'gzip' }, body: 'not gzip at all' })],
  ([res]) => {
    expect(res!.status).toBe(422);
    expect(JSON.parse(res!.body).error).toBe('invalid_request');
  },
);

matrix(
  'a gzip-encoded JSON body is decoded; an encoding no parser knows is a 422 invalid_request',
  app,
  async ({ send }) => [
    await send({ method: 'POST', path: '/echo', headers: { 'content-encoding': 'gzip' }, body: gzipSync('{"a":[1,2]}') }),
    await send({ method: 'POST', path: '/echo', headers: { 'content-encoding': 'compress' }, body: '{"a":[1,2]}' }),
  ],
  ([decoded, unknown]) => {
    expect(decoded!.status).toBe(201);
    expect(JSON.parse(decoded!.body)).toEqual({ got: { a: [1, 2] } });
    expect(unknown!.status).toBe(422);
    expect(JSON.parse(unknown!.body).error).toBe('invalid_request');
  },
);

matrix(
  'an oversize body is a 413 payload_too_large',
  app,
  async ({ send }) => [await send({ method: 'POST', path: '/echo', body: JSON.stringify({ pad: 'x'.repeat(5000) }) })],
  ([res]) => {
    expect(res!.status).toBe(413);
    expect(JSON.parse(res!.body).error).toBe('payload_too_large');
  },
);

matrix(
  'a valid body passes through',
  app,
  async ({ send }) => [await send({ method: 'POST', path: '/echo', body: '{"a":[1,2]}' })],
  ([res]) => {
    expect(res!.status).toBe(201);
    expect(JSON.parse(res!.body)).toEqual({ got: { a: [1, 2] } });
  },
);

matrix(
  'http-errors objects keep their status and headers',
  app,
  async ({ send }) => [
    await send({ path: '/http-error' }),
    await send({ path: '/http-error-429' }),
    await send({ path: '/http-error-502' }),
    await send({ path: '/weird-status' }),
  ],
  ([unauthorized, throttled, badGateway, weird]) => {
    expect(unauthorized!.status).toBe(401);
    expect(unauthorized!.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(JSON.parse(unauthorized!.body)).toEqual({ message: 'Token expired', error: 'unauthorized' });
    expect(throttled!.status).toBe(429);
    expect(throttled!.headers['retry-after']).toBe('7');
    expect(throttled!.headers['x-secret']).toBeUndefined();
    expect(JSON.parse(throttled!.body).error).toBe('throttled');
    expect(badGateway!.status).toBe(502);
    expect(JSON.parse(badGateway!.body).error).toBe('bad_gateway');
    expect(badGateway!.body).not.toContain('10.1.2.3');
    expect(weird!.status).toBe(500);
    expect(JSON.parse(weird!.body).error).toBe('internal_error');
  },
);

matrix(
  'an unknown route is a 404 not_found',
  app,
  async ({ send }) => [await send({ path: '/nope?x=1' }), await send({ method: 'DELETE', path: '/v1/messages' })],
  (results) => {
    for (const res of results) {
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toBe(JSON_TYPE);
      expect(JSON.parse(res.body).error).toBe('not_found');
    }
  },
);

matrix(
  'problem+json mode keeps the error member',
  { ...app, errors: { ...quiet, format: 'problem', problemTypeBase: 'https://docs.example.com/errors' } },
  async ({ send }) => [await send({ method: 'POST', path: '/v1/messages', body: '{}' }), await send({ path: '/nope' })],
  ([spend, missing]) => {
    expect(spend!.status).toBe(403);
    expect(spend!.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(spend!.body)).toEqual({
      message: 'This send would exceed your daily spend limit.',
      error: 'spend_limit_exceeded',
      type: 'https://docs.example.com/errors/spend_limit_exceeded',
      title: 'This send would exceed your daily spend limit.',
      status: 403,
      detail: 'This send would exceed your daily spend limit.',
      period: 'daily',
    });
    expect(JSON.parse(missing!.body).status).toBe(404);
  },
);

const reports = new Map<string, ErrorEvent[]>();
let currentVariant = '';

matrix(
  'an error after headers were sent ends the connection and is reported once',
  () => ({
    errors: {
      onError: (event: ErrorEvent) => {
        const list = reports.get(currentVariant) ?? [];
        list.push(event);
        reports.set(currentVariant, list);
      },
    },
    routes: [
      {
        method: 'GET',
        path: '/stream',
        native: {
          express: (_req, res, next) => {
            res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
            res.write('partial');
            setTimeout(() => next(new Error('disk read failed')), 20);
          },
          koa: (ctx) => {
            ctx.status = 200;
            ctx.set('content-type', 'text/plain; charset=utf-8');
            let sent = false;
            ctx.body = new Readable({
              read() {
                if (!sent) {
                  sent = true;
                  this.push('partial');
                } else {
                  setTimeout(() => this.destroy(new Error('disk read failed')), 20);
                }
              },
            });
          },
          fastify: (_request, reply) => {
            let sent = false;
            const body = new Readable({
              read() {
                if (!sent) {
                  sent = true;
                  this.push('partial');
                } else {
                  setTimeout(() => this.destroy(new Error('disk read failed')), 20);
                }
              },
            });
            return reply.code(200).type('text/plain; charset=utf-8').send(body);
          },
          fetch: () => {
            let sent = false;
            const body = new ReadableStream<Uint8Array>({
              async pull(controller) {
                if (!sent) {
                  sent = true;
                  controller.enqueue(new TextEncoder().encode('partial'));
                } else {
                  await new Promise((resolve) => setTimeout(resolve, 20));
                  controller.error(new Error('disk read failed'));
                }
              },
            });
            return new Response(body, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } });
          },
        },
      },
    ],
  }),
  async ({ send, variant }) => {
    currentVariant = variant;
    // On fetch and Hono the runtime (@hono/node-server) prints the failing stream's error itself, before it
    // ends the connection: it is caught here and checked, not printed.
    const printsItself = variant === 'fetch' || variant === 'hono';
    const printed = printsItself ? vi.spyOn(console, 'error').mockImplementation(() => {}) : undefined;
    try {
      const res = await send({ path: '/stream' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (printed) {
        expect(printed).toHaveBeenCalledTimes(1);
        expect(printed).toHaveBeenCalledWith(expect.objectContaining({ message: 'disk read failed' }));
      }
      return [{ ...res, headers: { 'content-type': res.headers['content-type'] ?? '' } }];
    } finally {
      printed?.mockRestore();
    }
  },
  ([res], variant) => {
    expect(res!.status).toBe(200);
    expect(res!.body).toBe('partial');
    expect(res!.aborted).toBe(true);
    const events = reports.get(variant) ?? [];
    if (variant === 'fetch' || variant === 'hono') {
      // A Web Response's body fails inside the runtime, after guard() (or Hono) returned: the runtime ends the connection.
      expect(events).toHaveLength(0);
    } else {
      expect(events).toHaveLength(1);
      expect(events[0]!.afterHeadersSent).toBe(true);
    }
  },
);
