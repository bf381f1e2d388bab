/**
 * The `bulwark:allowlist` channel: one event per check, through a real Express app over a socket and
 * through fetch guard(); the list and its entries never appear in an event.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { ipAllowlist } from '../../adapters/express.js';
import { guard } from '../../adapters/fetch.js';
import { type AllowlistEvent, CHANNELS } from '../../src/events/channels.js';
import { collectOn, serving } from '../support/events.js';

/** Entries chosen so that no address a request comes from is spelt the same way. */
const ENTRIES = ['203.0.113.0/25', '2001:db8:ab::/48', '198.51.100.7-198.51.100.9'];

/** Collects every event published on `bulwark:allowlist` until the test ends. */
const collect = () => collectOn<AllowlistEvent>(CHANNELS.allowlist);


/** GET / from `client` (the app trusts loopback, so X-Forwarded-For names the client). */
async function from(url: string, client: string): Promise<number> {
  const response = await fetch(`${url}/`, { headers: { 'x-forwarded-for': client } });
  await response.arrayBuffer();
  return response.status;
}

function expectNoEntries(events: AllowlistEvent[]) {
  for (const event of events) {
    const json = JSON.stringify(event);
    for (const entry of ENTRIES) expect(json).not.toContain(entry);
    for (const part of ['203.0.113.0', '/25', '/48', '198.51.100.7', '198.51.100.9']) expect(json).not.toContain(part);
  }
}

describe('bulwark:allowlist on a real Express app', () => {
  it('publishes allow and deny for every check, with the reason and the address it checked', async () => {
    const seen = collect();
    const app = express();
    app.use(ipAllowlist({ allow: ENTRIES, trustProxy: ['loopback'] }));
    app.get('/', (_req, res) => res.send('ok'));
    const statuses = await serving(app, async (url) => [
      await from(url, '203.0.113.10'),
      await from(url, '192.0.2.1'),
      await from(url, '2001:db8:ab:1::5'),
      await from(url, 'not-an-address'),
      await from(url, '198.51.100.8'),
    ]);
    expect(statuses).toEqual([200, 403, 200, 403, 200]);
    expect(seen).toEqual([
      { guard: 'ipAllowlist', decision: 'allow', address: '203.0.113.10', mode: 'enforce', wouldDeny: false },
      { guard: 'ipAllowlist', decision: 'deny', reason: 'not-listed', address: '192.0.2.1', mode: 'enforce', wouldDeny: false },
      { guard: 'ipAllowlist', decision: 'allow', address: '2001:db8:ab:1::5', mode: 'enforce', wouldDeny: false },
      { guard: 'ipAllowlist', decision: 'deny', reason: 'no-address', mode: 'enforce', wouldDeny: false },
      { guard: 'ipAllowlist', decision: 'allow', address: '198.51.100.8', mode: 'enforce', wouldDeny: false },
    ]);
    expectNoEntries(seen);
  });

  it("tells a list function that refused ('refused') from one that failed ('error'), and onDeny still hears each", async () => {
    const seen = collect();
    const denied: string[] = [];
    const app = express();
    app.use(
      ipAllowlist({
        allow: (req) => {
          const account = req.get('x-account');
          if (account === 'throws') throw new Error('accounts db down');
          if (account === 'rejects') return Promise.reject(new Error('accounts db down'));
          if (account === 'none') return undefined;
          if (account === 'bad') return ['203.0.113.0/33'];
          return ENTRIES;
        },
        trustProxy: ['loopback'],
        onDeny: ({ reason }) => denied.push(reason),
      }),
    );
    app.get('/', (_req, res) => res.send('ok'));
    const statuses = await serving(app, async (url) => {
      const out: number[] = [];
      for (const account of ['ok', 'throws', 'rejects', 'none', 'bad']) {
        const response = await fetch(`${url}/`, { headers: { 'x-forwarded-for': '203.0.113.10', 'x-account': account } });
        await response.arrayBuffer();
        out.push(response.status);
      }
      return out;
    });
    expect(statuses).toEqual([200, 403, 403, 403, 403]);
    expect(seen.map((e) => [e.decision, e.reason])).toEqual([
      ['allow', undefined],
      ['deny', 'error'],
      ['deny', 'error'],
      ['deny', 'refused'],
      ['deny', 'refused'],
    ]);
    expect(seen.every((e) => e.address === '203.0.113.10')).toBe(true);
    expect(denied).toEqual(['list_unavailable', 'list_unavailable', 'list_unavailable', 'list_unavailable']);
    expectNoEntries(seen);
    for (const event of seen) expect(JSON.stringify(event)).not.toContain('/33');
  });

  it('publishes nothing once the last subscriber leaves, and answers the same', async () => {
    const seen: unknown[] = [];
    const listener = (message: unknown) => seen.push(message);
    const app = express();
    app.use(ipAllowlist({ allow: ENTRIES, trustProxy: ['loopback'] }));
    app.get('/', (_req, res) => res.send('ok'));
    await serving(app, async (url) => {
      subscribe(CHANNELS.allowlist, listener);
      expect(await from(url, '192.0.2.1')).toBe(403);
      unsubscribe(CHANNELS.allowlist, listener);
      expect(await from(url, '192.0.2.1')).toBe(403);
      expect(await from(url, '203.0.113.10')).toBe(200);
    });
    expect(seen).toHaveLength(1);
  });
});

describe('bulwark:allowlist through fetch guard()', () => {
  it('publishes the same events; a request without a peer address is a no-address denial', async () => {
    const seen = collect();
    const handler = guard(() => new Response('ok'), {
      ipAllowlist: { allow: ENTRIES },
      clientIp: (request) => request.headers.get('x-peer'),
    });
    const ask = async (peer?: string) => {
      const response = await handler(new Request('http://api.test/', { headers: peer ? { 'x-peer': peer } : {} }));
      await response.arrayBuffer();
      return response.status;
    };
    expect([await ask('203.0.113.1'), await ask('::ffff:203.0.113.2'), await ask('203.0.113.200'), await ask()]).toEqual([200, 200, 403, 403]);
    expect(seen).toEqual([
      { guard: 'ipAllowlist', decision: 'allow', address: '203.0.113.1', mode: 'enforce', wouldDeny: false },
      { guard: 'ipAllowlist', decision: 'allow', address: '203.0.113.2', mode: 'enforce', wouldDeny: false },
      { guard: 'ipAllowlist', decision: 'deny', reason: 'not-listed', address: '203.0.113.200', mode: 'enforce', wouldDeny: false },
      { guard: 'ipAllowlist', decision: 'deny', reason: 'no-address', mode: 'enforce', wouldDeny: false },
    ]);
    expectNoEntries(seen);
  });
});
