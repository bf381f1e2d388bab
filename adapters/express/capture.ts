import type { Request, Response } from 'express';
import { concatBytes } from '../../src/guard/concat-bytes.js';
import type { ResponseSink } from '../../src/guard/types.js';
import { readNodeHeaders } from '../../src/guard/node-headers.js';
import { thrownErrorOf } from './thrown.js';
import { asBuffer } from '../../src/guard/as-buffer.js';

type Callback = (err?: Error | null) => void;

const UTF8 = /^utf-?8$/i;

/**
 * Buffers everything the application writes to `res` (`res.json`, `res.send`, `res.end`, chunked
 * `res.write`, `stream.pipe(res)`, `res.sendStatus`, `res.redirect`: they all end in `writeHead`,
 * `write` and `end`), hands the whole response to `sink.complete`, and sends it only after that
 * settles. A body over `sink.maxBytes` is reported truncated as soon as it grows past the bound, then
 * streamed through. A client that disconnected still has its response completed (stored). The response
 * must not be destroyed yet (see `fromGuard`).
 * @internal
 */
export function captureResponse(_req: Request, res: Response, sink: ResponseSink): void {
  const original = { write: res.write, end: res.end, writeHead: res.writeHead, flushHeaders: res.flushHeaders };
  const writeRaw = original.write as unknown as (this: Response, chunk: Uint8Array) => boolean;
  const endRaw = original.end as unknown as (this: Response, chunk?: Uint8Array | string | Callback, cb?: Callback) => Response;
  const chunks: Buffer[] = [];
  let size = 0;
  /** 'buffer' while capturing; 'settling' while the sink completes (writes queue); then restored. */
  let state: 'buffer' | 'settling' = 'buffer';
  let ended = false;
  let endCallback: Callback | undefined;
  const writeCallbacks: Callback[] = [];

  /** The whole body, when the application wrote it as one UTF-8 string (`res.send`, `res.json`). */
  let text: string | undefined;

  const add = (chunk: unknown, encoding: unknown): void => {
    if (chunk === undefined || chunk === null) return;
    text = chunks.length === 0 && typeof chunk === 'string' && (typeof encoding !== 'string' || UTF8.test(encoding)) ? chunk : undefined;
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, (typeof encoding === 'string' ? encoding : 'utf8') as BufferEncoding)
        : asBuffer(chunk as Uint8Array);
    chunks.push(bytes);
    size += bytes.byteLength;
  };

  // The methods are put back by assignment, never with `delete`: the application sets properties of its
  // own on the response meanwhile (`res.status()` adds `statusCode`), and deleting a property that is not
  // the last one added turns the object into a slow dictionary for the rest of its life, which every access
  // Node and Express make to it afterwards would pay for. Put back, they are the same methods as before
  // (another middleware's, such as compression's, or the prototype's).
  const restore = (): void => {
    res.writeHead = original.writeHead;
    res.flushHeaders = original.flushHeaders;
    res.write = original.write;
    res.end = original.end;
  };

  const settle = async (truncated: boolean): Promise<void> => {
    state = 'settling';
    const body = truncated ? new Uint8Array(0) : concatBytes(chunks, size);
    const thrown = thrownErrorOf(res);
    // A thrown error answered by errorHandler releases the key, as on Koa and fetch.
    const extra =
      thrown === undefined
        ? await sink.complete({ status: res.statusCode, headers: readNodeHeaders(res), body, truncated })
        : await sink.abort(thrown);
    restore();
    if (extra && !res.headersSent) {
      for (const [name, value] of extra) res.appendHeader(name, value);
    }
    if (truncated && ended) {
      // The whole body is known: one write, with a Content-Length, as without bulwark.
      for (const cb of writeCallbacks.splice(0)) cb();
      endRaw.call(res, Buffer.concat(chunks), endCallback);
      return;
    }
    if (truncated) {
      for (const chunk of chunks) writeRaw.call(res, chunk);
      chunks.length = 0;
      for (const cb of writeCallbacks.splice(0)) cb();
      if (ended) endRaw.call(res, endCallback);
      return;
    }
    for (const cb of writeCallbacks.splice(0)) cb();
    // A body written as one string is sent as that string: Node writes the head and it in one piece.
    endRaw.call(res, text ?? body, endCallback);
  };

  const run = (truncated: boolean): void => {
    settle(truncated).catch((err: unknown) => {
      // Only reached if the socket is gone: the response cannot be sent anyway.
      res.destroy(err instanceof Error ? err : undefined);
    });
  };

  /** Releases the key of a response the application will never end (nothing whole to store). */
  const release = (error: unknown): void => {
    state = 'settling';
    restore();
    void sink.abort(error ?? new Error('the application destroyed the response'));
  };

  /**
   * The client went away: the application may still end the response, which is then stored for the
   * retry, or destroy it, which Node no longer reports (the response is already destroyed), so from here
   * on the capture stands in for `res.destroy` too.
   */
  const afterClientLeft = (): void => {
    const destroy = res.destroy;
    res.destroy = function destroyAfterClientLeft(this: Response, error?: Error) {
      res.destroy = destroy;
      if (!ended && state === 'buffer') release(error);
      return destroy.call(this, error);
    } as Response['destroy'];
  };

  // The response closed before the application ended it:
  // - the application destroyed it (a body stream that failed under `pipeline`, an explicit
  //   `res.destroy()`): it failed the request, as a thrown error does, and the key is released;
  // - the client went away (`errored` stays null: Node sets it only through `destroy`) while a stream was
  //   piped into the response: the pipe stops at this close and the response will never be ended, so
  //   there is nothing whole to store and the key is released rather than held for good;
  // - the client went away otherwise: see `afterClientLeft`.
  res.once('close', () => {
    if (ended || state !== 'buffer') return;
    if (res.errored !== null || res.listenerCount('unpipe') > 0) release(res.errored);
    else afterClientLeft();
  });

  res.writeHead = function writeHead(this: Response, status: number, ...rest: unknown[]) {
    res.statusCode = status;
    if (typeof rest[0] === 'string') res.statusMessage = rest.shift() as string;
    const headers = rest[0];
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) res.appendHeader(String(headers[i]), String(headers[i + 1]));
    } else if (headers && typeof headers === 'object') {
      for (const [name, value] of Object.entries(headers)) {
        if (value !== undefined) res.setHeader(name, value as string | number | readonly string[]);
      }
    }
    return res;
  } as Response['writeHead'];

  res.flushHeaders = function flushHeaders() {} as Response['flushHeaders'];

  res.write = function write(this: Response, chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof encoding === 'function') cb = encoding;
    if (ended) return false;
    add(chunk, encoding);
    if (typeof cb === 'function') writeCallbacks.push(cb as Callback);
    if (state === 'buffer') {
      if (size > sink.maxBytes) run(true);
      else for (const done of writeCallbacks.splice(0)) process.nextTick(done);
    }
    return true;
  } as Response['write'];

  res.end = function end(this: Response, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
    }
    if (ended) return res;
    ended = true;
    add(chunk, encoding);
    if (typeof cb === 'function') endCallback = cb as Callback;
    if (state === 'buffer') run(size > sink.maxBytes);
    return res;
  } as Response['end'];
}
