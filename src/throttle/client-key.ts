import { type ClientIpOptions, compileClientIp } from '../allowlist/client-ip.js';
import { formatV4, type IpValue, newIpValue, parseInto } from '../allowlist/ip-parse.js';
import type { RequestView } from '../guard/types.js';

/** Options of the default key: the client address. */
export interface ClientKeyOptions extends ClientIpOptions {
  /**
   * IPv6 clients are grouped by this prefix length (one customer usually holds a whole /56 or /64).
   * @default 56
   */
  ipv6Subnet?: number;
}

/** The key used for requests whose client address cannot be told (they share one bucket). */
export const UNKNOWN_CLIENT_KEY = 'unknown';

/** Peers whose keys a default key function remembers before it starts again (see {@link createClientKey}). */
export const PEER_KEYS_MAX = 1024;

/**
 * Builds the default key function: the client address as the allowlist resolves it (same
 * `trustProxy` and `forwarded` semantics), IPv4-mapped IPv6 as IPv4, IPv6 grouped by `ipv6Subnet`, after
 * `prefix` (the store namespace of the limiter). A request whose address cannot be told gets the key
 * `unknown`.
 *
 * Without a trusted proxy the key depends on the socket peer alone, so it is remembered per peer string
 * (up to {@link PEER_KEYS_MAX} peers, then forgotten all at once): the requests of a kept-alive connection
 * skip parsing, formatting and joining, and the store looks up a string whose hash is already known.
 *
 * @example
 * ```ts
 * const keyOf = createClientKey({ trustProxy: ['10.0.0.0/8'] }, 'rateLimit');
 * keyOf(view); // '203.0.113.7' or '2001:db8:0:100::/56'
 * ```
 */
export function createClientKey(options: ClientKeyOptions, name: string, prefix = ''): (view: RequestView) => string {
  const subnet = options.ipv6Subnet ?? 56;
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 128) {
    throw new TypeError(`${name}: options.ipv6Subnet must be an integer from 1 to 128`);
  }
  const ipOptions: ClientIpOptions = {};
  if (options.trustProxy !== undefined) ipOptions.trustProxy = options.trustProxy;
  if (options.forwarded !== undefined) ipOptions.forwarded = options.forwarded;
  const resolve = compileClientIp(ipOptions, name);
  const out = newIpValue();
  const unknown = prefix + UNKNOWN_CLIENT_KEY;
  const keyOf = (view: RequestView): string => (resolve(view, out) === undefined ? prefix + valueKey(out, subnet) : unknown);
  if (!resolve.peerOnly) return keyOf;
  const known = new Map<string, string>();
  return (view) => {
    let peer: unknown;
    try {
      peer = view.peer;
    } catch {
      return unknown;
    }
    if (typeof peer !== 'string') return keyOf(view);
    let key = known.get(peer);
    if (key === undefined) {
      key = keyOf(view);
      if (known.size >= PEER_KEYS_MAX) known.clear();
      known.set(peer, key);
    }
    return key;
  };
}

/**
 * The key of one address: IPv4 (also IPv4-mapped IPv6) as a dotted quad, IPv6 as its `/subnet` prefix.
 * @internal
 */
export function addressKey(address: string, subnet: number): string {
  const value = newIpValue();
  if (!parseInto(address, 0, address.length, value)) return UNKNOWN_CLIENT_KEY;
  return valueKey(value, subnet);
}

function valueKey(value: IpValue, subnet: number): string {
  if (value.version === 4) return formatV4(value.a);
  const words = [value.a, value.b, value.c, value.d];
  let text = '';
  for (let i = 0; i < 4; i++) {
    const keep = subnet - i * 32;
    let word = words[i]!;
    if (keep <= 0) word = 0;
    else if (keep < 32) word = (word & (0xffffffff << (32 - keep))) >>> 0;
    text += `${i === 0 ? '' : ':'}${(word >>> 16).toString(16)}:${(word & 0xffff).toString(16)}`;
  }
  return `${text}/${subnet}`;
}
