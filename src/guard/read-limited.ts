import { ApiError } from '../errors/api-error.js';
import { BODY_ERROR_MESSAGES } from '../errors/to-api-error.js';
import { concatBytes } from './concat-bytes.js';

/**
 * Most bytes of a request body a guard reads when no body parser ran before it (the idempotency
 * fingerprint), unless told otherwise (`idempotency({ maxBodyBytes })`).
 * @internal
 */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/**
 * Reads a Web body stream to its end, refusing more than `limit` bytes with a 413 `payload_too_large`
 * (the stream is cancelled) and a stream that fails midway with a 422 `invalid_request` saying `failure`.
 * @internal
 */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  failure: string = BODY_ERROR_MESSAGES['request.aborted'],
): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        // Not awaited: the body of a cloned Request is one branch of a tee, whose cancel settles only once
        // the other branch (the application's, never read when this guard refuses) is cancelled too.
        reader.cancel().catch(() => {});
        throw new ApiError('payload_too_large', { message: BODY_ERROR_MESSAGES['entity.too.large'] });
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError('invalid_request', { message: failure });
  }
  return concatBytes(chunks, total);
}
