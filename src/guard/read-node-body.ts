import { ApiError } from '../errors/api-error.js';
import { BODY_ERROR_MESSAGES } from '../errors/to-api-error.js';
import { concatBytes } from './concat-bytes.js';

/**
 * The parts of a Node.js request stream (`IncomingMessage`, a `Readable`) that {@link readNodeBody}
 * uses, typed structurally so that the core does not depend on `node:http`.
 * @internal
 */
export interface NodeBodyStream {
  headers: Record<string, string | string[] | undefined>;
  readonly readableLength: number;
  readonly readableEnded: boolean;
  readonly destroyed: boolean;
  read(size?: number): unknown;
  unshift(chunk: Uint8Array): void;
  resume(): unknown;
  on(event: string, listener: (...args: any[]) => void): unknown;
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
}

/** The message of the error when the stream was read by someone who left nothing behind. */
const ALREADY_READ =
  'idempotency: the request body was read before idempotency() by middleware that left no parsed body: mount idempotency() before it, or after a body parser';

let warned = false;

/**
 * The request gets a 500 (its body cannot be fingerprinted, and fingerprinting nothing would replay one
 * body for another); the process is told once, on stderr, how to mount the guard, as a misconfiguration.
 */
function alreadyRead(): TypeError {
  if (!warned) {
    warned = true;
    process.emitWarning(`bulwark: ${ALREADY_READ}`, { code: 'BULWARK_BODY_ALREADY_READ' });
  }
  return new TypeError(ALREADY_READ);
}

/**
 * Reads a Node.js request body up to `limit` bytes **without consuming it**: the bytes are put back at
 * the front of the stream (`readable.unshift`) before its `'end'` event, so a body parser mounted after the
 * guard (body-parser, raw-body, co-body, @koa/bodyparser, a gzip `Content-Encoding` too) reads the same
 * bytes as if nothing had read them. Answers synchronously when the whole body has already arrived.
 *
 * A body over `limit` (by `Content-Length`, or as it arrives) rejects with a 413 `payload_too_large`; the
 * rest of it is then read off and dropped, as Node.js does with a body nobody reads. A stream that fails or
 * closes before its end rejects with a 422 `invalid_request`.
 * @internal
 */
export function readNodeBody(stream: NodeBodyStream, limit: number): Uint8Array | Promise<Uint8Array> {
  // A request whose client left before its body was read (destroyed, not ended) was aborted, not read by
  // another middleware: a 422 no one waits for, and no warning about the mount order.
  if (stream.destroyed && !stream.readableEnded) throw new ApiError('invalid_request', { message: BODY_ERROR_MESSAGES['request.aborted'] });
  if (stream.readableEnded || stream.destroyed) throw alreadyRead();
  const declared = Number(stream.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit && stream.headers['transfer-encoding'] === undefined) {
    stream.resume();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  /** Takes what the stream holds; true when that is more than `limit`. */
  const take = (): boolean => {
    // Never `read()` an empty stream: at its end that would emit 'end', and later readers would find it closed.
    while (stream.readableLength > 0) {
      const chunk = stream.read();
      if (chunk === null) break;
      const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : (chunk as Uint8Array);
      total += bytes.byteLength;
      chunks.push(bytes);
      if (total > limit) return true;
    }
    return false;
  };
  /** All of it arrived: put it back, in one piece, in the same tick as the last read (before 'end'). */
  const putBack = (): Uint8Array => {
    const bytes = concatBytes(chunks, total);
    if (total > 0) stream.unshift(bytes);
    return bytes;
  };
  if (ended(stream)) {
    if (take()) {
      stream.resume();
      throw tooLarge();
    }
    return putBack();
  }
  // Start a read first: a 'readable' listener added while no read is under way makes the stream look at
  // itself on the next tick, and a stream whose (empty) end arrived in between would then emit 'end'.
  if (stream.readableLength === 0) stream.read(0);
  return new Promise<Uint8Array>((resolve, reject) => {
    const cleanup = () => {
      stream.removeListener('readable', onReadable);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onFail);
      stream.removeListener('aborted', onFail);
      stream.removeListener('close', onFail);
    };
    const onReadable = () => {
      if (take()) {
        cleanup();
        stream.resume();
        reject(tooLarge());
      } else if (ended(stream)) {
        cleanup();
        resolve(putBack());
      }
    };
    const onEnd = () => {
      cleanup();
      reject(alreadyRead());
    };
    const onFail = () => {
      cleanup();
      reject(new ApiError('invalid_request', { message: BODY_ERROR_MESSAGES['request.aborted'] }));
    };
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onFail);
    stream.on('aborted', onFail);
    stream.on('close', onFail);
  });
}

/**
 * Whether the stream has all of its data (it may still hold some): its end was pushed, though its
 * `'end'` event, which comes only once the data is read, has not been emitted.
 */
function ended(stream: NodeBodyStream): boolean {
  const state = (stream as { _readableState?: { ended?: boolean } })._readableState;
  if (state !== undefined && typeof state.ended === 'boolean') return state.ended;
  return (stream as { complete?: unknown }).complete === true;
}

function tooLarge(): ApiError {
  return new ApiError('payload_too_large', { message: BODY_ERROR_MESSAGES['entity.too.large'] });
}
