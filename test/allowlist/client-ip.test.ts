import { describe, expect, it } from 'vitest';
import { type ClientIpOptions, createClientIpResolver } from '../../src/allowlist/client-ip.js';
import { IpSet } from '../../src/allowlist/ip-set.js';
import { nodeView } from '../../src/guard/node-view.js';

/** A request as Node.js presents it: `rawHeaders` keeps separate lines, `headers` joins them. */
function request(peer: string | undefined, lines: Array<[string, string]> = []) {
  const headers: Record<string, string> = {};
  for (const [name, value] of lines) {
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
  const req = { method: 'GET', url: '/', headers, rawHeaders: lines.flat(), socket: { remoteAddress: peer } };
  return nodeView(req, '/', req, async () => ({ kind: 'none' as const }));
}

function resolve(options: ClientIpOptions, peer: string | undefined, lines: Array<[string, string]> = []) {
  return createClientIpResolver(options, 'test')(request(peer, lines));
}

const PROXY = ['10.0.0.0/8'];

describe('client address without trusted proxies', () => {
  it('is the socket peer, in canonical form', () => {
    expect(resolve({}, '203.0.113.9')).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({}, '::ffff:203.0.113.9')).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({}, '2001:DB8:0:0::1')).toEqual({ ok: true, address: '2001:db8::1' });
  });

  it('ignores every forwarding header', () => {
    const spoof: Array<[string, string]> = [
      ['X-Forwarded-For', '198.51.100.1'],
      ['Forwarded', 'for=198.51.100.1'],
      ['X-Real-IP', '198.51.100.1'],
      ['CF-Connecting-IP', '198.51.100.1'],
    ];
    expect(resolve({}, '203.0.113.9', spoof)).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({ forwarded: true }, '203.0.113.9', spoof)).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({ trustProxy: 0 }, '203.0.113.9', spoof)).toEqual({ ok: true, address: '203.0.113.9' });
  });

  it('fails without a peer or with a malformed one', () => {
    expect(resolve({}, undefined)).toEqual({ ok: false, reason: expect.stringMatching(/unknown/) });
    expect(resolve({}, '')).toMatchObject({ ok: false });
    expect(resolve({}, 'not-an-ip')).toMatchObject({ ok: false });
  });

  it('drops the zone id of a link-local peer', () => {
    expect(resolve({}, 'fe80::1%eth0')).toEqual({ ok: true, address: 'fe80::1' });
  });
});

describe('client address behind trusted proxies (X-Forwarded-For)', () => {
  it('ignores the header when the peer is not trusted', () => {
    expect(resolve({ trustProxy: PROXY }, '203.0.113.9', [['X-Forwarded-For', '10.0.0.1']])).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({ trustProxy: PROXY }, '203.0.113.9', [['X-Forwarded-For', 'garbage']])).toEqual({ ok: true, address: '203.0.113.9' });
  });

  it('walks from the right, skipping trusted addresses', () => {
    const lines: Array<[string, string]> = [['X-Forwarded-For', '198.51.100.1, 203.0.113.9, 10.1.1.1']];
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2', lines)).toEqual({ ok: true, address: '203.0.113.9' });
  });

  it('a spoofed address prepended by the client is never reached', () => {
    const lines: Array<[string, string]> = [['X-Forwarded-For', '10.9.9.9, garbage, 203.0.113.9']];
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2', lines)).toEqual({ ok: true, address: '203.0.113.9' });
  });

  it('reads several header lines as one list, in order', () => {
    const lines: Array<[string, string]> = [
      ['X-Forwarded-For', '198.51.100.1'],
      ['X-Forwarded-For', '203.0.113.9, 10.2.2.2'],
    ];
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2', lines)).toEqual({ ok: true, address: '203.0.113.9' });
    const split: Array<[string, string]> = [
      ['X-Forwarded-For', '203.0.113.9'],
      ['X-Forwarded-For', '10.2.2.2'],
    ];
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2', split)).toEqual({ ok: true, address: '203.0.113.9' });
  });

  it('is the peer without the header, and the leftmost address when all are trusted', () => {
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2')).toEqual({ ok: true, address: '10.0.0.2' });
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2', [['X-Forwarded-For', '10.3.3.3, 10.4.4.4']])).toEqual({ ok: true, address: '10.3.3.3' });
  });

  it('skips empty list members and optional whitespace', () => {
    const lines: Array<[string, string]> = [['X-Forwarded-For', ' ,203.0.113.9 ,\t, 10.2.2.2 , ']];
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2', lines)).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2', [['X-Forwarded-For', ',']])).toEqual({ ok: true, address: '10.0.0.2' });
  });

  it('normalises mapped and IPv6 addresses in the header', () => {
    expect(resolve({ trustProxy: PROXY }, '::ffff:10.0.0.2', [['X-Forwarded-For', '::ffff:203.0.113.9']])).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({ trustProxy: PROXY }, '10.0.0.2', [['X-Forwarded-For', '2001:DB8::1']])).toEqual({ ok: true, address: '2001:db8::1' });
  });

  it.each([['garbage'], ['203.0.113.9:4711'], ['[2001:db8::1]'], ['010.0.0.1'], ['unknown'], ['fe80::1%eth0']])(
    'fails closed on %j where the walk has to read it',
    (bad) => {
      const result = resolve({ trustProxy: PROXY }, '10.0.0.2', [['X-Forwarded-For', `198.51.100.1, ${bad}, 10.5.5.5`]]);
      expect(result).toEqual({ ok: false, reason: 'X-Forwarded-For holds a malformed address' });
    },
  );

  it('takes an IpSet and the keywords', () => {
    expect(resolve({ trustProxy: new IpSet(PROXY) }, '10.0.0.2', [['X-Forwarded-For', '203.0.113.9']])).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({ trustProxy: ['loopback'] }, '127.0.0.1', [['X-Forwarded-For', '203.0.113.9']])).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({ trustProxy: ['loopback'] }, '::1', [['X-Forwarded-For', '203.0.113.9']])).toEqual({ ok: true, address: '203.0.113.9' });
  });

  it('an empty trust list trusts no one', () => {
    expect(resolve({ trustProxy: [] }, '10.0.0.2', [['X-Forwarded-For', '203.0.113.9']])).toEqual({ ok: true, address: '10.0.0.2' });
  });
});

describe('client address by hop count', () => {
  const lines: Array<[string, string]> = [['X-Forwarded-For', '198.51.100.1, 203.0.113.9, 192.0.2.1']];
  it('believes the n nearest hops whatever their address', () => {
    expect(resolve({ trustProxy: 1 }, '192.0.2.200', lines)).toEqual({ ok: true, address: '192.0.2.1' });
    expect(resolve({ trustProxy: 2 }, '192.0.2.200', lines)).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve({ trustProxy: 3 }, '192.0.2.200', lines)).toEqual({ ok: true, address: '198.51.100.1' });
    expect(resolve({ trustProxy: 9 }, '192.0.2.200', lines)).toEqual({ ok: true, address: '198.51.100.1' });
  });
});

describe('client address from RFC 7239 Forwarded', () => {
  const opts = { trustProxy: PROXY, forwarded: true };

  it('walks the for= nodes from the right', () => {
    const lines: Array<[string, string]> = [['Forwarded', 'for=198.51.100.1;proto=https, for="[2001:db8:cafe::17]:4711";by=10.0.0.3, For=10.7.7.7']];
    expect(resolve(opts, '10.0.0.2', lines)).toEqual({ ok: true, address: '2001:db8:cafe::17' });
  });

  it('accepts ports, quoted strings with escapes, and several lines', () => {
    expect(resolve(opts, '10.0.0.2', [['Forwarded', 'for="203.0.113.9:80"']])).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve(opts, '10.0.0.2', [['Forwarded', 'for="203.0.113\\.9"']])).toEqual({ ok: true, address: '203.0.113.9' });
    expect(resolve(opts, '10.0.0.2', [['Forwarded', 'for=203.0.113.9'], ['Forwarded', 'for=10.1.1.1;proto=http']])).toEqual({ ok: true, address: '203.0.113.9' });
  });

  it('ignores X-Forwarded-For when reading Forwarded', () => {
    expect(resolve(opts, '10.0.0.2', [['X-Forwarded-For', '198.51.100.1']])).toEqual({ ok: true, address: '10.0.0.2' });
  });

  it.each([
    ['for=unknown'],
    ['for=_hidden'],
    ['proto=https'],
    ['for=203.0.113.9;for=198.51.100.1'],
    ['for="unterminated'],
    ['for=[2001:db8::1]'],
    ['for="[2001:db8::1"'],
    ['for="203.0.113.9:port"'],
    ['for=2001'],
    ['for=203.0.113.9 junk'],
    ['=203.0.113.9'],
  ])('fails closed on %j', (value) => {
    expect(resolve(opts, '10.0.0.2', [['Forwarded', `${value}, for=10.1.1.1`]])).toMatchObject({ ok: false });
  });
});

describe('createClientIpResolver options', () => {
  it.each([
    [{ trustProxy: -1 }, /test: options\.trustProxy must be/],
    [{ trustProxy: 1.5 }, /test: options\.trustProxy must be/],
    [{ trustProxy: '10.0.0.0/8' }, /test: options\.trustProxy must be/],
    [{ trustProxy: ['10.0.0.0/8', '10.0.0.1/33'] }, /test: options\.trustProxy\[1\] "10\.0\.0\.1\/33" is refused/],
    [{ forwarded: 'yes' }, /test: options\.forwarded must be a boolean/],
  ])('refuses %j', (options, message) => {
    expect(() => createClientIpResolver(options as ClientIpOptions, 'test')).toThrow(TypeError);
    expect(() => createClientIpResolver(options as ClientIpOptions, 'test')).toThrow(message);
  });

  it('refuses a non-object', () => {
    expect(() => createClientIpResolver(null as unknown as ClientIpOptions, 'test')).toThrow(/test: options must be an object/);
  });
});
