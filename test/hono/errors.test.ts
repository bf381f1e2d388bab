/**
 * bulwark/hono's error path: errorHandler() as app.onError and notFound() as app.notFound give the documented
 * JSON body where Hono answers text (a thrown ApiError was `500 Internal Server Error` with its stack printed,
 * an unknown route `404 Not Found`); Hono's HTTPException keeps its status and its safe headers; a thrown value
 * that is not an Error (which Hono never hands to onError) is answered too once errorHandler() is mounted
 * with app.use() or passes a bulwark middleware.
 */
import { Hono } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { HTTPException } from 'hono/http-exception';
import { afterEach, describe, expect, it } from 'vitest';
import { errorHandler, notFound, rateLimit } from '../../adapters/hono.js';
import { ApiError } from '../../src/errors/api-error.js';
import type { ErrorEvent } from '../../src/errors/error-responder.js';
import { send } from '../support/matrix.js';
import { type Served, serveApp } from './support.js';

const JSON_TYPE = 'application/json; charset=utf-8';
let served: Served | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

function appWith(events: ErrorEvent[], setup: (app: Hono) => void, mountFirst = false): Hono {
  const app = new Hono();
  const errors = errorHandler({ onError: (event) => events.push(event) });
  if (mountFirst) app.use(errors);
  setup(app);
  app.onError(errors);
  app.notFound(notFound());
  return app;
}

describe('errorHandler() and notFound() on Hono', () => {
  it('a thrown ApiError is its documented body, and an unknown route a JSON 404, not Hono text', async () => {
    const events: ErrorEvent[] = [];
    served = await serveApp(
      appWith(events, (app) => {
        app.get('/balance', () => {
          throw new ApiError('insufficient_balance');
        });
      }),
    );
    const thrown = await send(served.url, { path: '/balance' });
    expect(thrown.status).toBe(402);
    expect(thrown.headers['content-type']).toBe(JSON_TYPE);
    expect(JSON.parse(thrown.body).error).toBe('insufficient_balance');
    const unknown = await send(served.url, { path: '/nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toBe(JSON_TYPE);
    expect(JSON.parse(unknown.body)).toEqual({ message: expect.any(String), error: 'not_found' });
    const head = await send(served.url, { method: 'HEAD', path: '/nope' });
    expect(head.status).toBe(404);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(unknown.headers['content-length']);
    expect(events).toEqual([]);
  });

  it('an unknown error is a 500 internal_error that shows nothing of it, and onError gets its cause', async () => {
    const events: ErrorEvent[] = [];
    const cause = new TypeError('db password hunter2 at /srv/app.js:1');
    served = await serveApp(
      appWith(events, (app) => {
        app.get('/boom', () => {
          throw cause;
        });
      }),
    );
    const res = await send(served.url, { path: '/boom' });
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body).error).toBe('internal_error');
    expect(res.body).not.toMatch(/hunter2|srv|TypeError/);
    expect(events).toHaveLength(1);
    expect(events[0]!.cause).toBe(cause);
    expect(events[0]!.path).toBe('/boom');
  });

  it("HTTPException keeps its status, its 4xx message and its safe headers (WWW-Authenticate, Retry-After), not the others", async () => {
    const events: ErrorEvent[] = [];
    served = await serveApp(
      appWith(events, (app) => {
        app.get('/limited', () => {
          const res = new Response('slow down', { status: 429, headers: { 'retry-after': '7', 'x-internal': 'secret', 'content-type': 'text/plain' } });
          throw new HTTPException(429, { message: 'Too many tries.', res });
        });
        app.get('/teapot', () => {
          throw new HTTPException(418);
        });
        app.get('/down', () => {
          throw new HTTPException(503, { message: 'pool exhausted at /srv/db.js' });
        });
        app.use('/private/*', basicAuth({ username: 'u', password: 'p' }));
        app.get('/private/data', (c) => c.json({ ok: true }));
      }),
    );
    const limited = await send(served.url, { path: '/limited' });
    expect(limited.status).toBe(429);
    expect(limited.headers['content-type']).toBe(JSON_TYPE);
    expect(limited.headers['retry-after']).toBe('7');
    expect(limited.headers['x-internal']).toBeUndefined();
    expect(JSON.parse(limited.body)).toEqual({ message: 'Too many tries.', error: 'throttled' });

    const teapot = await send(served.url, { path: '/teapot' });
    expect(teapot.status).toBe(418);
    expect(teapot.headers['content-type']).toBe(JSON_TYPE);

    const down = await send(served.url, { path: '/down' });
    expect(down.status).toBe(503);
    expect(down.body).not.toMatch(/pool|srv/);
    expect(events.map((e) => e.error.status)).toEqual([503]);

    // Hono's own basicAuth throws an HTTPException whose response carries the challenge.
    const denied = await send(served.url, { path: '/private/data' });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Basic realm="Secure Area"');
    expect(JSON.parse(denied.body).error).toBe('unauthorized');
    const allowed = await send(served.url, { path: '/private/data', headers: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` } });
    expect(allowed.status).toBe(200);
  });

  it('a thrown value that is not an Error: answered by errorHandler() mounted with app.use(), its cause reported as thrown', async () => {
    const events: ErrorEvent[] = [];
    const app = appWith(
      events,
      (a) => {
        a.get('/string', () => {
          throw 'hunter2';
        });
        a.get('/http-ish', async () => {
          await new Promise((resolve) => setImmediate(resolve));
          throw { status: 409, message: 'Already sent.' };
        });
      },
      true,
    );
    served = await serveApp(app);
    const string = await send(served.url, { path: '/string' });
    expect(string.status).toBe(500);
    expect(JSON.parse(string.body).error).toBe('internal_error');
    expect(string.body).not.toMatch(/hunter2/);
    expect(events.map((e) => e.cause)).toEqual(['hunter2']);
    const httpish = await send(served.url, { path: '/http-ish' });
    expect(httpish.status).toBe(409);
    expect(JSON.parse(httpish.body).message).toBe('Already sent.');
  });

  it('a thrown value that is not an Error passes through a bulwark guard to app.onError as it was thrown', async () => {
    const events: ErrorEvent[] = [];
    const app = appWith(events, (a) => {
      a.use(rateLimit({ limit: 100, windowMs: 60_000, key: () => 'all' }));
      a.get('/string', () => {
        throw 'hunter2';
      });
    });
    served = await serveApp(app);
    const res = await send(served.url, { path: '/string' });
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body).error).toBe('internal_error');
    expect(res.headers['ratelimit-policy']).toBeDefined();
    expect(events.map((e) => e.cause)).toEqual(['hunter2']);
  });

  it('refuses an unknown option, naming it', () => {
    expect(() => errorHandler({ onErorr: () => {} } as never)).toThrow(/onErorr/);
    expect(() => notFound({ format: 'xml' } as never)).toThrow(TypeError);
  });
});
