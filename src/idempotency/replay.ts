import type { HeaderPairs } from '../guard/types.js';

/**
 * Headers never stored for replay: cookies (a replay must not log anyone in twice), `Date` (the replay
 * has its own), hop-by-hop headers (RFC 9110 7.6.1), the length (recomputed), the replay marker
 * itself, and the rate-limit headers that describe the budget of the request they were sent with
 * (the limiter adds fresh ones to the replay).
 */
const NOT_STORED = new Set([
  'set-cookie',
  'date',
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'idempotent-replayed',
  'ratelimit',
  'ratelimit-policy',
]);

/** Name of the header a replayed response carries (value `true`); a first response never has it. */
export const REPLAYED_HEADER = 'idempotent-replayed';

/** Whether a response header is kept for replay. */
export function isStoredHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return !NOT_STORED.has(lower) && !lower.startsWith('x-ratelimit-');
}

/**
 * The headers of a captured response that are stored for replay (lower-case names, order kept). The
 * pairs are reused, not copied: a captured response belongs to the sink it was handed to.
 */
export function storedHeaders(headers: HeaderPairs): HeaderPairs {
  const out: HeaderPairs = [];
  for (const pair of headers) {
    const name = pair[0];
    const lower = name.toLowerCase();
    if (NOT_STORED.has(lower) || lower.startsWith('x-ratelimit-')) continue;
    out.push(lower === name ? pair : [lower, pair[1]]);
  }
  return out;
}

/** The headers of a replay: the stored ones, the length, and `Idempotent-Replayed: true`. */
export function replayHeaders(stored: HeaderPairs, bodyLength: number): HeaderPairs {
  return [...stored, ['content-length', String(bodyLength)], [REPLAYED_HEADER, 'true']];
}
