import { Readable } from 'node:stream';
import type { Context, Next } from 'koa';
import type { ResponseSink } from '../../src/guard/types.js';
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
 * @internal
 */
export async function captureResponse(ctx: Context, next: Next, sink: ResponseSink): Promise<void> {
  try {
    await next();
  } catch (err) {
    await sink.abort(err);
    throw err;
  }
  if (ctx.respond === false) {
    // The application writes to ctx.res itself: bulwark cannot see that response.
    await sink.abort(new Error('ctx.respond is false'));
    return;
  }
  let read: Chunks;
  try {
    const pending = bodyChunks(ctx, sink.maxBytes);
    read = pending instanceof Promise ? await pending : (pending as Chunks);
  } catch (err) {
    await sink.abort(err);
    // The client left, and Koa destroyed the body stream it was to send (it does so when the response
    // closes): nothing failed in the application, and no one is there to answer. Not an error to report.
    if (ctx.res.destroyed && (err as { code?: unknown } | null)?.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    throw err;
  }
  const { chunks, rest, fresh, text } = read;
  const truncated = rest !== undefined;
  // Bytes that bulwark made (from a string or object body) are kept as they are; the application's own
  // are copied, so that the stored response stays as sent even if the application reuses its buffers.
  const body = truncated ? EMPTY : fresh && chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  const status = ctx.status;
  const completed = sink.complete({ status, headers: readNodeHeaders(ctx.res), body, truncated });
  const extra = completed instanceof Promise ? await completed : completed;
  if (extra) for (const [name, value] of extra) ctx.append(name, value);
  // Koa sends no body for these: nothing to replace.
  if (EMPTY_STATUS.has(status) || ctx.body === null || ctx.body === undefined) return;
  // What Koa sends is what was captured: an object body is not stringified again, a text body stays text
  // (Node writes headers and text in one piece), a stream is replaced by the bytes read from it.
  if (truncated) ctx.body = Readable.from(resume(chunks, rest!));
  else if (text !== undefined) {
    if (ctx.body !== text) ctx.body = text;
  } else ctx.body = asBuffer(body);
  if (ctx.status !== status) ctx.status = status;
}

const EMPTY = new Uint8Array(0);

/** A response body read into chunks (see {@link bodyChunks}). */
interface Chunks {
  chunks: Uint8Array[];
  /** The unread remainder of a body longer than the limit. */
  rest?: AsyncIterator<unknown>;
  /** The chunks were made here (from a string or an object), not handed over by the application. */
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
    const text = ctx.message || String(status);
    ctx.body = text;
    ctx.status = status;
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
    if (done) return { chunks };
    const bytes = toBytes(value);
    chunks.push(bytes);
    size += bytes.byteLength;
    if (size > limit) return { chunks, rest: iterator };
  }
}

async function* resume(chunks: Uint8Array[], rest: AsyncIterator<unknown>): AsyncGenerator<Uint8Array> {
  yield* chunks;
  for (;;) {
    const { done, value } = await rest.next();
    if (done) return;
    yield toBytes(value);
  }
}

function isAsyncIterable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

function toBytes(value: unknown): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value);
  if (value instanceof Uint8Array) return value;
  return Buffer.from(String(value));
}
