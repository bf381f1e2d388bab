/**
 * Pacing against real servers: bulwark's own Express rateLimit (draft-10 headers), and the fault server
 * for Retry-After, other header styles, routes and the bound on origins.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { rateLimit } from '../../adapters/express.js';
import { ApiError, createFetch } from '../../src/client/index.js';
import { readHeaders } from '../../src/client/pace.js';
import type { Fault } from './fault-server.js';
import { serverPool, settle } from './helpers.js';

const servers = serverPool();
const apps: Server[] = [];
afterAll(async () => {
  await servers.closeAll();
  for (const server of apps) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A real bulwark-limited origin (10 per second) that counts what reaches it and what it refused. */
async function limitedOrigin(limit = 10, windowMs = 1000) {
  const arrivals: number[] = [];
  const statuses: number[] = [];
  const app = express();
  app.use((_req, res, next) => {
    arrivals.push(Date.now());
    res.on('finish', () => statuses.push(res.statusCode));
    next();
  });
  app.use(rateLimit({ limit, windowMs }));
  app.get('/v1/items', (_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0, '127.0.0.1');
  apps.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/items`;
  return { url, arrivals, statuses, refused: () => statuses.filter((status) => status === 429).length };
}

/** The most arrivals within any `windowMs` window. */
function busiestWindow(arrivals: number[], windowMs: number): number {
  let most = 0;
  for (let start = 0, end = 0; end < arrivals.length; end++) {
    while ((arrivals[end] as number) - (arrivals[start] as number) >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe('pacing against bulwark rateLimit({ limit: 10, windowMs: 1000 })', () => {
  it('a burst of 100 calls reaches the server at about 10 per second, and none gets a 429', async () => {
    const origin = await limitedOrigin();
    const api = createFetch({ retries: 0 });
    // The first answer teaches the client the policy ("10-in-1s";q=10;w=1).
    await (await api(origin.url)).arrayBuffer();
    const started = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const res = await api(origin.url);
        await res.arrayBuffer();
        return res.status;
      }),
    );
    const took = Date.now() - started;
    expect(responses.filter((status) => status === 200)).toHaveLength(100);
    expect(origin.refused()).toBe(0);
    expect(origin.arrivals).toHaveLength(101);
    // 101 units at 10 per second with a burst of 10: at least about 9 s; paced, not serialised to a crawl.
    expect(took).toBeGreaterThan(7_500);
    expect(took).toBeLessThan(25_000);
    // GCRA with a burst of 10 admits at most 20 in any second; what the client sent, the server admitted.
    expect(busiestWindow(origin.arrivals.slice(1), 1000)).toBeLessThanOrEqual(20);
  }, 40_000);

  it('without pacing the same burst collects 429s (what pacing avoids)', async () => {
    const origin = await limitedOrigin();
    const api = createFetch({ retries: 0, pace: false });
    await (await api(origin.url)).arrayBuffer();
    const statuses = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const res = await api(origin.url);
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(50);
    expect(origin.refused()).toBeGreaterThan(50);
  });

  it("fails fast with ApiError throttled when the wait would pass the call's deadline; nothing is sent", async () => {
    // 10 per minute: the quota spent stays spent for the test.
    const origin = await limitedOrigin(10, 60_000);
    const api = createFetch({ retries: 0 });
    for (let i = 0; i < 10; i++) await (await api(origin.url)).arrayBuffer();
    const reached = origin.arrivals.length;
    const started = performance.now();
    const outcome = await settle(api(origin.url, { bulwark: { deadlineMs: 300 } }));
    const took = performance.now() - started;
    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: ApiError }).error;
    expect(error).toBeInstanceOf(ApiError);
    expect([error.code, error.status, error.retryable]).toEqual(['throttled', 429, true]);
    expect(Number(error.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(error.details).toEqual({ paced: true });
    expect(took).toBeLessThan(250);
    expect(origin.arrivals).toHaveLength(reached);
    expect(origin.refused()).toBe(0);
  });

  it('waits for its turn when the deadline allows, then succeeds without a 429', async () => {
    const origin = await limitedOrigin();
    const api = createFetch({ retries: 0, deadlineMs: 5_000 });
    for (let i = 0; i < 10; i++) await (await api(origin.url)).arrayBuffer();
    const res = await api(origin.url);
    expect(res.status).toBe(200);
    expect(origin.refused()).toBe(0);
  });

  it('per call: pace false sends anyway (and gets the 429), maxWaitMs 0 fails at once', async () => {
    const origin = await limitedOrigin(10, 60_000);
    const api = createFetch({ retries: 0 });
    for (let i = 0; i < 10; i++) await (await api(origin.url)).arrayBuffer();
    const reached = origin.arrivals.length;
    const refused = await settle(api(origin.url, { bulwark: { pace: { maxWaitMs: 0 } } }));
    expect((refused as { error: ApiError }).error.code).toBe('throttled');
    expect(origin.arrivals).toHaveLength(reached);
    const sent = await api(origin.url, { bulwark: { pace: false } });
    expect(sent.status).toBe(429);
    expect(origin.arrivals).toHaveLength(reached + 1);
  });

  it('a paced retry of a 429 goes when the quota is back, not into another 429', async () => {
    const origin = await limitedOrigin();
    // Not paced while learning: a burst of 12 gets two 429s, whose retries wait for the quota.
    const api = createFetch({ retries: 2, retryBudget: false });
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const res = await api(origin.url);
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses.every((status) => status === 200)).toBe(true);
    // The two refused in the cold burst (and no retry of theirs).
    expect(origin.refused()).toBeLessThanOrEqual(2);
  });
});

describe('pacing on Retry-After, other header styles, routes and bounds', () => {
  it('a 503 with Retry-After holds the next call until then (it is then sent once), or fails fast within a short deadline', async () => {
    const server = await servers.start([{ status: 503, headers: { 'retry-after': '1' } }, {}]);
    const api = createFetch({ retries: 0 });
    const first = await api(server.url);
    expect(first.status).toBe(503);
    const refused = await settle(api(server.url, { bulwark: { deadlineMs: 200 } }));
    expect((refused as { error: ApiError }).error.code).toBe('throttled');
    expect(server.hits).toHaveLength(1);
    const started = Date.now();
    const second = await api(server.url);
    expect(second.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThan(500);
    expect(server.hits).toHaveLength(2);
    // Answered without any rate-limit header: the route is free again.
    const third = await api(server.url, { bulwark: { pace: { maxWaitMs: 0 } } });
    expect(third.status).toBe(200);
  });

  it("paces only the routes that carried the spent policy; an unseen route when every rate-limited route seen carried it", async () => {
    const server = await servers.start((hit) =>
      hit.url.startsWith('/a')
        ? { headers: { 'ratelimit-policy': '"a";q=5;w=60', ratelimit: '"a";r=0;t=30' } }
        : {},
    );
    const api = createFetch({ retries: 0 });
    const once = { bulwark: { pace: { maxWaitMs: 0 } } };
    await api(`${server.url}/a`);
    // Only /a is known, and it carries "a": an unseen route is taken to share it (one limiter for the API).
    expect(((await settle(api(`${server.url}/c`, once))) as { error: ApiError }).error.code).toBe('throttled');
    expect(((await settle(api(`${server.url}/a?x=1`, once))) as { error: ApiError }).error.code).toBe('throttled');
    // /b is free (sent with pace off to learn it): it answers without a rate-limit header, as a health
    // check the limiter skips does, so it is not paced and has no say about routes not seen yet.
    expect((await api(`${server.url}/b`, { bulwark: { pace: false } })).status).toBe(200);
    expect((await api(`${server.url}/b`, once)).status).toBe(200);
    expect(((await settle(api(`${server.url}/c`, once))) as { error: ApiError }).error.code).toBe('throttled');
    expect(((await settle(api(`${server.url}/a`, once))) as { error: ApiError }).error.code).toBe('throttled');
  });

  it('reads draft-7 and legacy X-RateLimit headers too', async () => {
    const server = await servers.start((hit): Fault =>
      hit.url === '/seven'
        ? { headers: { 'ratelimit-policy': '10;w=60', ratelimit: 'limit=10, remaining=0, reset=30' } }
        : { headers: { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 30) } },
    );
    const once = { bulwark: { pace: { maxWaitMs: 0 } } };
    for (const path of ['/seven', '/legacy']) {
      const api = createFetch({ retries: 0 });
      await api(`${server.url}${path}`);
      const outcome = await settle(api(`${server.url}${path}`, once));
      expect((outcome as { error: ApiError }).error.code).toBe('throttled');
    }
    expect(server.hits).toHaveLength(2);
  });

  it('parses every draft-10 member with its policy, and ignores malformed headers', () => {
    const now = Date.now();
    const response = new Response(null, {
      headers: {
        'ratelimit-policy': '"burst";q=10;w=1, "daily";q=1000;w=86400',
        ratelimit: '"burst";r=0;t=1, "daily";r=990;t=3600',
      },
    });
    expect(readHeaders(response, now)).toEqual([
      { key: 'policy:burst', remaining: 0, untilMs: 1000, quota: 10, windowMs: 1000 },
      { key: 'policy:daily', remaining: 990, untilMs: 3_600_000, quota: 1000, windowMs: 86_400_000 },
    ]);
    expect(readHeaders(new Response(null, { headers: { ratelimit: '"x";r=oops' } }), now)).toBeUndefined();
    expect(readHeaders(new Response(null, { headers: { ratelimit: '"unterminated;r=1' } }), now)).toBeUndefined();
    expect(readHeaders(new Response(null), now)).toBeUndefined();
    // Retry-After on a 429 holds the spent policies until then.
    const refused = new Response(null, { status: 429, headers: { ratelimit: '"p";r=0;t=1', 'retry-after': '5' } });
    expect(readHeaders(refused, now)?.[0]?.untilMs).toBe(5000);
    // A Retry-After alone on a 503 blocks its route; a wait over an hour is remembered as an hour.
    const away = new Response(null, { status: 503, headers: { 'retry-after': '99999' } });
    expect(readHeaders(away, now)).toEqual([
      { key: 'retry-after', remaining: 0, untilMs: 3_600_000, quota: undefined, windowMs: undefined },
    ]);
    // A Retry-After on a 200 says nothing about the limits.
    expect(readHeaders(new Response(null, { headers: { 'retry-after': '5' } }), now)).toBeUndefined();
  });

  it('reads X-RateLimit-Reset as Unix seconds, Unix milliseconds or seconds from now', () => {
    const now = Date.now();
    const reset = (value: string) =>
      readHeaders(new Response(null, { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': value } }), now)?.[0]?.untilMs;
    expect(reset(String(Math.floor(now / 1000) + 30))).toBeGreaterThan(28_000);
    expect(reset(String(Math.floor(now / 1000) + 30))).toBeLessThanOrEqual(30_000);
    // Some APIs send the reset time in milliseconds: 30 s from now, not an hour (the longest wait read).
    expect(reset(String(now + 30_000))).toBe(30_000);
    expect(reset('30')).toBe(30_000);
    expect(reset(String(now - 5_000))).toBe(0);
  });

  it('reads escaped strings, token names, booleans and spaces, and a policy header that changes between answers', () => {
    const now = Date.now();
    const read = (policy: string, limit: string) =>
      readHeaders(new Response(null, { headers: { 'ratelimit-policy': policy, ratelimit: limit } }), now);
    expect(read('"a\\"b";q=4;w=2;pk=?1, tok;q=9;w=3', '"a\\"b";r=3;t=1,  tok; r=8')).toEqual([
      { key: 'policy:a"b', remaining: 3, untilMs: 1000, quota: 4, windowMs: 2000 },
      { key: 'policy:tok', remaining: 8, untilMs: undefined, quota: 9, windowMs: 3000 },
    ]);
    // The same name under another policy header: the new quota is read, not the one seen before.
    expect(read('tok;q=50;w=10', 'tok;r=49')).toEqual([
      { key: 'policy:tok', remaining: 49, untilMs: undefined, quota: 50, windowMs: 10_000 },
    ]);
    expect(read('tok;q=9;w=3', 'tok;r=2.5;t=0.5')).toEqual([
      { key: 'policy:tok', remaining: 2, untilMs: 500, quota: 9, windowMs: 3000 },
    ]);
    // A malformed policy header leaves the members without a quota; a malformed list says nothing.
    expect(read('tok;q=', 'tok;r=1')).toEqual([
      { key: 'policy:tok', remaining: 1, untilMs: undefined, quota: undefined, windowMs: undefined },
    ]);
    expect(read('tok;q=9', 'tok;r=1 tok2;r=2')).toBeUndefined();
    expect(read('tok;q=9', '"open;r=1')).toBeUndefined();
  });

  it('keeps at most maxOrigins origins: the least recently used is forgotten (and sent to again)', async () => {
    const spent = { headers: { 'ratelimit-policy': '"p";q=1;w=60', ratelimit: '"p";r=0;t=60' } };
    const [a, b, c] = await Promise.all([servers.start([spent]), servers.start([spent]), servers.start([spent])]);
    const api = createFetch({ retries: 0, pace: { maxOrigins: 2 } });
    const once = { bulwark: { pace: { maxWaitMs: 0 } } };
    await api(a!.url);
    await api(b!.url);
    expect(((await settle(api(a!.url, once))) as { error: ApiError }).error.code).toBe('throttled');
    await api(c!.url); // a was used after b: b is forgotten
    expect((await api(b!.url, once)).status).toBe(200);
    expect(((await settle(api(c!.url, once))) as { error: ApiError }).error.code).toBe('throttled');
    expect(b!.hits).toHaveLength(2);
  });

  it("a waiting call ends with the caller's abort reason, and is never sent", async () => {
    const server = await servers.start([{ headers: { 'ratelimit-policy': '"p";q=1;w=60', ratelimit: '"p";r=0;t=60' } }]);
    const api = createFetch({ retries: 0 });
    await api(server.url);
    const controller = new AbortController();
    const pending = settle(api(server.url, { signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('caller gave up')), 50);
    const outcome = await pending;
    expect((outcome as { error: Error }).error.message).toBe('caller gave up');
    expect(server.hits).toHaveLength(1);
  });

  it('refuses bad pacing options with a TypeError naming them', async () => {
    expect(() => createFetch({ pace: { maxWait: 1 } as never })).toThrow(/pace\.maxWait\b/);
    expect(() => createFetch({ pace: { maxOrigins: 0 } })).toThrow(/pace\.maxOrigins/);
    expect(() => createFetch({ pace: 'yes' as never })).toThrow(/options\.pace/);
    const api = createFetch();
    await expect(api('http://127.0.0.1:9/', { bulwark: { pace: { wait: 1 } as never } })).rejects.toThrow(/init\.bulwark\.pace\.wait/);
  });
});
