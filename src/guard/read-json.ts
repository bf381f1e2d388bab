import { ApiError } from '../errors/api-error.js';
import { BODY_ERROR_MESSAGES } from '../errors/to-api-error.js';
import { readLimited } from './read-limited.js';

/** Options of {@link readJson}. */
export interface ReadJsonOptions {
  /**
   * Largest body accepted, in bytes; a larger one is a 413 `payload_too_large`.
   * @default 102400 (100 KiB, as Express's and Koa's JSON parsers)
   */
  limit?: number;
}

/**
 * Reads a Web `Request` body as JSON with the same errors as Express's and Koa's body parsers:
 * malformed JSON is a 422 `invalid_request`, a body over `limit` a 413 `payload_too_large`. A gzip or
 * deflate `Content-Encoding` is decoded (a body that does not decode is a 422); any other is refused (422).
 * An empty body reads as `undefined`.
 *
 * @example
 * ```ts
 * export default guard(async (request) => {
 *   const body = await readJson(request, { limit: 10_000 });
 *   return Response.json({ ok: true, body });
 * });
 * ```
 */
export async function readJson(request: Request, options: ReadJsonOptions = {}): Promise<unknown> {
  const limit = options.limit ?? 102_400;
  if (!Number.isInteger(limit) || limit < 0) throw new TypeError('readJson: options.limit must be a non-negative integer');
  const encoding = (request.headers.get('content-encoding') ?? '').trim().toLowerCase();
  let bytes: Uint8Array;
  if (encoding === '' || encoding === 'identity') {
    const declared = Number(request.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > limit) throw tooLarge();
    bytes = await readLimited(request.body, limit);
  } else {
    // As the Express and Koa parsers: gzip and deflate are decoded (`limit` counts the decoded bytes),
    // any other encoding is refused.
    const format = DECODERS[encoding];
    if (format === undefined) throw new ApiError('invalid_request', { message: BODY_ERROR_MESSAGES['encoding.unsupported'] });
    const decoded = request.body === null ? null : request.body.pipeThrough(new DecompressionStream(format));
    bytes = await readLimited(decoded, limit, BODY_ERROR_MESSAGES['encoding.undecodable']);
  }
  if (bytes.byteLength === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError('invalid_request', { message: BODY_ERROR_MESSAGES['charset.unsupported'] });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('invalid_request', { message: BODY_ERROR_MESSAGES['entity.parse.failed'] });
  }
}

/** The `Content-Encoding` values a JSON body may arrive in, and the decoder of each. */
const DECODERS: Readonly<Record<string, CompressionFormat>> = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate' };

function tooLarge(): ApiError {
  return new ApiError('payload_too_large', { message: BODY_ERROR_MESSAGES['entity.too.large'] });
}
