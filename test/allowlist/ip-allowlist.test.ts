import { describe, expect, it } from 'vitest';
import { type IpAllowlistOptions, type IpDenyEvent, createIpAllowlist } from '../../src/allowlist/ip-allowlist.js';
import { IpSet } from '../../src/allowlist/ip-set.js';
import type { Decision, RequestView } from '../../src/guard/types.js';
import { nodeView } from '../../src/guard/node-view.js';

interface FakeReq {
  account?: string;
}

function view(peer: string | undefined, lines: Array<[string, string]> = [], account?: string): RequestView<FakeReq> {
  const headers: Record<string, string> = {};
  for (const [name, value] of lines) headers[name.toLowerCase()] = value;
  const req = { method: 'GET', url: '/', headers, rawHeaders: lines.flat(), socket: { remoteAddress: peer } };
  return nodeView<FakeReq>(req, '/', { account }, async () => ({ kind: 'none' }));
}

const DENY_BODY = '{"message":"Your source IP is not on the account allowlist.","error":"ip_not_allowed"}';

function expectDenied(decision: Decision) {
  expect(decision.type).toBe('respond');
  if (decision.type !== 'respond') return;
  expect(decision.status).toBe(403);
  expect(decision.body).toBe(DENY_BODY);
  expect(decision.headers).toContainEqual(['content-type', 'application/json; charset=utf-8']);
}

function recorder() {
  const events: Array<IpDenyEvent<FakeReq>> = [];
  return { events, onDeny: (e: IpDenyEvent<FakeReq>) => events.push(e) };
}

describe('ipAllowlist guard', () => {
  it('lets listed clients through and denies the rest with the documented body', () => {
    const { events, onDeny } = recorder();
    const g = createIpAllowlist<FakeReq>({ allow: ['203.0.113.0/24'], onDeny });
    expect(g.check(view('203.0.113.9'))).toEqual({ type: 'next' });
    expect(g.check(view('::ffff:203.0.113.9'))).toEqual({ type: 'next' });
    expectDenied(g.check(view('198.51.100.1')) as Decision);
    expect(events).toEqual([
      expect.objectContaining({ reason: 'not_allowed', address: '198.51.100.1', request: expect.any(Object) }),
    ]);
  });

  it('denies everyone with an empty list, and reports why', () => {
    const { events, onDeny } = recorder();
    const g = createIpAllowlist<FakeReq>({ allow: [], onDeny });
    expectDenied(g.check(view('203.0.113.9')) as Decision);
    expect(events[0]?.reason).toBe('empty_list');
  });

  it('denies a request without a client address, and one with a malformed trusted header', () => {
    const { events, onDeny } = recorder();
    const g = createIpAllowlist<FakeReq>({ allow: ['0.0.0.0/0', '::/0'], trustProxy: ['10.0.0.0/8'], onDeny });
    expectDenied(g.check(view(undefined)) as Decision);
    const decision = g.check(view('10.0.0.1', [['X-Forwarded-For', '203.0.113.9, not-an-ip<script>']])) as Decision;
    expectDenied(decision);
    expect(JSON.stringify(decision)).not.toContain('not-an-ip');
    expect(events.map((e) => e.reason)).toEqual(['no_client_address', 'no_client_address']);
    expect(events[1]?.address).toBeUndefined();
  });

  it('denies, and does not throw, when the runtime cannot tell the peer (a view whose peer throws)', () => {
    const { events, onDeny } = recorder();
    const g = createIpAllowlist<FakeReq>({ allow: ['0.0.0.0/0', '::/0'], onDeny });
    const base = view('203.0.113.9');
    const unreadable: RequestView<FakeReq> = {
      method: base.method,
      path: base.path,
      query: base.query,
      request: base.request,
      header: (name) => base.header(name),
      headerLines: (name) => base.headerLines(name),
      body: () => base.body(),
      get peer(): string {
        throw new Error('socket gone');
      },
    };
    expectDenied(g.check(unreadable) as Decision);
    expect(events.map((e) => e.reason)).toEqual(['no_client_address']);
  });

  it('a throwing onDeny does not change the answer', () => {
    const g = createIpAllowlist<FakeReq>({
      allow: ['203.0.113.0/24'],
      onDeny: () => {
        throw new Error('logger down');
      },
    });
    expectDenied(g.check(view('198.51.100.1')) as Decision);
  });

  it('takes an IpSet as is', () => {
    const set = new IpSet(['2001:db8::/32']);
    const g = createIpAllowlist({ allow: set });
    expect(g.check(view('2001:db8::1'))).toEqual({ type: 'next' });
    expectDenied(g.check(view('2001:db9::1')) as Decision);
  });

  it('returns an allowlist it already built unchanged', () => {
    const g = createIpAllowlist({ allow: ['10.0.0.1'] });
    expect(createIpAllowlist(g)).toBe(g);
  });
});

describe('ipAllowlist replace', () => {
  it('swaps the list; a bad list throws and the old list stays', () => {
    const g = createIpAllowlist({ allow: ['203.0.113.9'] });
    expect(g.check(view('203.0.113.9'))).toEqual({ type: 'next' });
    g.replace(['198.51.100.1']);
    expectDenied(g.check(view('203.0.113.9')) as Decision);
    expect(g.check(view('198.51.100.1'))).toEqual({ type: 'next' });
    expect(() => g.replace(['203.0.113.9', '203.0.113.0/33'])).toThrow(/ipAllowlist: replace\(list\)\[1\] "203\.0\.113\.0\/33" is refused/);
    expect(() => g.replace('203.0.113.9' as unknown as string[])).toThrow(TypeError);
    expect(g.check(view('198.51.100.1'))).toEqual({ type: 'next' });
    expectDenied(g.check(view('203.0.113.9')) as Decision);
    g.replace(new IpSet(['203.0.113.0/24']));
    expect(g.check(view('203.0.113.9'))).toEqual({ type: 'next' });
  });

  it('works detached from the allowlist object (as adapters expose it)', () => {
    const g = createIpAllowlist({ allow: ['203.0.113.9'] });
    const { replace } = g;
    replace(['198.51.100.1']);
    expect(g.check(view('198.51.100.1'))).toEqual({ type: 'next' });
  });

  it('is refused when allow is a function', () => {
    const g = createIpAllowlist({ allow: () => ['203.0.113.9'] });
    expect(() => g.replace(['198.51.100.1'])).toThrow(/replace\(\) needs a static allow list/);
  });
});

describe('ipAllowlist with a function of the request', () => {
  const lists: Record<string, string[]> = { a: ['203.0.113.1'], b: ['203.0.113.2'] };

  it('uses each request its own list', () => {
    const g = createIpAllowlist<FakeReq>({ allow: (req) => lists[req.account ?? ''] });
    expect(g.check(view('203.0.113.1', [], 'a'))).toEqual({ type: 'next' });
    expectDenied(g.check(view('203.0.113.2', [], 'a')) as Decision);
    expect(g.check(view('203.0.113.2', [], 'b'))).toEqual({ type: 'next' });
    expectDenied(g.check(view('203.0.113.1', [], 'b')) as Decision);
  });

  it('keeps each waiting request its own address while lists load out of order', async () => {
    const g = createIpAllowlist<FakeReq>({
      allow: (req) => new Promise((resolve) => setTimeout(() => resolve(lists[req.account ?? '']), req.account === 'a' ? 30 : 1)),
    });
    const slow = g.check(view('203.0.113.1', [], 'a'));
    const fast = g.check(view('203.0.113.1', [], 'b'));
    const after = g.check(view('203.0.113.2', [], 'b'));
    expect(await slow).toEqual({ type: 'next' });
    expectDenied(await fast);
    expect(await after).toEqual({ type: 'next' });
  });

  it.each([
    ['throws', () => {
      throw new Error('db down');
    }],
    ['rejects', () => Promise.reject(new Error('db down'))],
    ['returns nothing', () => undefined],
    ['returns null', () => null],
    ['returns a string', () => '203.0.113.1' as unknown as string[]],
    ['returns a list with a refused entry', () => ['203.0.113.1', 'x']],
  ])('denies (fail closed) when allow %s, and reports the cause', async (_name, allow) => {
    const { events, onDeny } = recorder();
    const g = createIpAllowlist<FakeReq>({ allow: allow as IpAllowlistOptions<FakeReq>['allow'], onDeny });
    expectDenied(await g.check(view('203.0.113.1')));
    expect(events).toHaveLength(1);
    expect(events[0]?.reason).toBe('list_unavailable');
    expect(events[0]?.address).toBe('203.0.113.1');
    expect(events[0]?.cause).toBeInstanceOf(Error);
  });

  it('names the refused entry of a returned list in the cause', () => {
    const { events, onDeny } = recorder();
    const g = createIpAllowlist<FakeReq>({ allow: () => ['203.0.113.1', '10.0.0.5/8'], onDeny });
    g.check(view('203.0.113.1'));
    expect(String((events[0]?.cause as Error | undefined)?.message)).toMatch(/the list returned by options\.allow\[1\] "10\.0\.0\.5\/8" is refused/);
  });

  it('compiles a list once per content, not per request', () => {
    let compiled = 0;
    const fresh = () => {
      const list = ['203.0.113.0/24', '2001:db8::/32'];
      const iterate = list[Symbol.iterator].bind(list);
      // The set is built by iterating the list; the cache key is computed without iterating.
      Object.defineProperty(list, Symbol.iterator, {
        value: () => {
          compiled++;
          return iterate();
        },
      });
      return list;
    };
    const g = createIpAllowlist<FakeReq>({ allow: fresh });
    for (let i = 0; i < 50; i++) expect(g.check(view('203.0.113.9'))).toEqual({ type: 'next' });
    expect(compiled).toBe(1);
  });

  it('keeps at most cacheSize compiled lists', () => {
    let compiled = 0;
    const g = createIpAllowlist<FakeReq>({
      cacheSize: 2,
      allow: (req) => {
        const list = [`203.0.113.${req.account}`];
        const iterate = list[Symbol.iterator].bind(list);
        Object.defineProperty(list, Symbol.iterator, {
          value: () => {
            compiled++;
            return iterate();
          },
        });
        return list;
      },
    });
    for (const account of ['1', '2', '1', '2', '3', '1']) g.check(view(`203.0.113.${account}`, [], account));
    // 1, 2 compiled; 1, 2 cached; 3 evicts 1; 1 compiled again.
    expect(compiled).toBe(4);
  });
});

describe('ipAllowlist options', () => {
  it.each([
    [{}, /ipAllowlist: options\.allow must be a list/],
    [{ allow: '10.0.0.1' }, /ipAllowlist: options\.allow must be a list/],
    [{ allow: ['10.0.0.1', '10.0.0.5/8'] }, /ipAllowlist: options\.allow\[1\] "10\.0\.0\.5\/8" is refused: host bits are set/],
    [{ allow: ['010.0.0.1'] }, /ipAllowlist: options\.allow\[0\] "010\.0\.0\.1" is refused/],
    [{ allow: [], onDeny: 'log' }, /ipAllowlist: options\.onDeny must be a function/],
    [{ allow: [], cacheSize: 0 }, /ipAllowlist: options\.cacheSize must be a positive integer/],
    [{ allow: [], trustProxy: ['10.0.0.0/8', 'lan'] }, /ipAllowlist: options\.trustProxy\[1\] "lan" is refused/],
    [{ allow: [], trustProxy: -1 }, /ipAllowlist: options\.trustProxy must be/],
    [{ allow: [], forwarded: 1 }, /ipAllowlist: options\.forwarded must be a boolean/],
  ])('refuses %j', (options, message) => {
    expect(() => createIpAllowlist(options as IpAllowlistOptions)).toThrow(TypeError);
    expect(() => createIpAllowlist(options as IpAllowlistOptions)).toThrow(message);
  });

  it('refuses a missing options object', () => {
    expect(() => createIpAllowlist(undefined as unknown as IpAllowlistOptions)).toThrow(/ipAllowlist: options must be an object/);
  });
});
