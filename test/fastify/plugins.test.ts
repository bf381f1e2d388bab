/**
 * Fastify-specific behaviour of bulwark/fastify on Fastify 5 and 4, over real sockets: encapsulation,
 * hijacked replies, Fastify's own validation errors and reply.callNotFound(), reply.redirect() replays,
 * per-route config, bad options, and which trustProxy decides the client address.
 */
import { execFileSync } from 'node:child_process';
import fastify5 from 'fastify';
import fastify4 from 'fastify4';
import { afterEach, describe, expect, it } from 'vitest';
import { errorHandler, idempotency, ipAllowlist, rateLimit } from '../../adapters/fastify.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { send } from '../support/matrix.js';

type App = ReturnType<typeof fastify5>;
const apps: App[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function listen(app: App): Promise<string> {
  apps.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

const post = (path: string, key: string, body = '{}') => ({ method: 'POST', path, headers: { 'idempotency-key': key }, body });

describe.each([
  ['fastify5', fastify5],
  ['fastify4', fastify4 as unknown as typeof fastify5],
] as const)('%s', (name, Fastify) => {
  it(`${name}: a plugin registered inside an encapsulated context guards that context only`, async () => {
    const app = Fastify();
    await app.register(errorHandler, { onError: () => {} });
    await app.register(async (api) => {
      await api.register(ipAllowlist, { allow: ['192.0.2.1'] });
      api.get('/api/x', async () => ({ ok: true }));
    });
    app.get('/public', async () => ({ ok: true }));
    const url = await listen(app);
    const denied = await send(url, { path: '/api/x' });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body).error).toBe('ip_not_allowed');
    expect((await send(url, { path: '/public' })).status).toBe(200);
  });

  it(`${name}: registered at the top, a plugin guards every route, the 404 handler included`, async () => {
    const app = Fastify();
    await app.register(errorHandler, { onError: () => {} });
    await app.register(rateLimit, { limit: 1, windowMs: 60_000 });
    await app.register(async (api) => {
      api.get('/inner', async () => ({ ok: true }));
    });
    const url = await listen(app);
    expect((await send(url, { path: '/inner' })).status).toBe(200);
    const limited = await send(url, { path: '/nowhere' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it(`${name}: schema failures are 422 invalid_request; reply.callNotFound() and unmatched routes are 404 not_found`, async () => {
    const app = Fastify();
    await app.register(errorHandler, { onError: () => {} });
    app.post('/v1/messages', { schema: { body: { type: 'object', required: ['to'], properties: { to: { type: 'string' } } } } }, async () => ({ ok: true }));
    app.get('/maybe', (_request, reply) => reply.callNotFound());
    const url = await listen(app);
    const invalid = await send(url, { method: 'POST', path: '/v1/messages', body: '{"from":"x"}' });
    expect(invalid.status).toBe(422);
    expect(JSON.parse(invalid.body)).toEqual({ message: "body must have required property 'to'", error: 'invalid_request' });
    expect(invalid.headers['content-type']).toBe('application/json; charset=utf-8');
    for (const path of ['/maybe', '/nowhere']) {
      const missing = await send(url, { path });
      expect(missing.status, path).toBe(404);
      expect(JSON.parse(missing.body), path).toEqual({ message: 'The resource does not exist or is not yours.', error: 'not_found' });
    }
    const tooLarge = await send(url, { method: 'POST', path: '/v1/messages', body: `{"to":"${'x'.repeat(2_000_000)}"}` });
    expect(tooLarge.status).toBe(413);
    expect(JSON.parse(tooLarge.body).error).toBe('payload_too_large');
  });

  it(`${name}: a hijacked reply is captured and replayed; one destroyed releases the key, and the retry runs`, async () => {
    let runs = 0;
    const app = Fastify();
    await app.register(errorHandler, { onError: () => {} });
    await app.register(idempotency, { store: new MemoryStore() });
    app.post('/raw', (_request, reply) => {
      runs++;
      reply.hijack();
      reply.raw.writeHead(201, { 'content-type': 'text/plain; charset=utf-8' });
      reply.raw.end(`raw ${runs}`);
    });
    app.post('/broken', (_request, reply) => {
      runs++;
      reply.hijack();
      reply.raw.write('half');
      reply.raw.destroy();
    });
    const url = await listen(app);
    const first = await send(url, post('/raw', 'h1'));
    const replay = await send(url, post('/raw', 'h1'));
    expect(first.status).toBe(201);
    expect(replay.body).toBe(first.body);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(runs).toBe(1);
    await send(url, post('/broken', 'h2')).catch(() => undefined);
    await send(url, post('/broken', 'h2')).catch(() => undefined);
    // Released, not held: the retry ran again (a key left in flight would answer 409 instead).
    expect(runs).toBe(3);
  });

  it(`${name}: reply.redirect() is captured and replayed`, async () => {
    let runs = 0;
    const app = Fastify();
    await app.register(idempotency, { store: new MemoryStore() });
    app.post('/go', (_request, reply) => {
      runs++;
      // (url, code): Fastify 5's only order, and Fastify 4's current one ((code, url) is deprecated there, FSTDEP021).
      return reply.redirect(`/v1/messages/${runs}`, 303);
    });
    const url = await listen(app);
    const first = await send(url, post('/go', 'r1'));
    const replay = await send(url, post('/go', 'r1'));
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/v1/messages/1');
    expect(replay.status).toBe(303);
    expect(replay.headers.location).toBe('/v1/messages/1');
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(runs).toBe(1);
  });

  it(`${name}: config.bulwark: a route skips a guard, or has its own options merged over the plugin's`, async () => {
    const app = Fastify();
    await app.register(errorHandler, { onError: () => {} });
    await app.register(rateLimit, { limit: 100, windowMs: 60_000 });
    app.get('/health', { config: { bulwark: { rateLimit: false } } }, async () => 'ok');
    app.get('/strict', { config: { bulwark: { rateLimit: { limit: 1 } } } }, async () => ({ ok: true }));
    const url = await listen(app);
    const health = await send(url, { path: '/health' });
    expect(health.headers['ratelimit']).toBeUndefined();
    expect((await send(url, { path: '/strict' })).headers['ratelimit-policy']).toBe('"1-in-60s";q=1;w=60');
    expect((await send(url, { path: '/strict' })).status).toBe(429);
    expect((await send(url, { path: '/health' })).status).toBe(200);
  });

  it(`${name}: a bad option rejects register with a TypeError naming it; Fastify's own register options are not refused`, async () => {
    const app = Fastify();
    apps.push(app);
    await expect(app.register(rateLimit, { limit: 0, windowMs: 1000 }).ready()).rejects.toThrow(TypeError);
    const other = Fastify();
    apps.push(other);
    await expect(other.register(errorHandler, { onErorr: () => {} } as never).ready()).rejects.toThrow(/onErorr/);
    const fine = Fastify();
    apps.push(fine);
    await fine.register(rateLimit, { limit: 5, windowMs: 1000, prefix: '/v1' } as never).ready();
    const badRoute = Fastify();
    apps.push(badRoute);
    await badRoute.register(rateLimit, { limit: 5, windowMs: 1000 });
    expect(() => badRoute.get('/x', { config: { bulwark: { rateLimit: { limit: -1 } } } }, async () => 'x')).toThrow(TypeError);
  });

  it(`${name}: bulwark's trustProxy decides the client address, from the socket's peer; Fastify's trustProxy is not consulted`, async () => {
    const app = Fastify({ trustProxy: true });
    await app.register(errorHandler, { onError: () => {} });
    // Fastify trusts every hop and shows 198.51.100.7 as request.ip; bulwark, told no proxy, sees the peer.
    await app.register(ipAllowlist, { allow: ['198.51.100.7'] });
    app.get('/x', async (request) => ({ ip: request.ip }));
    const url = await listen(app);
    const spoofed = await send(url, { path: '/x', headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(spoofed.status).toBe(403);
    const trusting = Fastify();
    await trusting.register(ipAllowlist, { allow: ['198.51.100.7'], trustProxy: ['127.0.0.1'] });
    trusting.get('/x', async () => ({ ok: true }));
    const trustingUrl = await listen(trusting);
    expect((await send(trustingUrl, { path: '/x', headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(200);
  });
});

describe('bulwark/fastify alone', () => {
  it('loads neither Fastify nor Express, Koa, Hono or a Redis client', () => {
    const script = `
      await import('./adapters/fastify.ts');
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => /node_modules[\\\\/](express|koa|hono|ioredis|redis|fastify)[\\\\/]/.test(p));
      console.log(JSON.stringify(loaded));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([]);
  });
});
