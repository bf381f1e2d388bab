/**
 * Shadow mode of the IP allowlist: it decides as enforcing mode does and says so on the channel and to
 * onDeny, but lets every request through; setMode switches a mounted allowlist at run time.
 */
import express, { type Express } from 'express';
import { describe, expect, it } from 'vitest';
import { ipAllowlist } from '../../adapters/express.js';
import { guard } from '../../adapters/fetch.js';
import { createIpAllowlist, type IpDenyEvent } from '../../src/allowlist/ip-allowlist.js';
import { type AllowlistEvent, CHANNELS } from '../../src/events/channels.js';
import { collectOn, serving, stopCollecting } from '../support/events.js';

const ENTRIES = ['203.0.113.0/24'];
/** Listed, not listed, listed (IPv4-mapped), malformed, not listed. */
const SEQUENCE = ['203.0.113.5', '192.0.2.1', '::ffff:203.0.113.6', 'not-an-address', '2001:db8::1'];

/** Collects every event published on `bulwark:allowlist` until the test ends. */
const collect = () => collectOn<AllowlistEvent>(CHANNELS.allowlist);


async function from(url: string, client: string): Promise<number> {
  const response = await fetch(`${url}/`, { headers: { 'x-forwarded-for': client } });
  await response.arrayBuffer();
  return response.status;
}

/** An app behind `allowlist` whose route counts the requests that reached it. */
function appBehind(allowlist: ReturnType<typeof ipAllowlist>): { app: Express; reached: () => number } {
  let reached = 0;
  const app = express();
  app.use(allowlist);
  app.get('/', (_req, res) => {
    reached++;
    res.send('ok');
  });
  return { app, reached: () => reached };
}

describe('ipAllowlist shadow mode', () => {
  it('decides as enforce does on the same sequence, reports every would-be denial, and lets everyone through', async () => {
    const runs: Record<string, { statuses: number[]; events: AllowlistEvent[]; denials: Array<IpDenyEvent<unknown>>; reached: number }> = {};
    for (const mode of ['enforce', 'shadow'] as const) {
      const events = collect();
      const denials: Array<IpDenyEvent<unknown>> = [];
      const allowlist = ipAllowlist({ allow: ENTRIES, trustProxy: ['loopback'], mode, onDeny: (e) => denials.push(e) });
      expect(allowlist.mode).toBe(mode);
      const { app, reached } = appBehind(allowlist);
      const statuses = await serving(app, async (url) => {
        const out: number[] = [];
        for (const client of SEQUENCE) out.push(await from(url, client));
        return out;
      });
      stopCollecting();
      runs[mode] = { statuses, events, denials, reached: reached() };
    }
    const enforce = runs.enforce!;
    const shadow = runs.shadow!;
    expect(enforce.statuses).toEqual([200, 403, 200, 403, 403]);
    expect(enforce.reached).toBe(2);
    expect(shadow.statuses).toEqual([200, 200, 200, 200, 200]);
    expect(shadow.reached).toBe(5);

    // The same decisions, reasons and addresses; only the mode and wouldDeny differ.
    const facts = (e: AllowlistEvent) => [e.decision, e.reason, e.address];
    expect(shadow.events.map(facts)).toEqual(enforce.events.map(facts));
    expect(enforce.events.map(facts)).toEqual([
      ['allow', undefined, '203.0.113.5'],
      ['deny', 'not-listed', '192.0.2.1'],
      ['allow', undefined, '203.0.113.6'],
      ['deny', 'no-address', undefined],
      ['deny', 'not-listed', '2001:db8::1'],
    ]);
    expect(enforce.events.every((e) => e.mode === 'enforce' && e.wouldDeny === false)).toBe(true);
    expect(shadow.events.map((e) => [e.mode, e.wouldDeny])).toEqual([
      ['shadow', false],
      ['shadow', true],
      ['shadow', false],
      ['shadow', true],
      ['shadow', true],
    ]);

    // onDeny hears the same denials; in shadow mode each says it let the request through.
    expect(shadow.denials.map((e) => [e.reason, e.address])).toEqual(enforce.denials.map((e) => [e.reason, e.address]));
    expect(enforce.denials.every((e) => !('shadow' in e))).toBe(true);
    expect(shadow.denials.every((e) => e.shadow === true)).toBe(true);
  });

  it('switches at run time through a mounted Express middleware, for the requests checked from then on', async () => {
    const events = collect();
    const allowlist = ipAllowlist({ allow: ENTRIES, trustProxy: ['loopback'] });
    expect(allowlist.mode).toBe('enforce');
    const { app, reached } = appBehind(allowlist);
    await serving(app, async (url) => {
      expect(await from(url, '192.0.2.1')).toBe(403);
      allowlist.setMode('shadow');
      expect(allowlist.mode).toBe('shadow');
      expect(await from(url, '192.0.2.1')).toBe(200);
      expect(await from(url, '203.0.113.1')).toBe(200);
      allowlist.setMode('enforce');
      expect(allowlist.mode).toBe('enforce');
      expect(await from(url, '192.0.2.1')).toBe(403);
    });
    expect(reached()).toBe(2);
    expect(events.map((e) => [e.decision, e.mode, e.wouldDeny])).toEqual([
      ['deny', 'enforce', false],
      ['deny', 'shadow', true],
      ['allow', 'shadow', false],
      ['deny', 'enforce', false],
    ]);
  });

  it('shadow mode lets through a request whose list function failed, and one without a peer address (fetch guard())', async () => {
    const events = collect();
    const handler = guard(() => new Response('ok'), {
      ipAllowlist: {
        allow: (request) => {
          if (request.headers.get('x-account') === 'broken') throw new Error('accounts db down');
          return ENTRIES;
        },
        mode: 'shadow',
      },
      clientIp: (request) => request.headers.get('x-peer'),
    });
    const ask = async (headers: Record<string, string>) => (await handler(new Request('http://api.test/', { headers }))).status;
    expect(await ask({ 'x-peer': '198.51.100.1', 'x-account': 'broken' })).toBe(200);
    expect(await ask({})).toBe(200);
    expect(await ask({ 'x-peer': '203.0.113.9' })).toBe(200);
    expect(events.map((e) => [e.decision, e.reason, e.wouldDeny])).toEqual([
      ['deny', 'error', true],
      ['deny', 'no-address', true],
      ['allow', undefined, false],
    ]);
  });

  it('refuses a bad mode, in the options and in setMode, and keeps the mode it had', () => {
    expect(() => createIpAllowlist({ allow: ENTRIES, mode: 'off' as never })).toThrow(
      new TypeError("ipAllowlist: options.mode must be 'enforce' or 'shadow'"),
    );
    expect(() => createIpAllowlist({ allow: ENTRIES, mode: 'deny' as never })).toThrow(/^ipAllowlist: options\.mode must be 'enforce' or 'shadow' \(express-ipfilter/);
    const allowlist = createIpAllowlist({ allow: ENTRIES, mode: 'shadow' });
    for (const bad of ['Enforce', '', undefined, null, 1, {}]) {
      expect(() => allowlist.setMode(bad as never)).toThrow(new TypeError("ipAllowlist: setMode(mode) must be 'enforce' or 'shadow'"));
    }
    expect(allowlist.mode).toBe('shadow');
    const middleware = ipAllowlist(allowlist);
    expect(() => middleware.setMode('audit' as never)).toThrow(TypeError);
    expect(middleware.mode).toBe('shadow');
    // `mode` is read-only: the mode changes only through setMode.
    expect(() => {
      (allowlist as { mode: string }).mode = 'enforce';
    }).toThrow(TypeError);
    expect(allowlist.mode).toBe('shadow');
  });
});
