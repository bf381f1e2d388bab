/** Guard headers on a Node.js response: writing a guard's headers, reading the response's for capture. */
import type { HeaderPairs } from './types.js';

/** The part of a Node.js `ServerResponse` that the functions here use, typed structurally. */
export interface NodeResponseLike {
  hasHeader(name: string): boolean;
  setHeader(name: string, value: string): unknown;
  appendHeader(name: string, value: string): unknown;
  getHeaders(): Record<string, number | string | readonly string[] | undefined>;
}

/**
 * Writes a guard's headers on a Node.js response (shared by the Express and Koa adapters).
 * `Content-Type` and `Content-Length` replace; every other header is appended, so that two limiters on
 * one route add two list members. A header not yet present is set directly (Node validates it once).
 * With `replace` (a replayed response), the first pair of each name replaces what earlier middleware set
 * under that name on this request (cors, helmet, `X-Powered-By`), so the replay carries each header once;
 * later pairs of the same name append. A header Node.js refuses (a value read back from a store, say) is
 * left out: one bad header never costs the response. Never throws.
 */
export function writeNodeHeaders(res: NodeResponseLike, headers: HeaderPairs, replace = false): void {
  const seen = replace ? new Set<string>() : undefined;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    try {
      if (name === 'content-type' || name === 'content-length' || !res.hasHeader(name) || (seen !== undefined && !seen.has(name))) {
        res.setHeader(name, value);
      } else res.appendHeader(name, value);
    } catch {
      // a name or value Node.js refuses, or headers already sent: left out
    }
    seen?.add(name);
  }
}

/**
 * The headers set on a Node.js response so far, as pairs (lower-case names; a list header gives one pair
 * per value), for capture (shared by the Express and Koa adapters).
 */
export function readNodeHeaders(res: NodeResponseLike): HeaderPairs {
  const pairs: HeaderPairs = [];
  const headers = res.getHeaders();
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) pairs.push([name, String(item)]);
    else pairs.push([name, typeof value === 'string' ? value : String(value)]);
  }
  return pairs;
}

/**
 * Headers that describe a body the application meant to send, and would misdescribe the error body that
 * replaces it: a client would try to gunzip the JSON (`Content-Encoding`), save it as a file
 * (`Content-Disposition`), or follow it (`Location`). Other headers (CORS, `Vary`, security headers) stay,
 * so a browser can still read the error.
 */
const REPRESENTATION_HEADERS = [
  'content-encoding',
  'content-language',
  'content-range',
  'content-disposition',
  'content-location',
  'content-md5',
  'etag',
  'last-modified',
  'location',
  'accept-ranges',
  'transfer-encoding',
];

/**
 * Clears what the application set for the body it meant to send before an error answer replaces it: the
 * representation headers and a reason phrase of its own (shared by the Express and Koa error handlers).
 */
export function clearForErrorBody(res: NodeResponseLike & { statusMessage?: string; removeHeader(name: string): unknown }): void {
  for (const name of REPRESENTATION_HEADERS) if (res.hasHeader(name)) res.removeHeader(name);
  res.statusMessage = undefined as unknown as string;
}
