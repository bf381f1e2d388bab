/**
 * The fetch adapter on the runtime's own `Response` (this file does not load @hono/node-server, which
 * swaps the global `Response` for one that checks less): a replay of a 204, 205 or 304 is that status
 * with no body for as long as it is kept, and a respond decision to a HEAD request has no body
 * (bulwark issue 16, item 6).
 */
import { describe, expect, it } from 'vitest';
import { guard } from '../../adapters/fetch.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

const quiet = { onError: () => {} };

describe('fetch guard: respond decisions without a body', () => {
  for (const status of [204, 205, 304]) {
    it(`replays a ${status} as a ${status} with a null body`, async () => {
      let runs = 0;
      const guarded = guard(
        () => {
          runs++;
          return new Response(null, { status, headers: { 'x-made': String(status) } });
        },
        { errors: quiet, idempotency: { store: new MemoryStore() } },
      );
      const request = () => new Request('http://api.test/v1/s', { method: 'POST', headers: { 'idempotency-key': `k${status}` }, body: '{}' });
      const first = await guarded(request());
      expect(first.status).toBe(status);
      for (let i = 0; i < 2; i++) {
        const replay = await guarded(request());
        expect(replay.status).toBe(status);
        expect(replay.body).toBeNull();
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(replay.headers.get('x-made')).toBe(String(status));
        expect(replay.headers.get('content-length')).toBeNull();
      }
      expect(runs).toBe(1);
    });
  }

  it('answers a refused HEAD request with the headers and the length of the error body, and no body', async () => {
    const guarded = guard(() => new Response('ok'), {
      errors: quiet,
      clientIp: () => '192.0.2.7',
      rateLimit: { limit: 1, windowMs: 60_000 },
    });
    await guarded(new Request('http://api.test/x', { method: 'HEAD' }));
    const refused = await guarded(new Request('http://api.test/x', { method: 'HEAD' }));
    expect(refused.status).toBe(429);
    expect(refused.body).toBeNull();
    expect(refused.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(refused.headers.get('retry-after')).toBe('60');
    const get = await guarded(new Request('http://api.test/x'));
    expect(refused.headers.get('content-length')).toBe(String(new TextEncoder().encode(await get.text()).byteLength));
  });
});
