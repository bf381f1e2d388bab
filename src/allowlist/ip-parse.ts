/**
 * Strict IPv4 and IPv6 address parsing without allocation on the request path.
 *
 * IPv4 is accepted only in canonical dotted-quad form: four decimal octets 0-255 without leading zeros
 * (`010.0.0.1`, `0x7f.0.0.1`, `127.1`, `1.2.3.04` are refused, as the inet_aton forms that some software
 * still accepts would let one address be written many ways). IPv6 follows RFC 4291 text forms (hex groups of
 * one to four digits, at most one `::`, an optional dotted IPv4 tail), case-insensitive; zone ids (`%eth0`),
 * brackets and ports are refused.
 */

/**
 * A parsed address in one fixed shape (so that the hot path stays monomorphic).
 * IPv4: the address as an unsigned 32-bit number in `a` (`b`, `c`, `d` are 0).
 * IPv6: four unsigned 32-bit words, most significant first.
 * @internal
 */
export interface IpValue {
  version: 4 | 6;
  a: number;
  b: number;
  c: number;
  d: number;
}

/** A new, zeroed {@link IpValue} to parse into. @internal */
export function newIpValue(): IpValue {
  return { version: 4, a: 0, b: 0, c: 0, d: 0 };
}

/** Longest text form of an IPv6 address (with an IPv4 tail); anything longer is refused unread. */
const MAX_TEXT = 45;

/** Scratch for the eight 16-bit groups of an IPv6 address (parsing is synchronous, so one suffices). */
const groups = new Uint16Array(8);

/**
 * Parses canonical dotted-quad IPv4 in `text[start, end)`.
 * @returns the address as an unsigned 32-bit number, or -1 when malformed
 * @internal
 */
export function parseV4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let leadingZero = false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      dots++;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (leadingZero && digits === 1) return -1;
      if (digits === 0) leadingZero = c === 48;
      octet = octet * 10 + (c - 48);
      digits++;
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses IPv6 text in `text[start, end)` into `out` (version 6, never normalised).
 * @returns false when malformed (then `out` is unspecified)
 * @internal
 */
export function parseV6(text: string, start: number, end: number, out: IpValue): boolean {
  if (end - start < 2 || end - start > MAX_TEXT) return false;
  let i = start;
  let n = 0;
  let compress = -1;
  if (text.charCodeAt(i) === 58) {
    if (text.charCodeAt(i + 1) !== 58) return false;
    i += 2;
    compress = 0;
  }
  while (i < end) {
    if (n === 8) return false;
    let j = i;
    let value = 0;
    while (j < end) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      j++;
      if (j - i > 4) return false;
    }
    if (j < end && text.charCodeAt(j) === 46) {
      // Dotted IPv4 tail: the last 32 bits.
      if (n > 6) return false;
      const v4 = parseV4(text, i, end);
      if (v4 < 0) return false;
      groups[n++] = Math.floor(v4 / 65536);
      groups[n++] = v4 % 65536;
      i = end;
      break;
    }
    if (j === i) return false;
    groups[n++] = value;
    if (j === end) {
      i = j;
      break;
    }
    if (text.charCodeAt(j) !== 58) return false;
    j++;
    if (j < end && text.charCodeAt(j) === 58) {
      if (compress >= 0) return false;
      compress = n;
      j++;
    } else if (j === end) {
      return false;
    }
    i = j;
  }
  if (compress < 0) {
    if (n !== 8) return false;
  } else {
    if (n > 7) return false;
    const tail = n - compress;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k]!;
    for (let k = compress; k < 8 - tail; k++) groups[k] = 0;
  }
  out.version = 6;
  out.a = groups[0]! * 65536 + groups[1]!;
  out.b = groups[2]! * 65536 + groups[3]!;
  out.c = groups[4]! * 65536 + groups[5]!;
  out.d = groups[6]! * 65536 + groups[7]!;
  return true;
}

/** True when `value` is an IPv6 address in the IPv4-mapped block `::ffff:0:0/96`. @internal */
export function isMapped(value: IpValue): boolean {
  return value.version === 6 && value.a === 0 && value.b === 0 && value.c === 0xffff;
}

/**
 * Parses an address in `text[start, end)` into `out`. IPv4-mapped IPv6 (`::ffff:10.0.0.1`) becomes IPv4.
 * @returns false when malformed
 * @internal
 */
export function parseInto(text: string, start: number, end: number, out: IpValue): boolean {
  if (end - start > MAX_TEXT) return false;
  let colon = false;
  for (let i = start; i < end; i++) {
    if (text.charCodeAt(i) === 58) {
      colon = true;
      break;
    }
  }
  if (!colon) {
    const v4 = parseV4(text, start, end);
    if (v4 < 0) return false;
    out.version = 4;
    out.a = v4;
    out.b = 0;
    out.c = 0;
    out.d = 0;
    return true;
  }
  if (!parseV6(text, start, end, out)) return false;
  if (isMapped(out)) {
    out.version = 4;
    out.a = out.d;
    out.b = 0;
    out.c = 0;
    out.d = 0;
  }
  return true;
}

/**
 * Parses one IP address strictly. IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is returned as version 4.
 *
 * @returns the version and the address bytes (4 or 16, network order), or `undefined` when `text` is not
 *   exactly one address (no CIDR suffix, port, brackets or zone id)
 * @example
 * ```ts
 * parseAddress('::ffff:10.0.0.1'); // { version: 4, bytes: Uint8Array [10, 0, 0, 1] }
 * parseAddress('2001:db8::1');     // { version: 6, bytes: Uint8Array(16) [...] }
 * parseAddress('010.0.0.1');       // undefined
 * ```
 */
export function parseAddress(text: string): { version: 4 | 6; bytes: Uint8Array } | undefined {
  if (typeof text !== 'string') return undefined;
  const value = newIpValue();
  if (!parseInto(text, 0, text.length, value)) return undefined;
  return { version: value.version, bytes: toBytes(value) };
}

/** The network-order bytes of a parsed address (4 for IPv4, 16 for IPv6). @internal */
export function toBytes(value: IpValue): Uint8Array {
  const words = value.version === 4 ? [value.a] : [value.a, value.b, value.c, value.d];
  const bytes = new Uint8Array(words.length * 4);
  words.forEach((word, i) => {
    bytes[i * 4] = Math.floor(word / 0x1000000) & 0xff;
    bytes[i * 4 + 1] = (word >>> 16) & 0xff;
    bytes[i * 4 + 2] = (word >>> 8) & 0xff;
    bytes[i * 4 + 3] = word & 0xff;
  });
  return bytes;
}

/**
 * The canonical text of a parsed address: dotted quad for IPv4, RFC 5952 for IPv6 (lower case, no
 * leading zeros, the longest run of two or more zero groups shortened to `::`).
 * @internal
 */
export function formatIp(value: IpValue): string {
  if (value.version === 4) return formatV4(value.a);
  const g = [
    value.a >>> 16,
    value.a & 0xffff,
    value.b >>> 16,
    value.b & 0xffff,
    value.c >>> 16,
    value.c & 0xffff,
    value.d >>> 16,
    value.d & 0xffff,
  ];
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLength))}`;
}

/** Dotted-quad text of an unsigned 32-bit IPv4 address. @internal */
export function formatV4(n: number): string {
  return `${Math.floor(n / 0x1000000) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}
