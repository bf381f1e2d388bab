/**
 * fetch guard() with a rate limit or spend cap on the default key (the client address) and no clientIp puts
 * every client under one key: the process is warned once, BULWARK_SHARED_KEY, when such a guard is built.
 */
import { describe, expect, it } from 'vitest';
import { guard } from '../../adapters/fetch.js';
import { warningsDuring } from './collect.js';

const CODE = 'BULWARK_SHARED_KEY';
const ok = () => new Response('ok');

describe('guard() rateLimit / spendCap on the default key without clientIp', () => {
  it('no warning with a key function, or with clientIp', async () => {
    const warned = await warningsDuring(CODE, () => {
      guard(ok, { rateLimit: { limit: 10, windowMs: 1_000, key: (request) => request.headers.get('x-account') ?? '' } });
      guard(ok, { rateLimit: [{ limit: 10, windowMs: 1_000, key: () => 'a', name: 'a' }], spendCap: { daily: 10, key: () => 'a' } });
      guard(ok, { rateLimit: { limit: 10, windowMs: 1_000 }, spendCap: { daily: 10 }, clientIp: () => '203.0.113.1' });
    });
    expect(warned).toEqual([]);
  });

  it('warns once, naming the guards, with its code; and the clients do share one key', async () => {
    let shared!: ReturnType<typeof guard>;
    const warned = await warningsDuring(CODE, () => {
      shared = guard(ok, {
        rateLimit: [
          { limit: 100, windowMs: 60_000, key: () => 'x', name: 'keyed' },
          { limit: 2, windowMs: 60_000, name: 'by-address' },
        ],
        spendCap: { daily: 100 },
      });
      guard(ok, { rateLimit: { limit: 1, windowMs: 1_000 } });
    });
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toMatch(/^bulwark: guard: rateLimit and spendCap without clientIp and without key: every client shares one key \('unknown'\)/);
    // Two different clients (as a proxy would say) and the second is throttled by the first's requests.
    const from = (address: string) => shared(new Request('http://api.test/', { headers: { 'x-forwarded-for': address } }));
    expect((await from('203.0.113.1')).status).toBe(200);
    expect((await from('198.51.100.1')).status).toBe(200);
    expect((await from('192.0.2.1')).status).toBe(429);
    expect(await warningsDuring(CODE, () => guard(ok, { spendCap: { daily: 1 } }))).toEqual([]);
  });
});
