import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpSet } from '../../src/allowlist/ip-set.js';

describe('IpSet boundaries', () => {
  it('a single address matches only itself', () => {
    const set = new IpSet(['10.0.0.1']);
    expect(set.has('10.0.0.1')).toBe(true);
    expect(set.has('10.0.0.10')).toBe(false);
    expect(set.has('10.0.0.100')).toBe(false);
    expect(set.has('10.0.0.0')).toBe(false);
    expect(set.has('10.0.0.2')).toBe(false);
    expect(set.has('110.0.0.1')).toBe(false);
  });

  it('/32 and /128 are single addresses', () => {
    const set = new IpSet(['192.0.2.7/32', '2001:db8::7/128']);
    expect(set.has('192.0.2.7')).toBe(true);
    expect(set.has('192.0.2.6')).toBe(false);
    expect(set.has('192.0.2.8')).toBe(false);
    expect(set.has('2001:db8::7')).toBe(true);
    expect(set.has('2001:db8::6')).toBe(false);
    expect(set.has('2001:db8::8')).toBe(false);
  });

  it('/0 covers every address of its own version only', () => {
    const v4 = new IpSet(['0.0.0.0/0']);
    expect(v4.has('0.0.0.0')).toBe(true);
    expect(v4.has('255.255.255.255')).toBe(true);
    expect(v4.has('::ffff:1.2.3.4')).toBe(true);
    expect(v4.has('::1')).toBe(false);
    const v6 = new IpSet(['::/0']);
    expect(v6.has('::')).toBe(true);
    expect(v6.has('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(true);
    expect(v6.has('1.2.3.4')).toBe(false);
    expect(v6.has('::ffff:1.2.3.4')).toBe(false);
  });

  it('block edges are inclusive and the neighbours outside are not', () => {
    const set = new IpSet(['10.1.0.0/16', '2001:db8:1::/48']);
    expect(set.has('10.0.255.255')).toBe(false);
    expect(set.has('10.1.0.0')).toBe(true);
    expect(set.has('10.1.255.255')).toBe(true);
    expect(set.has('10.2.0.0')).toBe(false);
    expect(set.has('2001:db8:0:ffff:ffff:ffff:ffff:ffff')).toBe(false);
    expect(set.has('2001:db8:1::')).toBe(true);
    expect(set.has('2001:db8:1:ffff:ffff:ffff:ffff:ffff')).toBe(true);
    expect(set.has('2001:db8:2::')).toBe(false);
  });

  it('ranges include both ends', () => {
    const set = new IpSet(['10.0.0.5-10.0.0.9', '2001:db8::a-2001:db8::f']);
    expect(['10.0.0.4', '10.0.0.5', '10.0.0.9', '10.0.0.10'].map((a) => set.has(a))).toEqual([false, true, true, false]);
    expect(['2001:db8::9', '2001:db8::a', '2001:db8::f', '2001:db8::10'].map((a) => set.has(a))).toEqual([false, true, true, false]);
  });

  it('keywords name the loopback, link-local and unique-local blocks', () => {
    const set = new IpSet(['loopback']);
    expect(set.has('127.255.0.1')).toBe(true);
    expect(set.has('::1')).toBe(true);
    expect(set.has('10.0.0.1')).toBe(false);
    const local = new IpSet(['uniquelocal', 'linklocal']);
    expect(['10.9.9.9', '172.31.0.1', '192.168.3.3', 'fd00::1', '169.254.1.1', 'fe80::1'].every((a) => local.has(a))).toBe(true);
    expect(['172.32.0.1', '8.8.8.8', '2001:db8::1'].some((a) => local.has(a))).toBe(false);
  });

  it('overlapping and adjacent entries merge without losing anything', () => {
    const set = new IpSet(['10.0.0.0/24', '10.0.0.128/25', '10.0.1.0/24', '10.0.0.7', '10.0.3.0-10.0.3.255', '0.0.0.0', '255.255.255.255']);
    expect(set.has('10.0.0.0')).toBe(true);
    expect(set.has('10.0.1.255')).toBe(true);
    expect(set.has('10.0.2.0')).toBe(false);
    expect(set.has('10.0.3.77')).toBe(true);
    expect(set.has('0.0.0.0')).toBe(true);
    expect(set.has('255.255.255.255')).toBe(true);
    expect(set.has('255.255.255.254')).toBe(false);
    expect(set.size).toBe(7);
  });
});

describe('IpSet and IPv4-mapped IPv6', () => {
  it('a mapped client matches IPv4 entries', () => {
    const set = new IpSet(['10.0.0.0/8']);
    expect(set.has('::ffff:10.1.2.3')).toBe(true);
    expect(set.has('::ffff:a01:203')).toBe(true);
    expect(set.has('::ffff:11.1.2.3')).toBe(false);
  });

  it('a mapped entry is an IPv4 entry', () => {
    const set = new IpSet(['::ffff:10.0.0.1', '::ffff:192.168.0.0/112']);
    expect(set.has('10.0.0.1')).toBe(true);
    expect(set.has('::ffff:10.0.0.1')).toBe(true);
    expect(set.has('192.168.200.1')).toBe(true);
    expect(set.has('192.169.0.1')).toBe(false);
  });

  it('an IPv6 block that is not entirely mapped does not admit IPv4 clients', () => {
    const set = new IpSet(['::/64']);
    expect(set.has('::1')).toBe(true);
    expect(set.has('1.2.3.4')).toBe(false);
    expect(set.has('::ffff:1.2.3.4')).toBe(false);
  });
});

describe('IpSet refuses bad entries when it is built', () => {
  it.each([
    ['010.0.0.1', /canonical/],
    ['0x7f.0.0.1', /canonical/],
    ['127.1', /canonical/],
    ['1.2.3.04', /canonical/],
    ['10.0.0.0/33', /0-32/],
    ['2001:db8::/129', /0-128/],
    ['10.0.0.0/08', /leading zeros/],
    ['10.0.0.0/', /prefix/],
    ['10.0.0.0/-1', /./],
    ['', /empty/],
    ['garbage', /canonical/],
    ['fe80::1%eth0', /zone/],
    ['fe80::/10%eth0', /zone/],
    [' 10.0.0.1', /whitespace/],
    ['10.0.0.1\n', /whitespace/],
    ['[2001:db8::1]', /canonical/],
    ['10.0.0.5/8', /host bits are set \(the block is 10\.0\.0\.0\/8\)/],
    ['2001:db8::1/32', /host bits are set \(the block is 2001:db8::\/32\)/],
    ['10.0.0.9-10.0.0.1', /greater/],
    ['10.0.0.1-::1', /same IP version/],
    ['10.0.0.1-', /range/],
    ['10.0.0.1-10.0.0.2-10.0.0.3', /range/],
    ['__proto__', /canonical/],
    ['LOOPBACK', /canonical/],
  ])('%j', (entry, reason) => {
    let error: unknown;
    try {
      new IpSet(['10.9.9.9', '2001:db8::1', entry]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TypeError);
    const message = (error as TypeError).message;
    expect(message).toContain(`IpSet: entries[2] ${JSON.stringify(entry)}`);
    expect(message).toMatch(reason);
  });

  it('non-string entries and non-lists are refused with the index', () => {
    expect(() => new IpSet(['10.0.0.1', 42 as unknown as string])).toThrow(/entries\[1\] \(number\) is refused/);
    expect(() => new IpSet(null as unknown as string[])).toThrow(TypeError);
    expect(() => new IpSet('10.0.0.1' as unknown as string[])).toThrow(TypeError);
  });

  it('uses the given name, and truncates long entries', () => {
    expect(() => new IpSet(['x'.repeat(500)], { name: 'config.ips' })).toThrow(/^config\.ips\[0\] "x{60}\.\.\." is refused/);
  });

  it('an empty list builds an empty set', () => {
    const set = new IpSet([]);
    expect(set.empty).toBe(true);
    expect(set.has('0.0.0.0')).toBe(false);
    expect(set.has('::')).toBe(false);
  });
});

describe('IpSet.has never throws', () => {
  it('returns false for malformed addresses and non-strings', () => {
    const set = new IpSet(['0.0.0.0/0', '::/0']);
    for (const bad of ['', 'x', '010.0.0.1', '1.2.3.4/32', '::1%lo', '[::1]', '1.2.3.4:80', 'a'.repeat(10_000)]) {
      expect(set.has(bad)).toBe(false);
    }
    expect(set.has(undefined as unknown as string)).toBe(false);
    expect(set.has({} as unknown as string)).toBe(false);
  });
});

describe('IpSet agrees with a naive reference', () => {
  const v4Text = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  const v6Text = (n: bigint) => {
    const groups: string[] = [];
    for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((n >> shift) & 0xffffn).toString(16));
    return groups.join(':');
  };
  const block = (bits: number) => (base: bigint, prefix: number) => {
    const size = 1n << BigInt(bits - prefix);
    const start = base - (base % size);
    return { start, end: start + size - 1n, prefix };
  };

  it('IPv4: random blocks, random addresses near them and anywhere', () => {
    const make = block(32);
    const entry = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
      .map(([base, prefix]) => make(BigInt(base), prefix));
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: -2, max: 2 }), fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 40 }),
        (blocks, probes) => {
          const set = new IpSet(blocks.map((b) => `${v4Text(Number(b.start))}/${b.prefix}`));
          const addresses = probes.map(([pick, offset, random]) => {
            if (blocks.length === 0) return BigInt(random);
            const b = blocks[pick % blocks.length]!;
            const edge = pick % 2 === 0 ? b.start : b.end;
            const candidate = edge + BigInt(offset);
            return candidate < 0n || candidate > 0xffffffffn ? BigInt(random) : candidate;
          });
          for (const address of addresses) {
            const expected = blocks.some((b) => b.start <= address && address <= b.end);
            const text = v4Text(Number(address));
            expect(set.has(text), text).toBe(expected);
            expect(set.has(`::ffff:${text}`), `::ffff:${text}`).toBe(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('IPv6: random blocks, random addresses near them and anywhere', () => {
    const make = block(128);
    const max = (1n << 128n) - 1n;
    // Stay clear of ::ffff:0:0/96, which is IPv4.
    const base = fc.bigInt({ min: 1n << 112n, max });
    const entry = fc.tuple(base, fc.integer({ min: 0, max: 128 })).map(([b, prefix]) => make(b, prefix));
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 30 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: -2, max: 2 }), base), { maxLength: 30 }),
        (blocks, probes) => {
          const set = new IpSet(blocks.map((b) => `${v6Text(b.start)}/${b.prefix}`));
          for (const [pick, offset, random] of probes) {
            let address = random;
            if (blocks.length > 0) {
              const b = blocks[pick % blocks.length]!;
              const candidate = (pick % 2 === 0 ? b.start : b.end) + BigInt(offset);
              if (candidate >= 1n << 112n && candidate <= max) address = candidate;
            }
            const expected = blocks.some((b) => b.start <= address && address <= b.end);
            expect(set.has(v6Text(address)), v6Text(address)).toBe(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('IpSet at scale', () => {
  it('builds 100,000 mixed entries and answers exactly', () => {
    const entries: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      const n = (i * 2654435761) >>> 0;
      entries.push(i % 2 === 0 ? `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}` : `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.0/24`);
    }
    for (let i = 0; i < 50_000; i++) {
      entries.push(i % 2 === 0 ? `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1` : `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`);
    }
    const set = new IpSet(entries);
    expect(set.size).toBe(100_000);
    expect(set.has('2001:db8:0:3::ffff')).toBe(true);
    expect(set.has('2001:db8:0:2::1')).toBe(true);
    expect(set.has('2001:db8:0:2::2')).toBe(false);
    const n = (3 * 2654435761) >>> 0;
    expect(set.has(`${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.200`)).toBe(true);
    expect(set.has('3001:db8::1')).toBe(false);
  });
});
