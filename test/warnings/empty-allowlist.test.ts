/**
 * An allowlist built with an empty static list denies every request: the process is warned once,
 * BULWARK_DENY_ALL, on every adapter (the warning is the core's).
 */
import express from 'express';
import { describe, expect, it } from 'vitest';
import { ipAllowlist } from '../../adapters/express.js';
import { guard } from '../../adapters/fetch.js';
import { createIpAllowlist } from '../../src/allowlist/ip-allowlist.js';
import { IpSet } from '../../src/allowlist/ip-set.js';
import { warningsDuring } from './collect.js';

const CODE = 'BULWARK_DENY_ALL';

describe('an allowlist with an empty static list', () => {
  it('no warning for a list with entries, for a list function (even one that gives an empty list), or on replace', async () => {
    const warned = await warningsDuring(CODE, async () => {
      createIpAllowlist({ allow: ['203.0.113.0/24'] });
      createIpAllowlist({ allow: new IpSet(['loopback']) });
      const byAccount = createIpAllowlist({ allow: () => [] });
      const replaced = createIpAllowlist({ allow: ['203.0.113.0/24'] });
      replaced.replace([]);
      await byAccount.check({
        method: 'GET',
        path: '/',
        query: '',
        header: () => undefined,
        headerLines: () => [],
        peer: '203.0.113.1',
        body: () => ({ kind: 'none' }),
        request: {},
      });
    });
    expect(warned).toEqual([]);
  });

  it('warns once, with its code, for [] and for an empty IpSet, through any adapter', async () => {
    const warned = await warningsDuring(CODE, () => {
      const app = express();
      app.use(ipAllowlist({ allow: [] }));
      createIpAllowlist({ allow: new IpSet([]) });
      guard(() => new Response('ok'), { ipAllowlist: { allow: [] }, clientIp: () => '203.0.113.1' });
    });
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toMatch(/^bulwark: ipAllowlist: the allow list is empty, so every request is denied \(403 ip_not_allowed\)/);
    expect(await warningsDuring(CODE, () => createIpAllowlist({ allow: [] }))).toEqual([]);
  });
});
