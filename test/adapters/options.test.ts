import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import { guard } from '../../adapters/fetch.js';
import * as koaAdapter from '../../adapters/koa.js';

describe('options are validated when a middleware is built', () => {
  it('errorHandler names the bad option', () => {
    for (const build of [expressAdapter.errorHandler, koaAdapter.errorHandler]) {
      expect(() => build({ format: 'xml' as never })).toThrow(/errorHandler: options\.format/);
      expect(() => build({ onError: 'log' as never })).toThrow(/errorHandler: options\.onError/);
      expect(() => build(null as never)).toThrow(TypeError);
    }
  });

  it('guard names the bad option', () => {
    const ok = () => new Response('ok');
    expect(() => guard('nope' as never)).toThrow(/guard: handler/);
    expect(() => guard(ok, { clientIp: '1.2.3.4' as never })).toThrow(/guard: options\.clientIp/);
    expect(() => guard(ok, { errors: { format: 'yaml' as never } })).toThrow(/options\.format/);
  });
});

describe('guard()', () => {
  it('treats a clientIp that throws as an unknown peer: the allowlist denies, nothing is a 500', async () => {
    const handler = guard(() => new Response('secret'), {
      errors: { onError: () => {} },
      clientIp: () => {
        throw new Error('no socket');
      },
      ipAllowlist: { allow: ['127.0.0.1'] },
    });
    const res = await handler(new Request('http://api.test/v1/messages'));
    expect(res.status).toBe(403);
    expect((await res.json()).error).toBe('ip_not_allowed');
  });

  it('turns a handler that returns no Response into a 500 internal_error', async () => {
    const handler = guard((() => 'text') as never, { errors: { onError: () => {} } });
    const res = await handler(new Request('http://api.test/'));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ message: 'An internal error occurred. Retry with backoff.', error: 'internal_error' });
  });

  it('stacks several rate limiters, each with its own RateLimit list member', async () => {
    const handler = guard(() => new Response('ok'), {
      clientIp: () => '127.0.0.1',
      rateLimit: [
        { limit: 2, windowMs: 1000, name: 'second' },
        { limit: 100, windowMs: 86_400_000, name: 'day' },
      ],
    });
    const first = await handler(new Request('http://api.test/'));
    expect(first.headers.get('ratelimit')).toBe('"second";r=1;t=1, "day";r=99;t=864');
    await handler(new Request('http://api.test/'));
    const third = await handler(new Request('http://api.test/'));
    expect(third.status).toBe(429);
    expect((await third.json()).error).toBe('throttled');
  });

  it('adds guard headers to an immutable response by copying it', async () => {
    const handler = guard(() => Response.redirect('http://api.test/elsewhere', 302), {
      clientIp: () => '127.0.0.1',
      rateLimit: { limit: 10, windowMs: 1000 },
    });
    const res = await handler(new Request('http://api.test/'));
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://api.test/elsewhere');
    expect(res.headers.get('ratelimit')).toMatch(/r=9/);
  });
});
