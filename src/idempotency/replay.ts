import type { Decision, HeaderPairs } from '../guard/types.js';
import type { StoredResponse } from './store.js';

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

/** Statuses whose responses never carry a body, nor a length for one (RFC 9110 8.6, 15.3.5, 15.4.5). */
const BODYLESS = new Set([204, 304]);

/**
 * The headers of a replay: the stored ones, the length (none for 204 and 304, which a first response
 * does not carry either), and `Idempotent-Replayed: true`.
 */
export function replayHeaders(stored: HeaderPairs, bodyLength: number, status?: number): HeaderPairs {
  if (status !== undefined && BODYLESS.has(status)) return [...stored, [REPLAYED_HEADER, 'true']];
  return [...stored, ['content-length', String(bodyLength)], [REPLAYED_HEADER, 'true']];
}

/**
 * The decision that replays a stored response: its status, its own reason phrase if it had one, its
 * stored headers (see {@link replayHeaders}) and its body.
 */
export function replayDecision(response: StoredResponse): Decision {
  const headers = replayHeaders(response.headers, response.body.byteLength, response.status);
  return response.statusText === undefined
    ? { type: 'respond', status: response.status, headers, body: response.body }
    : { type: 'respond', status: response.status, statusText: response.statusText, headers, body: response.body };
}
