import { formatIp, type IpValue, isMapped, newIpValue, parseInto, parseV4, parseV6 } from './ip-parse.js';

/** Options of an {@link IpSet}. */
export interface IpSetOptions {
  /**
   * How refused entries are named in the `TypeError` (the entry's index is appended as `[i]`).
   * @default 'IpSet: entries'
   * @example
   * ```ts
   * new IpSet(['10.0.0.0/33'], { name: 'config.adminIps' });
   * // TypeError: config.adminIps[0] "10.0.0.0/33" is refused: the prefix length must be 0-32 for IPv4
   * ```
   */
  name?: string;
}

/** Named groups of addresses accepted in an entry list besides addresses and blocks. */
const KEYWORDS: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

const MASK_32 = 0xffffffffn;

/**
 * An immutable set of IP addresses built from single addresses, CIDR blocks and ranges, IPv4 and IPv6.
 *
 * Entries (parsed strictly when the set is built; a refused entry throws a `TypeError` naming it and its index):
 * - an address: `10.0.0.1`, `2001:db8::1`;
 * - a CIDR block: `10.0.0.0/8`, `2001:db8::/32`. A block with host bits set (`10.0.0.5/8`) is **refused**, not
 *   normalised, since it usually means a typo that silently widens or narrows the rule; the message names the
 *   block that was probably meant (`10.0.0.0/8`);
 * - a range: `10.0.0.1-10.0.0.9` (both ends included, same IP version, first <= last);
 * - the keywords `loopback`, `linklocal`, `uniquelocal` (IPv4 and IPv6 blocks of those names).
 *
 * Refused: non-canonical IPv4 (`010.0.0.1`, `0x7f.0.0.1`, `127.1`, `1.2.3.04`), prefixes out of range
 * (`/33`, `/129`, `/08`), empty strings, surrounding whitespace, zone ids (`fe80::1%eth0`), brackets, ports.
 *
 * IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is IPv4: as an address to look up it matches IPv4 entries, and as an
 * entry (or a block within `::ffff:0:0/96`) it is stored as IPv4. An IPv6 block such as `::/0` never admits
 * IPv4 clients, mapped or not.
 *
 * Lookups are a binary search over merged, sorted ranges: their cost grows with the logarithm of the number of
 * distinct ranges, not with the number of entries, and `has` never throws (a malformed address is not in the set).
 *
 * @example
 * ```ts
 * const office = new IpSet(['203.0.113.0/24', '2001:db8::/48', '198.51.100.7']);
 * office.has('203.0.113.9');        // true
 * office.has('::ffff:203.0.113.9'); // true (IPv4-mapped)
 * office.has('not an address');     // false
 * ```
 */
export class IpSet {
  /** Number of entries the set was built from. */
  readonly size: number;
  /** IPv4: sorted, disjoint, non-adjacent ranges (inclusive). */
  private readonly v4Starts: Uint32Array;
  private readonly v4Ends: Uint32Array;
  /** IPv6: the same, four 32-bit words per bound. */
  private readonly v6Starts: Uint32Array;
  private readonly v6Ends: Uint32Array;
  private readonly scratch: IpValue = newIpValue();

  /**
   * @param entries addresses, CIDR blocks, `first-last` ranges and keywords (see the class description)
   * @throws TypeError naming the first refused entry and its index
   */
  constructor(entries: Iterable<string>, options: IpSetOptions = {}) {
    const name = options.name ?? 'IpSet: entries';
    if (entries === null || typeof entries !== 'object' || typeof (entries as Iterable<string>)[Symbol.iterator] !== 'function') {
      throw new TypeError(`${name} must be an array of IP addresses, CIDR blocks or ranges`);
    }
    const v4: number[] = [];
    const v6: bigint[] = [];
    let index = 0;
    for (const entry of entries) {
      const refused = addEntry(entry, v4, v6);
      if (refused !== undefined) throw new TypeError(`${name}[${index}] ${quote(entry)} is refused: ${refused}`);
      index++;
    }
    this.size = index;
    [this.v4Starts, this.v4Ends] = mergeV4(v4);
    [this.v6Starts, this.v6Ends] = mergeV6(v6);
  }

  /** True when the set holds no address at all. */
  get empty(): boolean {
    return this.v4Starts.length === 0 && this.v6Starts.length === 0;
  }

  /**
   * Whether `address` is in the set. A malformed address (or anything that is not a string) gives false.
   * @example
   * ```ts
   * new IpSet(['10.0.0.1']).has('10.0.0.10'); // false
   * ```
   */
  has(address: string): boolean {
    if (typeof address !== 'string') return false;
    const value = this.scratch;
    if (!parseInto(address, 0, address.length, value)) return false;
    return this.hasValue(value);
  }

  /** Whether an already parsed address is in the set (IPv4-mapped must be normalised to IPv4). @internal */
  hasValue(value: IpValue): boolean {
    if (value.version === 4) {
      const starts = this.v4Starts;
      const x = value.a;
      let lo = 0;
      let hi = starts.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= x) lo = mid + 1;
        else hi = mid - 1;
      }
      return hi >= 0 && x <= this.v4Ends[hi]!;
    }
    const starts = this.v6Starts;
    let lo = 0;
    let hi = (starts.length >>> 2) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(starts, mid << 2, value) <= 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && compare(this.v6Ends, hi << 2, value) >= 0;
  }
}

/** Compares the bound at `words[at..at+3]` with `value`: negative, zero or positive. */
function compare(words: Uint32Array, at: number, value: IpValue): number {
  let d = words[at]! - value.a;
  if (d !== 0) return d;
  d = words[at + 1]! - value.b;
  if (d !== 0) return d;
  d = words[at + 2]! - value.c;
  if (d !== 0) return d;
  return words[at + 3]! - value.d;
}

function quote(entry: unknown): string {
  if (typeof entry !== 'string') return `(${entry === null ? 'null' : typeof entry})`;
  const text = entry.length > 60 ? `${entry.slice(0, 60)}...` : entry;
  return JSON.stringify(text);
}

function toBigInt(value: IpValue): bigint {
  return (BigInt(value.a) << 96n) | (BigInt(value.b) << 64n) | (BigInt(value.c) << 32n) | BigInt(value.d);
}

const entryValue = newIpValue();
const rangeEnd = newIpValue();

/** Parses one entry and appends its range(s). @returns why the entry is refused, or undefined */
function addEntry(entry: unknown, v4: number[], v6: bigint[]): string | undefined {
  if (typeof entry !== 'string') return 'an entry must be a string';
  if (entry.length === 0) return 'the entry is empty';
  if (entry.trim() !== entry) return 'surrounding whitespace is not allowed';
  if (Object.hasOwn(KEYWORDS, entry)) {
    for (const block of KEYWORDS[entry]!) addEntry(block, v4, v6);
    return undefined;
  }
  if (entry.includes('%')) return 'zone ids (%...) are not allowed';
  const dash = entry.indexOf('-');
  if (dash !== -1) return addRange(entry, dash, v4, v6);
  const slash = entry.indexOf('/');
  if (slash === -1) {
    if (!parseInto(entry, 0, entry.length, entryValue)) return 'not an IPv4 or IPv6 address in canonical form';
    push(entryValue, entryValue, v4, v6);
    return undefined;
  }
  const prefixText = entry.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return 'the prefix length must be a decimal number without leading zeros';
  const prefix = Number(prefixText);
  if (entry.indexOf(':') === -1 || entry.indexOf(':') > slash) {
    const address = parseV4(entry, 0, slash);
    if (address < 0) return 'not an IPv4 or IPv6 address in canonical form';
    if (prefix > 32) return 'the prefix length must be 0-32 for IPv4';
    const size = 2 ** (32 - prefix);
    const start = address - (address % size);
    if (start !== address) return `host bits are set (the block is ${formatBlock4(start, prefix)})`;
    v4.push(start, start + size - 1);
    return undefined;
  }
  if (!parseV6(entry, 0, slash, entryValue)) return 'not an IPv4 or IPv6 address in canonical form';
  if (prefix > 128) return 'the prefix length must be 0-128 for IPv6';
  const address = toBigInt(entryValue);
  const size = 1n << BigInt(128 - prefix);
  const start = address - (address % size);
  if (start !== address) return `host bits are set (the block is ${formatBlock6(start, prefix)})`;
  if (isMapped(entryValue) && prefix >= 96) {
    const start4 = Number(start & MASK_32);
    v4.push(start4, start4 + Number(size) - 1);
  } else {
    v6.push(start, start + size - 1n);
  }
  return undefined;
}

function addRange(entry: string, dash: number, v4: number[], v6: bigint[]): string | undefined {
  if (!parseInto(entry, 0, dash, entryValue) || !parseInto(entry, dash + 1, entry.length, rangeEnd)) {
    return 'a range is two addresses in canonical form joined by "-"';
  }
  if (entryValue.version !== rangeEnd.version) return 'both ends of a range must be of the same IP version';
  const ordered = entryValue.version === 4 ? entryValue.a <= rangeEnd.a : toBigInt(entryValue) <= toBigInt(rangeEnd);
  if (!ordered) return 'the first address of a range must not be greater than the last';
  push(entryValue, rangeEnd, v4, v6);
  return undefined;
}

function push(first: IpValue, last: IpValue, v4: number[], v6: bigint[]): void {
  if (first.version === 4) v4.push(first.a, last.a);
  else v6.push(toBigInt(first), toBigInt(last));
}

function formatBlock4(start: number, prefix: number): string {
  return `${Math.floor(start / 0x1000000)}.${(start >>> 16) & 0xff}.${(start >>> 8) & 0xff}.${start & 0xff}/${prefix}`;
}

function formatBlock6(start: bigint, prefix: number): string {
  const value: IpValue = {
    version: 6,
    a: Number((start >> 96n) & MASK_32),
    b: Number((start >> 64n) & MASK_32),
    c: Number((start >> 32n) & MASK_32),
    d: Number(start & MASK_32),
  };
  return `${formatIp(value)}/${prefix}`;
}

/** Sorts and merges IPv4 ranges (flat start/end pairs) into disjoint, non-adjacent ranges. */
function mergeV4(flat: number[]): [Uint32Array, Uint32Array] {
  const count = flat.length / 2;
  const order = Array.from({ length: count }, (_, i) => i);
  order.sort((x, y) => flat[2 * x]! - flat[2 * y]!);
  const starts: number[] = [];
  const ends: number[] = [];
  for (const i of order) {
    const s = flat[2 * i]!;
    const e = flat[2 * i + 1]!;
    const last = ends.length - 1;
    if (last >= 0 && s <= ends[last]! + 1) {
      if (e > ends[last]!) ends[last] = e;
    } else {
      starts.push(s);
      ends.push(e);
    }
  }
  return [Uint32Array.from(starts), Uint32Array.from(ends)];
}

/** Sorts and merges IPv6 ranges into four-word bounds. */
function mergeV6(flat: bigint[]): [Uint32Array, Uint32Array] {
  const count = flat.length / 2;
  const order = Array.from({ length: count }, (_, i) => i);
  order.sort((x, y) => {
    const a = flat[2 * x]!;
    const b = flat[2 * y]!;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  const starts: bigint[] = [];
  const ends: bigint[] = [];
  for (const i of order) {
    const s = flat[2 * i]!;
    const e = flat[2 * i + 1]!;
    const last = ends.length - 1;
    if (last >= 0 && s <= ends[last]! + 1n) {
      if (e > ends[last]!) ends[last] = e;
    } else {
      starts.push(s);
      ends.push(e);
    }
  }
  return [toWords(starts), toWords(ends)];
}

function toWords(values: bigint[]): Uint32Array {
  const words = new Uint32Array(values.length * 4);
  values.forEach((v, i) => {
    words[i * 4] = Number((v >> 96n) & MASK_32);
    words[i * 4 + 1] = Number((v >> 64n) & MASK_32);
    words[i * 4 + 2] = Number((v >> 32n) & MASK_32);
    words[i * 4 + 3] = Number(v & MASK_32);
  });
  return words;
}
