import { brotliDecompressSync, unzipSync } from 'node:zlib';
import { ApiError } from '../errors/api-error.js';
import { BODY_ERROR_MESSAGES } from '../errors/to-api-error.js';

/**
 * A request body as its `Content-Encoding` names it decoded, for guards that count a body by what it says
 * (the idempotency fingerprint): gzip, x-gzip and deflate (either wrapper, as the `inflation` package that
 * Koa's parsers use) and br, as the Express and Koa body parsers decode them. The decoded body is limited
 * to `limit` bytes as the parsers limit theirs (a larger one is a 413 `payload_too_large`). A body that is
 * not encoded, in an encoding the parsers would refuse, or that does not decode, is given as it came
 * (the parser mounted after the guard, if any, refuses it; the fingerprint counts its bytes).
 * @internal
 */
export function decodeNodeBody(bytes: Uint8Array, encoding: string | string[] | undefined, limit: number): Uint8Array {
  if (typeof encoding !== 'string' || bytes.byteLength === 0) return bytes;
  const name = encoding.trim().toLowerCase();
  if (name === '' || name === 'identity') return bytes;
  const decode = name === 'br' ? brotliDecompressSync : name === 'gzip' || name === 'x-gzip' || name === 'deflate' ? unzipSync : undefined;
  if (decode === undefined) return bytes;
  try {
    return decode(bytes, { maxOutputLength: Math.max(limit, 1) });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ApiError('payload_too_large', { message: BODY_ERROR_MESSAGES['entity.too.large'] });
    }
    return bytes;
  }
}
