/**
 * fetch guard() with an allowlist and no clientIp can only deny (a Web Request carries no peer address):
 * the process is warned once, BULWARK_NO_PEER_ADDRESS, when such a guard is built.
 */
import { describe, expect, it } from 'vitest';
import { guard } from '../../adapters/fetch.js';
import { warningsDuring } from './collect.js';

const CODE = 'BULWARK_NO_PEER_ADDRESS';
const ok = () => new Response('ok');

describe('guard() ipAllowlist without clientIp', () => {
  it('no warning for an allowlist with clientIp, nor for a guard without an allowlist', async () => {
    const warned = await warningsDuring(CODE, () => {
      guard(ok, { ipAllowlist: { allow: ['203.0.113.0/24'] }, clientIp: () => '203.0.113.1' });
      guard(ok, { rateLimit: { limit: 10, windowMs: 1_000, key: () => 'k' } });
      guard(ok);
    });
    expect(warned).toEqual([]);
  });

  it('warns once, with its code, however many such guards are built; and every request it guards is denied', async () => {
    let first!: ReturnType<typeof guard>;
    const warned = await warningsDuring(CODE, () => {
      first = guard(ok, { ipAllowlist: { allow: ['0.0.0.0/0', '::/0'], trustProxy: ['10.0.0.0/8'] } });
      guard(ok, { ipAllowlist: { allow: ['203.0.113.0/24'] } });
    });
    expect(warned).toHaveLength(1);
    expect(warned[0]!.name).toBe('Warning');
    expect(warned[0]!.message).toMatch(/^bulwark: guard: ipAllowlist without clientIp denies every request/);
    expect(warned[0]!.message).toMatch(/clientIp: \(request, \.\.\.rest\)/);
    // What the warning is about: even a list of every address, and a trusted forwarding header, deny.
    const response = await first(new Request('http://api.test/', { headers: { 'x-forwarded-for': '203.0.113.1' } }));
    expect(response.status).toBe(403);
    expect(await warningsDuring(CODE, () => guard(ok, { ipAllowlist: { allow: ['loopback'] } }))).toEqual([]);
  });

});
