import { readLimited } from '../../src/guard/read-limited.js';
import type { RequestBody, RequestView } from '../../src/guard/types.js';

/** Largest body read for a guard (the idempotency fingerprint), as on the Express and Koa adapters. */
const RAW_BODY_LIMIT = 1_048_576;

/** Builds the neutral view of a Web `Request`. @internal */
export function fetchView(request: Request, peer: string | undefined): RequestView<Request> {
  const url = request.url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const pathAndQuery = start === -1 ? '/' : url.slice(start);
  const hash = pathAndQuery.indexOf('#');
  const clean = hash === -1 ? pathAndQuery : pathAndQuery.slice(0, hash);
  const q = clean.indexOf('?');
  let body: Promise<RequestBody> | undefined;
  return {
    method: request.method.toUpperCase(),
    path: q === -1 ? clean : clean.slice(0, q),
    query: q === -1 ? '' : clean.slice(q + 1),
    header(name) {
      return request.headers.get(name) ?? undefined;
    },
    headerLines(name) {
      // A Web Request joins repeated header lines with ", ": split them again, so that two Idempotency-Key
      // lines are refused here as on Node servers. (A single value holding ", " reads as several lines:
      // list headers mean the same either way, and a key holding ", " is refused as sent twice.)
      const value = request.headers.get(name);
      return value === null ? [] : value.split(', ');
    },
    peer,
    body() {
      body ??= readBody(request);
      return body;
    },
    request,
  };
}

async function readBody(request: Request): Promise<RequestBody> {
  if (request.body === null) return { kind: 'none' };
  const contentType = request.headers.get('content-type') ?? undefined;
  // Read a clone so that the handler still gets the whole body.
  const bytes = await readLimited(request.clone().body, RAW_BODY_LIMIT);
  return bytes.byteLength === 0 ? { kind: 'none' } : { kind: 'bytes', bytes, contentType };
}
