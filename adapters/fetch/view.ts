import { ApiError } from '../../src/errors/api-error.js';
import { BODY_ERROR_MESSAGES } from '../../src/errors/to-api-error.js';
import { DEFAULT_MAX_BODY_BYTES, readLimited } from '../../src/guard/read-limited.js';
import type { RequestBody, RequestView } from '../../src/guard/types.js';

/** Builds the neutral view of a Web `Request`. @internal */
export function fetchView(request: Request, peer: string | undefined): RequestView<Request> {
  const url = request.url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const pathAndQuery = start === -1 ? '/' : url.slice(start);
  const hash = pathAndQuery.indexOf('#');
  const clean = hash === -1 ? pathAndQuery : pathAndQuery.slice(0, hash);
  const q = clean.indexOf('?');
  let body: Promise<RequestBody> | undefined;
  let bodyLimit = 0;
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
    body(maxBytes = DEFAULT_MAX_BODY_BYTES) {
      if (body === undefined || bodyLimit !== maxBytes) {
        body = readBody(request, maxBytes);
        bodyLimit = maxBytes;
      }
      return body;
    },
    request,
  };
}

async function readBody(request: Request, limit: number): Promise<RequestBody> {
  if (request.body === null) return { kind: 'none' };
  const contentType = request.headers.get('content-type') ?? undefined;
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    throw new ApiError('payload_too_large', { message: BODY_ERROR_MESSAGES['entity.too.large'] });
  }
  // Read a clone so that the handler still gets the whole body.
  const bytes = await readLimited(request.clone().body, limit);
  if (bytes.byteLength === 0) return { kind: 'none' };
  return { kind: 'bytes', bytes: await decoded(bytes, request.headers.get('content-encoding'), limit), contentType };
}

/** The `Content-Encoding` values that `readJson` decodes, and the decoder of each. */
const DECODERS: Readonly<Record<string, CompressionFormat>> = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate' };

/**
 * A gzip or deflate body decoded (up to `limit` bytes, as `readJson` reads it), so that the fingerprint
 * counts what the body says; any other encoding, or bytes that do not decode, count as they came.
 * @internal
 */
export async function decoded(bytes: Uint8Array, encoding: string | null, limit: number): Promise<Uint8Array> {
  const format = encoding === null ? undefined : DECODERS[encoding.trim().toLowerCase()];
  if (format === undefined) return bytes;
  try {
    const source = new ReadableStream<Uint8Array<ArrayBuffer>>({
      start(controller) {
        // Bytes read from a Web stream: never over a SharedArrayBuffer.
        controller.enqueue(bytes as Uint8Array<ArrayBuffer>);
        controller.close();
      },
    });
    return await readLimited(source.pipeThrough(new DecompressionStream(format)), limit);
  } catch (err) {
    if (err instanceof ApiError && err.status === 413) throw err;
    return bytes;
  }
}
