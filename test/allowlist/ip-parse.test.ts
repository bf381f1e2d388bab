import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, newIpValue, parseAddress, parseInto } from '../../src/allowlist/ip-parse.js';

function canonical(text: string): string | undefined {
  const value = newIpValue();
  return parseInto(text, 0, text.length, value) ? formatIp(value) : undefined;
}

describe('parseAddress', () => {
  it('parses canonical IPv4 to four bytes', () => {
    expect(parseAddress('10.0.0.1')).toEqual({ version: 4, bytes: new Uint8Array([10, 0, 0, 1]) });
    expect(parseAddress('255.255.255.255')).toEqual({ version: 4, bytes: new Uint8Array([255, 255, 255, 255]) });
    expect(parseAddress('0.0.0.0')).toEqual({ version: 4, bytes: new Uint8Array([0, 0, 0, 0]) });
  });

  it('turns IPv4-mapped IPv6, dotted or hex, into IPv4', () => {
    expect(parseAddress('::ffff:10.0.0.1')).toEqual({ version: 4, bytes: new Uint8Array([10, 0, 0, 1]) });
    expect(parseAddress('::FFFF:0a00:0001')).toEqual({ version: 4, bytes: new Uint8Array([10, 0, 0, 1]) });
    expect(parseAddress('0:0:0:0:0:ffff:c0a8:101')).toEqual({ version: 4, bytes: new Uint8Array([192, 168, 1, 1]) });
  });

  it('keeps other embedded-IPv4 forms as IPv6', () => {
    expect(parseAddress('64:ff9b::1.2.3.4')?.version).toBe(6);
    expect(parseAddress('::1.2.3.4')?.version).toBe(6);
    expect(parseAddress('::fffe:1.2.3.4')?.version).toBe(6);
  });

  it('parses IPv6 to sixteen bytes in network order', () => {
    const parsed = parseAddress('2001:db8::ff00:42:8329');
    expect(parsed?.version).toBe(6);
    expect(Array.from(parsed!.bytes)).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42, 0x83, 0x29]);
  });

  it.each([
    ['010.0.0.1'],
    ['0x7f.0.0.1'],
    ['127.1'],
    ['1.2.3.04'],
    ['1.2.3.256'],
    ['1.2.3'],
    ['1.2.3.4.5'],
    ['1..2.3'],
    ['.1.2.3'],
    ['1.2.3.'],
    ['1.2.3.4 '],
    [' 1.2.3.4'],
    ['+1.2.3.4'],
    ['１.2.3.4'],
    [''],
    ['garbage'],
    ['fe80::1%eth0'],
    ['[::1]'],
    ['::1/128'],
    ['10.0.0.1:80'],
    ['1:2:3:4:5:6:7:8:9'],
    ['1:2:3:4:5:6:7'],
    ['1::2::3'],
    [':1:2:3:4:5:6:7'],
    ['1:2:3:4:5:6:7:'],
    ['12345::'],
    ['g::1'],
    [':::'],
    [':'],
    ['::ffff:1.2.3.04'],
    ['1:2:3:4:5:6:7:1.2.3.4'],
    ['1.2.3.4::'],
    [`${'1'.repeat(46)}`],
  ])('refuses %j', (text) => {
    expect(parseAddress(text)).toBeUndefined();
  });

  it('never throws on any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const parsed = parseAddress(text);
        if (parsed !== undefined && text.includes(':') && parsed.version === 6) expect(isIPv6(text)).toBe(true);
      }),
    );
    expect(parseAddress(undefined as unknown as string)).toBeUndefined();
  });
});

describe('canonical text', () => {
  it.each([
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  ])('%s is written %s', (input, output) => {
    expect(canonical(input)).toBe(output);
  });

  it('matches the WHATWG URL serialisation of random IPv6 addresses, and parses back to itself', () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const full = groups.map((g) => g.toString(16)).join(':');
        const text = canonical(full);
        if (groups.slice(0, 6).join(',') === '0,0,0,0,0,65535') {
          expect(text).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
          return;
        }
        expect(text).toBe(new URL(`http://[${full}]/`).hostname.slice(1, -1));
        expect(canonical(text!)).toBe(text);
      }),
    );
  });
});
