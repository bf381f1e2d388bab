import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Context, Next } from 'koa';
import { concatBytes } from '../../src/guard/concat-bytes.js';
import type { CapturedResponse, ResponseSink } from '../../src/guard/types.js';
import { captureNodeResponseOnTouch } from '../node/capture.js';
import { ApiError } from '../../src/errors/api-error.js';
import { readNodeHeaders } from '../../src/guard/node-headers.js';
import { unanswered } from './errors.js';
import { asBuffer } from '../../src/guard/as-buffer.js';

/** Statuses whose responses carry no body (Koa strips it). */
const EMPTY_STATUS = new Set([204, 205, 304]);

/**
 * Runs the rest of the chain, reads the whole response body Koa is about to send (string, Buffer,
 * object, Node stream, Blob, Web stream or Response), hands it to `sink.complete`, and sends it after
 * that settles (the body becomes the buffered bytes, with the same status and headers). A thrown error
 * aborts the sink (the key is released) and propagates to the error handler.
 *
 * - The bytes of a stream are copied as they are read (the application may reuse its buffers).
 * - A body that grows past `sink.maxBytes` is streamed through from there; its not-replayable completion
 *   is recorded once the body has ended, before the response ends, and a body that fails or a response
 *   that closes first releases the key.
 * - With `ctx.respond = false` the application writes to `ctx.res` itself: that is captured on the Node.js
 *   response as on Express (buffered, stored, then sent), so the handler does not run again on a retry.
 * @internal
 */
export async function captureResponse(ctx: Context, next: Next, sink: ResponseSink): Promise<void> {
  // Whatever the application writes to ctx.res itself is seen there; let go of below if it wrote nothing.
  const raw = captureNodeResponseOnTouch(ctx.res, sink);
  try {
    await next();
  } catch (err) {
    // What it wrote to ctx.res never went out: Koa answers with the error handler's body instead.
    if (raw.discard() && ctx.respond === false) ctx.respond = true;
    await sink.abort(err);
    throw err;
  }
  // The application writes (or wrote) to ctx.res itself: the capture on it stores and sends that.
  if (ctx.respond === false || raw.touched()) return;
  raw.detach();
  const status = ctx.status;
  const phrase = ctx.res.statusMessage;
  const statusText = phrase && phrase !== STATUS_CODES[status] ? phrase : undefined;
  const captured = (body: Uint8Array, truncated: boolean): CapturedResponse =>
    statusText === undefined
      ? { status, headers: readNodeHeaders(ctx.res), body, truncated }
      : { status, statusText, headers: readNodeHeaders(ctx.res), body, truncated };
  let read: Chunks;
  try {
    const pending = bodyChunks(ctx, sink.maxBytes);
    read = pending instanceof Promise ? await pending : (pending as Chunks);
  } catch (err) {
    // The client left, and Koa destroyed the body stream it was to send (it does so when the response
    // closes): nothing failed in the application, which did its work; no one is there to answer, and the
    // body will never be whole. The key is kept, completed but not replayable, so a retry never runs it
    // again. Not an error to report.
    if (ctx.res.destroyed && (err as { code?: unknown } | null)?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
      await sink.complete(captured(EMPTY, true));
      return;
    }
    await sink.abort(err);
    throw err;
  }
  const { chunks, rest, fresh, text } = read;
  if (rest !== undefined) {
    // Past the bound: sent as it comes. A body that fails releases the key (see `resume`); a response that
    // closes first (the client left: the handler did its work) keeps it, completed but not replayable.
    // Either settles the sink once: whichever comes second does nothing.
    ctx.res.once('close', () => void sink.complete(captured(EMPTY, true)));
    ctx.body = Readable.from(resume(chunks, rest, sink, () => captured(EMPTY, true)));
    if (ctx.status !== status) ctx.status = status;
    return;
  }
  // Bytes that bulwark made or copied (from a string, an object or a stream) are kept as they are; the
  // application's own buffer is copied, so that the stored response stays as sent even if the
  // application reuses it.
  const body = fresh ? concatBytes(chunks, byteLength(chunks)) : Buffer.concat(chunks);
  const completed = sink.complete(captured(body, false));
  const extra = completed instanceof Promise ? await completed : completed;
  if (extra) for (const [name, value] of extra) ctx.append(name, value);
  // Koa sends no body for these: nothing to replace.
  if (EMPTY_STATUS.has(status) || ctx.body === null || ctx.body === undefined) return;
  // What Koa sends is what was captured: an object body is not stringified again, a text body stays text
  // (Node writes headers and text in one piece), a stream is replaced by the bytes read from it.
  if (text !== undefined) {
    if (ctx.body !== text) ctx.body = text;
  } else {
    // Koa gives bytes a Content-Type of its own when none is set: a response without one keeps none, as
    // it was captured (and as its replay will be).
    const typed = ctx.res.hasHeader('content-type');
    ctx.body = asBuffer(body);
    if (!typed) ctx.remove('content-type');
  }
  if (ctx.status !== status) ctx.status = status;
}

function byteLength(chunks: readonly Uint8Array[]): number {
  let total = 0;
  for (const chunk of chunks) total += chunk.byteLength;
  return total;
}

const EMPTY = new Uint8Array(0);

/** A response body read into chunks (see {@link bodyChunks}). */
interface Chunks {
  chunks: Uint8Array[];
  /** The unread remainder of a body longer than the limit. */
  rest?: AsyncIterator<unknown>;
  /** The chunks were made or copied here (from a string, an object or a stream), not handed over by the application. */
  fresh?: boolean;
  /** The body as text, when Koa would send text (a string body, or an object as JSON). */
  text?: string;
}

/**
 * The body as Koa would send it, read up to `limit` bytes (synchronously unless it is a stream).
 * Beyond the limit, `rest` holds the unread remainder (the chunks read so far are in `chunks`).
 */
function bodyChunks(ctx: Context, limit: number): Chunks | Promise<Chunks> {
  let body: unknown = ctx.body;
  if (body === null || body === undefined) {
    if (EMPTY_STATUS.has(ctx.status) || (ctx.response as { _explicitNullBody?: boolean })._explicitNullBody) return { chunks: [] };
    // Nothing answered the request: thrown, so that the error handler gives it the documented 404 body (as
    // it does without idempotency); the key is released, like any thrown error's.
    if (unanswered(ctx)) throw new ApiError('not_found');
    // What Koa itself sends for a status without a body: its message as text.
    const status = ctx.status;
    const message = ctx.res.statusMessage;
    const text = ctx.message || String(status);
    ctx.body = text;
    ctx.status = status;
    // Setting the status again gave it the standard reason phrase: the application's own stays.
    if (message) ctx.res.statusMessage = message;
    ctx.type = 'text';
    return { chunks: [Buffer.from(text)], fresh: true, text };
  }
  if (EMPTY_STATUS.has(ctx.status)) return { chunks: [] };
  if (typeof body === 'string') return { chunks: [Buffer.from(body)], fresh: true, text: body };
  if (body instanceof Uint8Array) return { chunks: [body] };
  if (typeof Response !== 'undefined' && body instanceof Response) body = body.body ?? new Uint8Array(0);
  if (typeof Blob !== 'undefined' && body instanceof Blob) body = body.stream();
  if (body instanceof Uint8Array) return { chunks: [body] };
  if (isAsyncIterable(body)) return readIterable(body as AsyncIterable<unknown>, limit);
  const json = JSON.stringify(body);
  return { chunks: [Buffer.from(json)], fresh: true, text: json };
}

async function readIterable(body: AsyncIterable<unknown>, limit: number): Promise<Chunks> {
  const iterator = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await iterator.next();
    if (done) return { chunks, fresh: true };
    const bytes = toBytes(value);
    chunks.push(bytes);
    size += bytes.byteLength;
    if (size > limit) return { chunks, rest: iterator, fresh: true };
  }
}

/**
 * The chunks read so far, then the rest of the body; once it has ended, the not-replayable completion is
 * recorded before the stream ends (so before the response does). A body that fails releases the key.
 */
async function* resume(
  chunks: Uint8Array[],
  rest: AsyncIterator<unknown>,
  sink: ResponseSink,
  captured: () => CapturedResponse,
): AsyncGenerator<Uint8Array> {
  yield* chunks;
  try {
    for (;;) {
      const { done, value } = await rest.next();
      if (done) break;
      yield toBytes(value);
    }
  } catch (err) {
    await sink.abort(err);
    throw err;
  }
  const completed = sink.complete(captured());
  if (completed instanceof Promise) await completed;
}

function isAsyncIterable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/** A chunk of a stream body as bytes of its own (a copy: the stream may reuse its buffer). */
function toBytes(value: unknown): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value);
  if (value instanceof Uint8Array) return Buffer.from(value);
  return Buffer.from(String(value));
}
