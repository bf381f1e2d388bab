import type { Context } from 'hono';
import { ApiError } from '../../src/errors/api-error.js';
import { BODY_ERROR_MESSAGES } from '../../src/errors/to-api-error.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/guard/read-limited.js';
import type { RequestBody, RequestView } from '../../src/guard/types.js';
import { decoded, fetchView } from '../fetch/view.js';

/**
 * The neutral view of a Hono request: the Web `Request` in `c.req.raw` (read as bulwark/fetch reads it),
 * with `c` for the user's callbacks. @internal
 */
export function honoView(c: Context, peer: string | undefined): RequestView<Context> {
  const raw = c.req.raw;
  const view = fetchView(raw, peer);
  return {
    method: view.method,
    path: view.path,
    query: view.query,
    header: view.header,
    headerLines: view.headerLines,
    peer,
    body(maxBytes = DEFAULT_MAX_BODY_BYTES) {
      // Unread: a clone is read, so that `c.req.json()`, `c.req.raw` and a validator after the guard all
      // still get the whole body.
      if (!raw.bodyUsed) return view.body(maxBytes);
      return cachedBody(c, maxBytes);
    },
    request: c,
  };
}

/** Hono's body cache, as `c.req.json()`, `text()`, `arrayBuffer()`, `blob()` and validators fill it. */
interface BodyCache {
  arrayBuffer?: Promise<ArrayBuffer>;
  text?: Promise<string>;
  blob?: Promise<Blob>;
  json?: Promise<unknown>;
  formData?: Promise<FormData>;
}

const ALREADY_READ =
  'idempotency: the request body was read before idempotency() by middleware that left nothing in Hono\'s body cache: mount idempotency() before it';

let warned = false;

/**
 * The body that middleware mounted before the guard read through Hono (a validator, `c.req.json()`): the
 * bytes Hono keeps for the handler, so that the fingerprint counts what the handler gets.
 */
async function cachedBody(c: Context, limit: number): Promise<RequestBody> {
  const cache = c.req.bodyCache as BodyCache;
  const contentType = c.req.raw.headers.get('content-type') ?? undefined;
  let bytes: Uint8Array;
  if (cache.arrayBuffer) bytes = new Uint8Array(await cache.arrayBuffer);
  else if (cache.text) bytes = new TextEncoder().encode(await cache.text);
  else if (cache.blob) bytes = new Uint8Array(await (await cache.blob).arrayBuffer());
  else if (cache.json) return { kind: 'parsed', value: await cache.json, contentType };
  else {
    // Read by someone who kept nothing (`c.req.raw.json()`, a form): a fingerprint of nothing would replay
    // one body for another, so the request fails, and the process is told once how to mount the guard.
    if (!warned) {
      warned = true;
      process.emitWarning(`bulwark: ${ALREADY_READ}`, { code: 'BULWARK_BODY_ALREADY_READ' });
    }
    throw new TypeError(ALREADY_READ);
  }
  if (bytes.byteLength > limit) throw new ApiError('payload_too_large', { message: BODY_ERROR_MESSAGES['entity.too.large'] });
  if (bytes.byteLength === 0) return { kind: 'none' };
  return { kind: 'bytes', bytes: await decoded(bytes, c.req.raw.headers.get('content-encoding'), limit), contentType };
}
