/**
 * The peer address on Hono comes from `getConnInfo` (a Web Request carries none): an allowlist without it
 * is refused when it is built, with a message saying how to supply one; a rate limit or spend cap keyed by
 * address without it warns once (every client would share one key); with it, peers are told apart over a
 * real socket, and a getConnInfo that throws is an unknown peer (the allowlist denies).
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';
import { afterEach, describe, expect, it } from 'vitest';
import { errorHandler, ipAllowlist, notFound, rateLimit, spendCap } from '../../adapters/hono.js';
import { createIpAllowlist } from '../../src/allowlist/ip-allowlist.js';
import { send } from '../support/matrix.js';
import { type Served, serveApp } from './support.js';

let served: Served | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

function appWith(...middleware: Parameters<Hono['use']>[1][]): Hono {
  const app = new Hono();
  app.onError(errorHandler({ onError: () => {} }));
  app.notFound(notFound());
  for (const m of middleware) app.use(m);
  app.get('/ok', (c) => c.json({ ok: true }));
  return app;
}

async function warningsDuring(fn: () => void): Promise<Error[]> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return warnings.filter((w) => (w as { code?: string }).code === 'BULWARK_HONO_NO_PEER');
}

describe('getConnInfo on Hono', () => {
  it('ipAllowlist without getConnInfo is refused when built, saying how to supply it', () => {
    expect(() => ipAllowlist({ allow: ['127.0.0.1'] })).toThrow(TypeError);
    expect(() => ipAllowlist({ allow: ['127.0.0.1'] })).toThrow(/getConnInfo is required.*@hono\/node-server\/conninfo/);
    expect(() => ipAllowlist(createIpAllowlist({ allow: ['127.0.0.1'] }))).toThrow(/getConnInfo is required/);
    expect(() => ipAllowlist({ allow: ['127.0.0.1'], getConnInfo: 'node' as unknown as GetConnInfo })).toThrow(/options\.getConnInfo must be a function/);
    expect(() => rateLimit({ limit: 1, windowMs: 1000, getConnInfo: 1 as unknown as GetConnInfo })).toThrow(TypeError);
  });

  it('rateLimit and spendCap keyed by address without getConnInfo warn once; with a key or getConnInfo, not at all', async () => {
    expect(await warningsDuring(() => rateLimit({ limit: 10, windowMs: 1000, key: (c) => c.req.header('x-account') ?? '' }))).toHaveLength(0);
    expect(await warningsDuring(() => rateLimit({ limit: 10, windowMs: 1000, getConnInfo }))).toHaveLength(0);
    const first = await warningsDuring(() => rateLimit({ limit: 10, windowMs: 1000 }));
    expect(first).toHaveLength(1);
    expect(first[0]!.message).toMatch(/every client shares one key.*getConnInfo.*@hono\/node-server\/conninfo/);
    expect(await warningsDuring(() => spendCap({ daily: 10 }))).toHaveLength(0);
  });

  it('with getConnInfo, the allowlist admits the listed peer and denies another; a getConnInfo that throws denies', async () => {
    served = await serveApp(appWith(ipAllowlist({ allow: ['127.0.0.1'], getConnInfo })));
    expect((await send(served.url, { path: '/ok' })).status).toBe(200);
    const denied = await send(served.url, { path: '/ok', localAddress: '127.0.0.2' });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body).error).toBe('ip_not_allowed');
    await served.close();
    const throwing: GetConnInfo = () => {
      throw new Error('not on this runtime');
    };
    const built = createIpAllowlist({ allow: ['127.0.0.1'] });
    served = await serveApp(appWith(ipAllowlist(built, { getConnInfo: throwing })));
    const unknown = await send(served.url, { path: '/ok' });
    expect(unknown.status).toBe(403);
    expect(JSON.parse(unknown.body).error).toBe('ip_not_allowed');
  });

  it("with getConnInfo, the rate limit's default key tells peers apart", async () => {
    served = await serveApp(appWith(rateLimit({ limit: 1, windowMs: 60_000, getConnInfo })));
    expect((await send(served.url, { path: '/ok' })).status).toBe(200);
    const again = await send(served.url, { path: '/ok' });
    expect(again.status).toBe(429);
    expect(Number(again.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await send(served.url, { path: '/ok', localAddress: '127.0.0.2' })).status).toBe(200);
  });
});
