/**
 * The adapter matrix: one app description, served by Express 5, Express 4, Koa 3, Koa 2, a fetch
 * handler (on @hono/node-server) and Hono middleware (on @hono/node-server), over real sockets. A scenario sends the same requests to each and the
 * results must be identical: status, headers (less the transport's own) and body.
 *
 * Adding an adapter means adding one entry to `SERVERS`.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import koaBodyParser from '@koa/bodyparser';
import express5 from 'express';
import express4 from 'express4';
import fastify5 from 'fastify';
import fastify4 from 'fastify4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as fastifyAdapter from '../../adapters/fastify.js';
import * as fetchAdapter from '../../adapters/fetch.js';
import * as honoAdapter from '../../adapters/hono.js';
import * as koaAdapter from '../../adapters/koa.js';
import type { ErrorHandlerOptions } from '../../src/errors/error-responder.js';

export const VARIANTS = ['express5', 'express4', 'koa3', 'koa2', 'fetch', 'hono', 'fastify5', 'fastify4'] as const;
export type Variant = (typeof VARIANTS)[number];

/** The framework-neutral request a neutral handler sees. */
export interface NeutralRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  header(name: string): string | undefined;
  body: unknown;
}

/** What a neutral handler answers; `json` is sent as `application/json; charset=utf-8`. */
export interface NeutralResponse {
  status?: number;
  headers?: Record<string, string>;
  json?: unknown;
  text?: string;
}

export type NeutralHandler = (req: NeutralRequest) => NeutralResponse | Promise<NeutralResponse>;

/** Handlers written against each framework, for scenarios about framework-specific write paths. */
export interface NativeHandlers {
  express?: (req: any, res: any, next: (err?: unknown) => void) => unknown;
  koa?: (ctx: any) => unknown;
  /** A Fastify route handler `(request, reply)`. */
  fastify?: (request: any, reply: any) => unknown;
  fetch?: (request: Request, params: Record<string, string>) => Response | Promise<Response>;
  /** Hono's Context; without it, Hono runs the `fetch` handler on `c.req.raw`. */
  hono?: (c: any) => Response | Promise<Response>;
}

export interface RouteSpec {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';
  /** Express-style path; `:name` segments become params. */
  path: string;
  /** The same handler on every adapter. */
  handler?: NeutralHandler;
  /** Per-framework handlers; a variant whose framework has none falls back to `handler`. */
  native?: NativeHandlers;
}

/** A bulwark middleware by its export name; `options` may depend on the variant (callbacks get native requests). */
export interface GuardSpec {
  kind: 'ipAllowlist' | 'rateLimit' | 'spendCap' | 'idempotency';
  options: object | ((variant: Variant) => object);
}

export interface AppSpec {
  /** bulwark middlewares, in order (on fetch they map to `guard()` keys, which run in their fixed order). */
  guards?: GuardSpec[];
  /** Options of the error handler (always mounted). */
  errors?: ErrorHandlerOptions;
  routes: RouteSpec[];
  /** JSON body limit in bytes, the same on every adapter. @default 1024 */
  bodyLimit?: number;
  /** Mount the JSON body parser. @default true */
  parseJson?: boolean;
}

export interface RunningServer {
  variant: Variant;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** One HTTP exchange as the client saw it. */
export interface Result {
  status: number;
  /** Lower-case names, transport headers removed; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
  /** The connection ended before the whole body arrived. */
  aborted: boolean;
}

export interface SendOptions {
  method?: string;
  path: string;
  /** Header values; an array sends that many separate header lines. */
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Local address to connect from (anything in 127.0.0.0/8), to act as another peer. */
  localAddress?: string;
  /** Give up after this many ms. @default 5000 */
  timeoutMs?: number;
}

const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'x-powered-by']);

/** Sends one request with node:http (so header lines and the local address are under the test's control). */
export function send(baseUrl: string, options: SendOptions): Promise<Result> {
  const url = new URL(options.path, baseUrl);
  return new Promise<Result>((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: options.method ?? 'GET',
        localAddress: options.localAddress,
        agent: false,
        timeout: options.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let aborted = false;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('aborted', () => {
          aborted = true;
        });
        res.on('error', () => {
          aborted = true;
        });
        res.on('close', () => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (TRANSPORT_HEADERS.has(name) || value === undefined) continue;
            headers[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers,
            body: Buffer.concat(chunks).toString('utf8'),
            aborted: aborted || !res.complete,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    for (const [name, value] of Object.entries(options.headers ?? {})) req.setHeader(name, value);
    if (options.body !== undefined) {
      if (!req.hasHeader('content-type')) req.setHeader('content-type', 'application/json');
      req.setHeader('content-length', Buffer.byteLength(options.body));
      req.end(options.body);
    } else {
      req.end();
    }
  });
}

function optionsFor(spec: GuardSpec, variant: Variant): object {
  return typeof spec.options === 'function' ? spec.options(variant) : spec.options;
}

function compilePath(path: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        names.push(segment.slice(1));
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { regex: new RegExp(`^${source}/?$`), names };
}

function match(route: RouteSpec, method: string, path: string): Record<string, string> | undefined {
  if (route.method !== method) return undefined;
  const { regex, names } = compilePath(route.path);
  const found = regex.exec(path);
  if (!found) return undefined;
  const params: Record<string, string> = {};
  names.forEach((name, i) => {
    params[name] = decodeURIComponent(found[i + 1]!);
  });
  return params;
}

function encodeNeutral(out: NeutralResponse): { status: number; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { ...(out.headers ?? {}) };
  let body = '';
  if (out.json !== undefined) {
    headers['content-type'] = 'application/json; charset=utf-8';
    body = JSON.stringify(out.json);
  } else if (out.text !== undefined) {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    body = out.text;
  }
  return { status: out.status ?? 200, headers, body };
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closer(server: http.Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
}

async function startExpress(variant: 'express5' | 'express4', spec: AppSpec): Promise<RunningServer> {
  const express = (variant === 'express5' ? express5 : express4) as unknown as typeof express5;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (spec.parseJson !== false) app.use(express.json({ limit: spec.bodyLimit ?? 1024 }));
  for (const g of spec.guards ?? []) {
    const factory = (expressAdapter as Record<string, unknown>)[g.kind];
    if (typeof factory !== 'function') throw new Error(`bulwark/express has no ${g.kind}`);
    app.use(factory(optionsFor(g, variant)));
  }
  for (const route of spec.routes) {
    const method = route.method.toLowerCase() as 'get';
    const native = route.native?.express;
    if (native) {
      app[method](route.path, native);
      continue;
    }
    const handler = route.handler;
    if (!handler) throw new Error(`route ${route.method} ${route.path} has no handler for express`);
    app[method](route.path, async (req: any, res: any, next: (err?: unknown) => void) => {
      try {
        const out = encodeNeutral(
          await handler({
            method: req.method,
            path: req.path,
            params: { ...req.params },
            query: Object.fromEntries(new URL(req.originalUrl, 'http://x').searchParams),
            header: (name) => req.get(name),
            body: req.body,
          }),
        );
        res.statusCode = out.status;
        for (const [name, value] of Object.entries(out.headers)) res.setHeader(name, value);
        res.end(out.body);
      } catch (err) {
        next(err);
      }
    });
  }
  app.use(expressAdapter.notFound());
  app.use(expressAdapter.errorHandler(spec.errors));
  const server = http.createServer(app);
  const port = await listen(server);
  return { variant, port, url: `http://127.0.0.1:${port}`, close: closer(server) };
}

async function startKoa(variant: 'koa3' | 'koa2', spec: AppSpec): Promise<RunningServer> {
  const Koa = (variant === 'koa3' ? Koa3 : Koa2) as unknown as typeof Koa3;
  const app = new Koa();
  app.silent = true;
  app.use(koaAdapter.errorHandler(spec.errors));
  if (spec.parseJson !== false) {
    app.use(koaBodyParser({ enableTypes: ['json'], jsonLimit: spec.bodyLimit ?? 1024 }) as any);
  }
  for (const g of spec.guards ?? []) {
    const factory = (koaAdapter as Record<string, unknown>)[g.kind];
    if (typeof factory !== 'function') throw new Error(`bulwark/koa has no ${g.kind}`);
    app.use(factory(optionsFor(g, variant)));
  }
  app.use(async (ctx: any, next: () => Promise<void>) => {
    for (const route of spec.routes) {
      const params = match(route, ctx.method, ctx.path);
      if (!params) continue;
      ctx.params = params;
      const native = route.native?.koa;
      if (native) {
        await native(ctx);
        return;
      }
      const handler = route.handler;
      if (!handler) throw new Error(`route ${route.method} ${route.path} has no handler for koa`);
      const out = encodeNeutral(
        await handler({
          method: ctx.method,
          path: ctx.path,
          params,
          query: Object.fromEntries(new URLSearchParams(ctx.querystring)),
          header: (name) => ctx.get(name) || undefined,
          body: (ctx.request as { body?: unknown }).body,
        }),
      );
      ctx.status = out.status;
      ctx.body = Buffer.from(out.body);
      for (const [name, value] of Object.entries(out.headers)) ctx.set(name, value);
      if (!out.headers['content-type']) ctx.remove('content-type');
      return;
    }
    await next();
  });
  const server = http.createServer(app.callback());
  const port = await listen(server);
  return { variant, port, url: `http://127.0.0.1:${port}`, close: closer(server) };
}

async function startFetch(spec: AppSpec): Promise<RunningServer> {
  const guardOptions: Record<string, unknown> = {
    errors: spec.errors,
    clientIp: (_request: Request, env: { incoming: http.IncomingMessage }) => env.incoming.socket.remoteAddress,
  };
  for (const g of spec.guards ?? []) {
    if (g.kind in guardOptions) throw new Error(`fetch guard() takes one ${g.kind}`);
    guardOptions[g.kind] = optionsFor(g, 'fetch');
  }
  const handler = fetchAdapter.guard<[{ incoming: http.IncomingMessage }]>(async (request: Request) => {
    const url = new URL(request.url);
    for (const route of spec.routes) {
      const params = match(route, request.method, url.pathname);
      if (!params) continue;
      const native = route.native?.fetch;
      if (native) return native(request, params);
      const neutral = route.handler;
      if (!neutral) throw new Error(`route ${route.method} ${route.path} has no handler for fetch`);
      const body =
        spec.parseJson !== false && request.headers.get('content-type')?.includes('json')
          ? await fetchAdapter.readJson(request, { limit: spec.bodyLimit ?? 1024 })
          : undefined;
      const out = encodeNeutral(
        await neutral({
          method: request.method,
          path: url.pathname,
          params,
          query: Object.fromEntries(url.searchParams),
          header: (name) => request.headers.get(name) ?? undefined,
          body,
        }),
      );
      return new Response(out.body === '' && out.status === 204 ? null : out.body, {
        status: out.status,
        headers: out.headers,
      });
    }
    const { ApiError } = await import('../../src/errors/api-error.js');
    throw new ApiError('not_found');
  }, guardOptions as fetchAdapter.GuardOptions<[{ incoming: http.IncomingMessage }]>);
  const server = await new Promise<http.Server>((resolve) => {
    const s = serve({ fetch: handler as any, port: 0, hostname: '127.0.0.1' }, () => resolve(s as http.Server));
  });
  const port = (server.address() as AddressInfo).port;
  return { variant: 'fetch', port, url: `http://127.0.0.1:${port}`, close: closer(server) };
}

async function startHono(spec: AppSpec): Promise<RunningServer> {
  // strict: false matches a trailing slash, as Express and Koa routes here do.
  const app = new Hono({ strict: false });
  const errors = honoAdapter.errorHandler(spec.errors);
  app.use(errors); // first: thrown values that are not Errors, which Hono does not hand to onError
  app.onError(errors);
  app.notFound(honoAdapter.notFound(spec.errors));
  for (const g of spec.guards ?? []) {
    const factory = (honoAdapter as Record<string, unknown>)[g.kind];
    if (typeof factory !== 'function') throw new Error(`bulwark/hono has no ${g.kind}`);
    const options = optionsFor(g, 'hono') as { check?: unknown };
    // An allowlist built with createIpAllowlist takes getConnInfo beside it.
    app.use(typeof options.check === 'function' ? factory(options, { getConnInfo }) : factory({ ...options, getConnInfo }));
  }
  for (const route of spec.routes) {
    app.on(route.method, route.path, async (c) => {
      const params = c.req.param() as Record<string, string>;
      if (route.native?.hono) return route.native.hono(c);
      if (route.native?.fetch) return route.native.fetch(c.req.raw, params);
      const neutral = route.handler;
      if (!neutral) throw new Error(`route ${route.method} ${route.path} has no handler for hono`);
      const request = c.req.raw;
      const url = new URL(request.url);
      const body =
        spec.parseJson !== false && request.headers.get('content-type')?.includes('json')
          ? await fetchAdapter.readJson(request, { limit: spec.bodyLimit ?? 1024 })
          : undefined;
      const out = encodeNeutral(
        await neutral({
          method: request.method,
          path: url.pathname,
          params,
          query: Object.fromEntries(url.searchParams),
          header: (name) => c.req.header(name),
          body,
        }),
      );
      return new Response(out.body === '' && out.status === 204 ? null : out.body, { status: out.status, headers: out.headers });
    });
  }
  const server = await new Promise<http.Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as http.Server));
  });
  const port = (server.address() as AddressInfo).port;
  return { variant: 'hono', port, url: `http://127.0.0.1:${port}`, close: closer(server) };
}

/** A request header as one value (several lines joined with `, `), as Express's `req.get` gives it. */
function joinHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A mark on a Fastify request whose neutral response has no Content-Type (Fastify would choose one). */
const UNTYPED = Symbol('matrix.untyped');

async function startFastify(variant: 'fastify5' | 'fastify4', spec: AppSpec): Promise<RunningServer> {
  const Fastify = (variant === 'fastify5' ? fastify5 : fastify4) as unknown as typeof fastify5;
  // A trailing slash matches, as on Express and Koa (Fastify 5 reads it from routerOptions).
  const router = variant === 'fastify5' ? { routerOptions: { ignoreTrailingSlash: true } } : { ignoreTrailingSlash: true };
  const app = Fastify({ bodyLimit: spec.bodyLimit ?? 1024, ...router } as Parameters<typeof fastify5>[0]);
  await app.register(fastifyAdapter.errorHandler, spec.errors ?? {});
  // Request bodies are decoded by their Content-Encoding as Express's and Koa's parsers decode them (the
  // Fastify way: a preParsing hook, as @fastify/compress's requestDecompress does); an unknown encoding is
  // refused as body-parser refuses it.
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const encoding = String(request.headers['content-encoding'] ?? '').trim().toLowerCase();
    if (encoding === '' || encoding === 'identity') return done(null, payload);
    if (!['gzip', 'x-gzip', 'deflate', 'br'].includes(encoding)) {
      return done(Object.assign(new Error(`Unsupported Content-Encoding: ${encoding}`), { statusCode: 415 }));
    }
    const decoded = payload.pipe(encoding === 'br' ? zlib.createBrotliDecompress() : zlib.createUnzip()) as unknown as typeof payload & { receivedEncodedLength: number };
    decoded.receivedEncodedLength = 0;
    payload.on('data', (chunk: Buffer) => {
      decoded.receivedEncodedLength += chunk.byteLength;
    });
    done(null, decoded);
  });
  // Bodies of other types are left unread, as express.json() leaves them (a guard reads their bytes).
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  if (spec.parseJson === false) {
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', (_request, _payload, done) => done(null, undefined));
  }
  for (const g of spec.guards ?? []) {
    const factory = (fastifyAdapter as Record<string, unknown>)[g.kind];
    if (typeof factory !== 'function') throw new Error(`bulwark/fastify has no ${g.kind}`);
    await app.register(factory as any, optionsFor(g, variant));
  }
  // A neutral handler that sets no Content-Type sends none, as Express's res.end does.
  app.addHook('onSend', (request, reply, payload, done) => {
    if ((request as any)[UNTYPED] === true) reply.removeHeader('content-type');
    done(null, payload);
  });
  const heads = new Set(spec.routes.filter((route) => route.method === 'HEAD').map((route) => route.path));
  for (const route of spec.routes) {
    const native = route.native?.fastify;
    const handler = route.handler;
    if (!native && !handler) throw new Error(`route ${route.method} ${route.path} has no handler for fastify`);
    app.route({
      method: route.method,
      url: route.path,
      // An explicit HEAD route takes the place of the one Fastify adds for GET.
      exposeHeadRoute: route.method === 'GET' && heads.has(route.path) ? false : undefined,
      handler:
        native ??
        (async (request: any, reply: any) => {
          const url = new URL(request.url, 'http://x');
          const out = encodeNeutral(
            await handler!({
              method: request.method,
              path: url.pathname,
              params: { ...request.params },
              query: Object.fromEntries(url.searchParams),
              header: (name) => joinHeader(request.headers[name.toLowerCase()]),
              body: request.body,
            }),
          );
          reply.code(out.status);
          for (const [name, value] of Object.entries(out.headers)) reply.header(name, value);
          if (out.headers['content-type'] === undefined) request[UNTYPED] = true;
          return reply.send(Buffer.from(out.body));
        }),
    });
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  return {
    variant,
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      (app.server as unknown as http.Server).closeAllConnections?.();
      await app.close();
    },
  };
}

/** How each adapter is served. Adding an adapter means adding one line. */
export const SERVERS: Record<Variant, (spec: AppSpec) => Promise<RunningServer>> = {
  express5: (spec) => startExpress('express5', spec),
  express4: (spec) => startExpress('express4', spec),
  koa3: (spec) => startKoa('koa3', spec),
  koa2: (spec) => startKoa('koa2', spec),
  fetch: (spec) => startFetch(spec),
  fastify5: (spec) => startFastify('fastify5', spec),
  fastify4: (spec) => startFastify('fastify4', spec),
  hono: (spec) => startHono(spec),
};

/** Starts the app on one adapter (for tests that need a single server). */
export function startServer(variant: Variant, spec: AppSpec): Promise<RunningServer> {
  return SERVERS[variant](spec);
}

/** What a scenario gets for one variant. */
export interface ScenarioContext {
  variant: Variant;
  url: string;
  send(options: SendOptions): Promise<Result>;
}

/**
 * Runs `scenario` on every adapter (each on a fresh server built from `spec`), checks each variant's
 * results with `check`, and asserts that all variants returned identical results.
 *
 * @example
 * ```ts
 * matrix('unknown route', { routes: [] }, async ({ send }) => [await send({ path: '/nope' })], ([res]) => {
 *   expect(res.status).toBe(404);
 * });
 * ```
 */
export function matrix(
  name: string,
  spec: AppSpec | (() => AppSpec),
  scenario: (ctx: ScenarioContext) => Promise<Result[]>,
  check: (results: Result[], variant: Variant) => void,
): void {
  describe(`matrix: ${name}`, () => {
    const seen = new Map<Variant, Result[]>();
    for (const variant of VARIANTS) {
      it(`${name}: ${variant}`, async () => {
        const server = await SERVERS[variant](typeof spec === 'function' ? spec() : spec);
        try {
          const results = await scenario({
            variant,
            url: server.url,
            send: (options) => send(server.url, options),
          });
          seen.set(variant, results);
          check(results, variant);
        } finally {
          await server.close();
        }
      });
    }
    it(`${name}: identical across adapters`, () => {
      const reference = seen.get('express5');
      expect(reference, 'express5 ran').toBeDefined();
      for (const variant of VARIANTS) {
        expect(seen.get(variant), `${variant} matches express5`).toEqual(reference);
      }
    });
  });
}

/** A per-variant reader of a request header from the native request a user callback receives. */
export function nativeHeader(variant: Variant): (request: any, name: string) => string | undefined {
  if (variant === 'fetch') return (request: Request, name) => request.headers.get(name) ?? undefined;
  if (variant === 'hono') return (c: any, name) => c.req.header(name);
  if (variant.startsWith('koa')) return (ctx: any, name) => ctx.get(name) || undefined;
  if (variant.startsWith('fastify')) return (request: any, name) => joinHeader(request.headers[name.toLowerCase()]);
  return (req: any, name) => req.get(name);
}
