import type { RequestView } from '../guard/types.js';
import { formatIp, type IpValue, newIpValue, parseInto } from './ip-parse.js';
import { IpSet } from './ip-set.js';

/**
 * Which proxies in front of the application are believed when they say who the client is.
 * - A list of addresses, CIDR blocks, ranges or the keywords `loopback`, `linklocal`, `uniquelocal` (or an
 *   {@link IpSet}): **recommended**. Only a peer in the list is believed, and the walk through the forwarding
 *   header skips only addresses in the list.
 * - A hop count `n`: the `n` nearest hops (the socket peer being the first) are believed whatever their address.
 *   Weaker: it is right only while the number of proxies never changes, and a request that reaches the
 *   application without passing through them can choose its own address. `0` trusts no one.
 */
export type TrustProxy = ReadonlyArray<string> | IpSet | number;

/** How the client address of a request is found. */
export interface ClientIpOptions {
  /**
   * Proxies whose forwarding headers are believed. Without it the socket peer is the client and every
   * forwarding header (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`, `CF-Connecting-IP`, ...) is ignored.
   * @default undefined (trust no one: the socket peer is the client)
   * @example
   * ```ts
   * trustProxy: ['10.0.0.0/8', 'loopback'] // a load balancer on the private network, a sidecar on loopback
   * ```
   */
  trustProxy?: TrustProxy;
  /**
   * Read RFC 7239 `Forwarded` (`for=` parameters) instead of `X-Forwarded-For`. Only takes effect with
   * `trustProxy`.
   * @default false
   * @example
   * ```ts
   * { trustProxy: ['10.0.0.0/8'], forwarded: true }
   * ```
   */
  forwarded?: boolean;
}

/** The client address of one request, or why there is none. */
export type ClientAddress =
  /** `address`: canonical text; IPv4-mapped IPv6 is returned as plain IPv4. */
  | { ok: true; address: string }
  /** No peer address, or a malformed address where the walk had to read one (fail closed). */
  | { ok: false; reason: string };

/**
 * Resolves a request to its parsed client address in `out`.
 * @returns undefined on success, else why there is no address (for logs; never sent to the client)
 * @internal
 */
export type ResolveInto = (view: RequestView<any>, out: IpValue) => string | undefined;

/** A compiled {@link ResolveInto} and what it depends on. @internal */
export type CompiledClientIp = ResolveInto & {
  /** True when no proxy is trusted: the answer depends on the socket peer alone, never on a header. */
  readonly peerOnly: boolean;
};

/**
 * Builds the function that finds the client address of a request:
 * - without `trustProxy`, or when the socket peer is not trusted: the socket peer;
 * - when the peer is trusted: `X-Forwarded-For` (several header lines read as one list, in order) or, with
 *   `forwarded: true`, the `for=` of RFC 7239 `Forwarded` is walked from the right, skipping trusted
 *   addresses; the first untrusted one is the client. When every address is trusted the leftmost one is the
 *   client; without the header, the peer is.
 *
 * Every address the walk reads is parsed strictly: a malformed one (garbage, a port in `X-Forwarded-For`,
 * `for=unknown`, an obfuscated node) gives `{ ok: false }`, and so do a missing peer and a malformed peer.
 * Addresses left of the client are never read. A zone id on the socket peer (`fe80::1%eth0`) is dropped.
 *
 * Options are validated and compiled once, here: call it when a middleware is built, not per request.
 *
 * @param name prefixes the messages of `TypeError`s, e.g. `rateLimit`
 * @throws TypeError naming `${name}: options.trustProxy` (or `.forwarded`) when an option is invalid
 * @example
 * ```ts
 * const clientIp = createClientIpResolver({ trustProxy: ['10.0.0.0/8'] }, 'myGuard');
 * const result = clientIp(view);
 * if (result.ok) console.log(result.address); // '203.0.113.7'
 * ```
 */
export function createClientIpResolver(options: ClientIpOptions, name: string): (view: RequestView<any>) => ClientAddress {
  const resolve = compileClientIp(options, name);
  const out = newIpValue();
  return (view) => {
    const reason = resolve(view, out);
    return reason === undefined ? { ok: true, address: formatIp(out) } : { ok: false, reason };
  };
}

/**
 * Validates the options and compiles them into a resolver that parses into a caller-owned value (no
 * allocation beyond what reading the headers costs). The resolver never throws: a view it cannot read
 * gives a reason, like any other request without a client address.
 * @internal
 */
export function compileClientIp(options: ClientIpOptions, name: string): CompiledClientIp {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${name}: options must be an object`);
  const { trustProxy, forwarded = false } = options;
  if (typeof forwarded !== 'boolean') throw new TypeError(`${name}: options.forwarded must be a boolean`);
  let trusted: IpSet | undefined;
  let hops = 0;
  if (trustProxy === undefined) {
    hops = 0;
  } else if (typeof trustProxy === 'number') {
    if (!Number.isSafeInteger(trustProxy) || trustProxy < 0) {
      throw new TypeError(`${name}: options.trustProxy must be a list of proxy addresses or CIDR blocks, or a hop count (a non-negative integer)`);
    }
    hops = trustProxy;
  } else if (trustProxy instanceof IpSet) {
    trusted = trustProxy;
  } else if (Array.isArray(trustProxy)) {
    trusted = new IpSet(trustProxy, { name: `${name}: options.trustProxy` });
  } else {
    throw new TypeError(`${name}: options.trustProxy must be a list of proxy addresses or CIDR blocks, or a hop count`);
  }

  const walk = forwarded ? walkForwarded : walkXForwardedFor;
  const isTrusted: (value: IpValue, hop: number) => boolean = trusted
    ? (value) => (trusted as IpSet).hasValue(value)
    : (_value, hop) => hop < hops;
  const trustsAnyone = trusted !== undefined ? !trusted.empty : hops > 0;

  const resolveInto: ResolveInto = (view, out) => {
    const peer = view.peer;
    if (typeof peer !== 'string' || peer.length === 0) return 'the peer address is unknown';
    const zone = peer.indexOf('%');
    if (!parseInto(peer, 0, zone === -1 ? peer.length : zone, out)) return 'the peer address is malformed';
    if (!trustsAnyone || !isTrusted(out, 0)) return undefined;
    return walk(view, out, isTrusted);
  };
  // A view whose peer or headers cannot be read (a runtime that throws) has no client address: every
  // caller fails closed on it the same way.
  const compiled: ResolveInto = (view, out) => {
    try {
      return resolveInto(view, out);
    } catch {
      return 'the client address could not be read';
    }
  };
  return Object.assign(compiled, { peerOnly: !trustsAnyone });
}

type Trust = (value: IpValue, hop: number) => boolean;

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/** Walks `X-Forwarded-For` from the right; `out` holds the trusted peer on entry. */
function walkXForwardedFor(view: RequestView<any>, out: IpValue, isTrusted: Trust): string | undefined {
  const lines = view.headerLines('x-forwarded-for');
  let hop = 1;
  for (let l = lines.length - 1; l >= 0; l--) {
    const line = lines[l]!;
    let end = line.length;
    while (end >= 0) {
      let start = end === 0 ? 0 : line.lastIndexOf(',', end - 1) + 1;
      let stop = end;
      const next = start - 1;
      while (start < stop && isOws(line.charCodeAt(start))) start++;
      while (stop > start && isOws(line.charCodeAt(stop - 1))) stop--;
      // Empty list members are allowed by HTTP list syntax and mean nothing.
      if (stop > start) {
        if (!parseInto(line, start, stop, out)) return 'X-Forwarded-For holds a malformed address';
        if (!isTrusted(out, hop)) return undefined;
        hop++;
      }
      if (next < 0) break;
      end = next;
    }
  }
  // No header, or every address in it is trusted: `out` holds the leftmost (or the peer).
  return undefined;
}

/** Walks the `for=` nodes of RFC 7239 `Forwarded` from the right; `out` holds the trusted peer on entry. */
function walkForwarded(view: RequestView<any>, out: IpValue, isTrusted: Trust): string | undefined {
  const lines = view.headerLines('forwarded');
  if (lines.length === 0) return undefined;
  const nodes = parseForwarded(lines.join(','));
  if (typeof nodes === 'string') return nodes;
  let hop = 1;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const reason = parseNode(nodes[i]!, out);
    if (reason !== undefined) return reason;
    if (!isTrusted(out, hop)) return undefined;
    hop++;
  }
  return undefined;
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

/** The `for=` value of each forwarded-element, in order, or why the header is malformed. */
function parseForwarded(header: string): string[] | string {
  const nodes: string[] = [];
  let i = 0;
  const n = header.length;
  let forValue: string | undefined;
  let sawPair = false;
  const skipOws = () => {
    while (i < n && isOws(header.charCodeAt(i))) i++;
  };
  const finishElement = (): string | undefined => {
    if (!sawPair) return undefined; // empty list member
    if (forValue === undefined) return 'a Forwarded element has no for= parameter';
    nodes.push(forValue);
    forValue = undefined;
    sawPair = false;
    return undefined;
  };
  while (i <= n) {
    skipOws();
    if (i === n) break;
    const c = header[i]!;
    if (c === ',') {
      const bad = finishElement();
      if (bad) return bad;
      i++;
      continue;
    }
    if (c === ';') {
      i++;
      continue;
    }
    let keyEnd = i;
    while (keyEnd < n && TCHAR.test(header[keyEnd]!)) keyEnd++;
    if (keyEnd === i || header[keyEnd] !== '=') return 'Forwarded is malformed';
    const key = header.slice(i, keyEnd).toLowerCase();
    i = keyEnd + 1;
    let value: string;
    if (header[i] === '"') {
      i++;
      value = '';
      while (i < n && header[i] !== '"') {
        if (header[i] === '\\') i++;
        if (i < n) value += header[i];
        i++;
      }
      if (i >= n) return 'Forwarded is malformed';
      i++;
    } else {
      const start = i;
      while (i < n && TCHAR.test(header[i]!)) i++;
      if (i === start) return 'Forwarded is malformed';
      value = header.slice(start, i);
    }
    if (key === 'for') {
      if (forValue !== undefined) return 'a Forwarded element has two for= parameters';
      forValue = value;
    }
    sawPair = true;
    skipOws();
    if (i < n && header[i] !== ';' && header[i] !== ',') return 'Forwarded is malformed';
  }
  const bad = finishElement();
  return bad ?? nodes;
}

/** Parses a `for=` node (`192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:8080`) into `out`. */
function parseNode(node: string, out: IpValue): string | undefined {
  let start = 0;
  let end = node.length;
  let rest = end;
  if (node.charCodeAt(0) === 91) {
    const close = node.indexOf(']');
    if (close === -1) return 'Forwarded holds a malformed address';
    start = 1;
    end = close;
    rest = close + 1;
    if (node.indexOf(':', start) === -1 || node.indexOf(':', start) > end) return 'Forwarded holds a malformed address';
  } else {
    const colon = node.indexOf(':');
    if (colon !== -1) {
      end = colon;
      rest = colon;
    }
  }
  if (rest < node.length && !/^:([0-9]{1,5}|_[A-Za-z0-9._-]+)$/.test(node.slice(rest))) {
    return 'Forwarded holds a malformed address';
  }
  if (!parseInto(node, start, end, out)) {
    return node === 'unknown' || node.startsWith('_')
      ? 'Forwarded names a hidden or unknown node'
      : 'Forwarded holds a malformed address';
  }
  return undefined;
}
