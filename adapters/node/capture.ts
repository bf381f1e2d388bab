import { type ServerResponse, STATUS_CODES } from 'node:http';
import { concatBytes } from '../../src/guard/concat-bytes.js';
import type { ResponseSink } from '../../src/guard/types.js';
import { readNodeHeaders } from '../../src/guard/node-headers.js';
import { ENDED_BY_APPLICATION, thrownErrorOf } from './thrown.js';

type Callback = (err?: Error | null) => void;

const UTF8 = /^utf-?8$/i;
const EMPTY = new Uint8Array(0);
/** What Node.js throws for a header set once the response is sent. */
function headersSent(): never {
  throw Object.assign(new Error('Cannot set headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
}

/** Statuses whose responses carry no body, whatever their headers say. */
const BODYLESS = new Set([204, 304]);

/** A Node.js response under capture, as {@link captureNodeResponse} gives it. @internal */
export interface NodeCapture {
  /**
   * Whether the application called `writeHead`, `write` or `end` since the capture began. A method, not a
   * getter: with a getter in this object literal (made per request), capturing and letting go of one response
   * took ~60 µs, nearly all of it garbage collection, against ~2.5 µs with a method.
   */
  touched(): boolean;
  /**
   * Ends the capture of a response the application has not touched: its methods are its own again (a
   * `flushHeaders` it asked for meanwhile is done now), and nothing more is seen of it.
   */
  detach(): void;
  /**
   * The application failed (threw) before ending the response: what it buffered is dropped (none of it
   * reached the wire), so that the error handler's answer goes out alone. A response already streaming
   * or ending is left as it is. Whether the application had written something (now dropped).
   */
  discard(): boolean;
}

/**
 * Buffers everything the application writes to a Node.js response (`res.json`, `res.send`, `res.end`,
 * chunked `res.write`, `stream.pipe(res)`, `res.sendStatus`, `res.redirect`: they all end in
 * `writeHead`, `write` and `end`), hands the whole response to `sink.complete`, and sends it only after
 * that settles.
 *
 * - The bytes written are copied as they come, and each write's callback is called once they are (the
 *   application may reuse its buffer from there, as Node.js's stream contract allows).
 * - A response that `errorHandler` writes for a thrown error (see `markThrown`) goes out alone, without
 *   what the application buffered before it threw, and releases the key.
 * - A body that grows past `sink.maxBytes` is streamed through from there (with the application's own
 *   backpressure); its not-replayable completion is recorded only once the application ends it, and the
 *   end of the response waits for that record. A response that closes before it is ended (the body
 *   stream failed, the application destroyed it, the client left) releases the key.
 * - A buffered body whose declared `Content-Length` is not its length (an error handler of the
 *   application's own answering after a partial write) is never sent: the key is released and the
 *   connection closed, as Node.js does without the capture when a handler answers after headers went out.
 * - A client that disconnected while the body was buffered still has its response completed (stored).
 *
 * The response must not be destroyed yet (see `fromGuard`).
 * @internal
 */
export function captureNodeResponse(res: ServerResponse, sink: ResponseSink): NodeCapture {
  const original = { write: res.write, end: res.end, writeHead: res.writeHead, flushHeaders: res.flushHeaders };
  const headerMethods = { setHeader: res.setHeader, appendHeader: res.appendHeader, removeHeader: res.removeHeader };
  // Node.js never calls `res.destroy` when a client leaves (the response just closes): a call is the
  // application failing the response (an explicit `res.destroy()`, `pipeline` after its source failed).
  const destroyOriginal = res.destroy;
  let destroyedByApplication = false;
  res.destroy = function destroy(this: ServerResponse, error?: Error) {
    destroyedByApplication = true;
    return destroyOriginal.call(this, error);
  } as ServerResponse['destroy'];
  const writeRaw = original.write as unknown as (this: ServerResponse, chunk: Uint8Array | string, encoding?: unknown, cb?: unknown) => boolean;
  const endRaw = original.end as unknown as (this: ServerResponse, chunk?: Uint8Array | string | Callback, cb?: Callback) => ServerResponse;
  let chunks: Buffer[] = [];
  let size = 0;
  /**
   * 'buffer' while capturing; 'stream' once the body passed `maxBytes` (written through, the end still
   * held); 'settling' once ended, while the sink records it; 'off' once the capture let go.
   */
  let state: 'buffer' | 'stream' | 'settling' | 'off' = 'buffer';
  let ended = false;
  let touched = false;
  let flushAsked = false;
  let endCallback: Callback | undefined;
  /** `res.destroy` as it was before the capture stood in for it (see `afterClientLeft`). */
  let destroyBefore: ServerResponse['destroy'] | undefined;

  /** The whole body, when the application wrote it as one UTF-8 string (`res.send`, `res.json`). */
  let text: string | undefined;

  /** Keeps a copy of `chunk`: the application owns its buffer again as soon as this returns. */
  const add = (chunk: unknown, encoding: unknown): void => {
    if (chunk === undefined || chunk === null) return;
    text = chunks.length === 0 && typeof chunk === 'string' && (typeof encoding !== 'string' || UTF8.test(encoding)) ? chunk : undefined;
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, (typeof encoding === 'string' ? encoding : 'utf8') as BufferEncoding)
        : Buffer.from(chunk as Uint8Array);
    if (bytes.byteLength === 0) return;
    chunks.push(bytes);
    size += bytes.byteLength;
  };

  // The methods are put back by assignment, never with `delete`: the application sets properties of its
  // own on the response meanwhile (`res.status()` adds `statusCode`), and deleting a property that is not
  // the last one added turns the object into a slow dictionary for the rest of its life, which every access
  // Node and Express make to it afterwards would pay for. Put back, they are the same methods as before
  // (another middleware's, such as compression's, or the prototype's).
  const restore = (): void => {
    res.destroy = destroyOriginal;
    res.writeHead = original.writeHead;
    res.flushHeaders = original.flushHeaders;
    res.write = original.write;
    res.end = original.end;
  };

  const captured = (truncated: boolean, body: Uint8Array) => {
    const status = res.statusCode;
    const phrase = res.statusMessage;
    return {
      status,
      ...(phrase && phrase !== STATUS_CODES[status] ? { statusText: phrase } : {}),
      headers: readNodeHeaders(res),
      body,
      truncated,
    };
  };

  /** The body's declared length disagrees with the bytes buffered: sending both would break the framing. */
  const misframed = (): boolean => {
    const declared = res.getHeader('content-length');
    if (declared === undefined || BODYLESS.has(res.statusCode) || res.req?.method === 'HEAD') return false;
    return Number(declared) !== size;
  };

  /**
   * From the application's end until the response goes out, the response is sent as far as anyone can
   * tell: the head it had at `end` is the head that is sent. Headers cannot be changed (they throw
   * `ERR_HTTP_HEADERS_SENT`, as Node.js does once a response is sent), a status set meanwhile is undone,
   * and an error handler sees the response as sent (it reports a later error instead of writing over it).
   */
  const holdHead = (): (() => void) => {
    const status = res.statusCode;
    const phrase = res.statusMessage;
    (res as { [ENDED_BY_APPLICATION]?: boolean })[ENDED_BY_APPLICATION] = true;
    res.setHeader = res.appendHeader = res.removeHeader = headersSent as never;
    return () => {
      res.setHeader = headerMethods.setHeader;
      res.appendHeader = headerMethods.appendHeader;
      res.removeHeader = headerMethods.removeHeader;
      res.statusCode = status;
      res.statusMessage = phrase;
    };
  };

  const settle = async (): Promise<void> => {
    state = 'settling';
    const releaseHead = thrownErrorOf(res) === undefined ? holdHead() : undefined;
    const truncated = size > sink.maxBytes;
    const body = truncated ? EMPTY : concatBytes(chunks, size);
    const thrown = thrownErrorOf(res);
    if (thrown === undefined && misframed()) {
      await sink.abort(new Error('the response body does not match its Content-Length'));
      releaseHead?.();
      restore();
      res.destroy();
      return;
    }
    // A thrown error answered by errorHandler releases the key, as on Koa and fetch.
    const extra = thrown === undefined ? await sink.complete(captured(truncated, body)) : await sink.abort(thrown);
    releaseHead?.();
    restore();
    state = 'off';
    if (extra && !res.headersSent) {
      for (const [name, value] of extra) res.appendHeader(name, value);
    }
    // The whole body is known: one write, with a Content-Length, as without bulwark. A body written as one
    // string is sent as that string: Node writes the head and it in one piece.
    endRaw.call(res, text ?? (truncated ? concatBytes(chunks, size) : body), endCallback);
  };

  const run = (): void => {
    settle().catch((err: unknown) => {
      // Only reached if the socket is gone: the response cannot be sent anyway.
      res.destroy(err instanceof Error ? err : undefined);
    });
  };

  /** The body passed `maxBytes`: what was buffered goes out now, and the rest is written through. */
  const startStreaming = (): boolean => {
    state = 'stream';
    res.writeHead = original.writeHead;
    res.flushHeaders = original.flushHeaders;
    res.write = original.write;
    let more = true;
    for (const chunk of chunks) more = writeRaw.call(res, chunk);
    chunks = [];
    text = undefined;
    return more;
  };

  /** The application ended a streamed body: its completion is recorded, then the response ends. */
  const endStream = (chunk: unknown, encoding: unknown): void => {
    state = 'settling';
    const releaseHead = holdHead();
    if (chunk !== undefined && chunk !== null) writeRaw.call(res, chunk as Uint8Array | string, encoding);
    const done = async (): Promise<void> => {
      await sink.complete(captured(true, EMPTY));
      releaseHead();
      restore();
      state = 'off';
      endRaw.call(res, endCallback);
    };
    done().catch((err: unknown) => res.destroy(err instanceof Error ? err : undefined));
  };

  /**
   * The client left while the body was streamed through, or while a stream was piped in (the pipe stops
   * at the close): the response will never be whole, but the handler did its work. Its key is recorded as
   * completed but not replayable, so that a retry never runs it again.
   */
  const keepUnreplayable = (): void => {
    state = 'off';
    restore();
    void sink.complete(captured(true, EMPTY));
  };

  /** Releases the key of a response the application will never end (nothing whole to store). */
  const release = (error: unknown): void => {
    state = 'off';
    restore();
    void sink.abort(error ?? new Error('the response closed before it was ended'));
  };

  /**
   * The client went away: the application may still end the response, which is then stored for the
   * retry, or destroy it, which Node no longer reports (the response is already destroyed), so from here
   * on the capture stands in for `res.destroy` too.
   */
  const afterClientLeft = (): void => {
    if (destroyBefore !== undefined) return;
    const destroy = res.destroy;
    destroyBefore = destroy;
    res.destroy = function destroyAfterClientLeft(this: ServerResponse, error?: Error) {
      res.destroy = destroy;
      if (!ended && state === 'buffer') release(error);
      return destroy.call(this, error);
    } as ServerResponse['destroy'];
  };

  // The response closed before the application ended it:
  // - the application destroyed it (a body stream that failed under `pipeline`, an explicit
  //   `res.destroy()`): it failed the request, as a thrown error does, and the key is released, whether
  //   the body was buffered or already streaming past `maxBytes`;
  // - the client went away (Node.js closes the response without destroying it) while the body was
  //   streamed through or a stream was piped in: the response will never be whole, but the handler did
  //   its work: the key is kept, completed but not replayable (see `keepUnreplayable`);
  // - the client went away otherwise: the application may still end the response (see `afterClientLeft`).
  const onClose = (): void => {
    if (ended || (state !== 'buffer' && state !== 'stream')) return;
    if (destroyedByApplication || res.errored !== null) release(res.errored);
    else if (state === 'stream' || res.listenerCount('unpipe') > 0) keepUnreplayable();
    else afterClientLeft();
  };
  res.once('close', onClose);
  // Gone already (Koa hands over a response whose client left while the key was claimed).
  if (res.destroyed) afterClientLeft();

  res.writeHead = function writeHead(this: ServerResponse, status: number, ...rest: unknown[]) {
    touched = true;
    res.statusCode = status;
    // As Node.js reads its arguments: (status, reason?, headers?), the reason left out or undefined.
    let headers = rest[1] ?? rest[0];
    if (typeof rest[0] === 'string') {
      res.statusMessage = rest[0];
      headers = rest[1];
    }
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) res.appendHeader(String(headers[i]), String(headers[i + 1]));
    } else if (headers && typeof headers === 'object') {
      for (const [name, value] of Object.entries(headers)) {
        if (value !== undefined) res.setHeader(name, value as string | number | readonly string[]);
      }
    }
    return res;
  } as ServerResponse['writeHead'];

  res.flushHeaders = function flushHeaders() {
    flushAsked = true;
  } as ServerResponse['flushHeaders'];

  // errorHandler answers a thrown error: what the application buffered before it threw never went out,
  // and the error's body goes out alone, whether it is written in one `end` (Express, Fastify 5) or as a
  // `write` and an `end` (Fastify 4).
  let answeringError = false;
  const dropBeforeError = (): void => {
    if (answeringError || thrownErrorOf(res) === undefined) return;
    answeringError = true;
    chunks = [];
    size = 0;
    text = undefined;
  };

  res.write = function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof encoding === 'function') cb = encoding;
    touched = true;
    if (ended || state !== 'buffer') {
      // As Node.js answers a write after the end: its callback gets the error (nothing is written).
      if (ended && typeof cb === 'function') {
        const error = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
        process.nextTick(cb as Callback, error);
      }
      return false;
    }
    dropBeforeError();
    add(chunk, encoding);
    if (typeof cb === 'function') process.nextTick(cb as Callback);
    return size > sink.maxBytes ? startStreaming() : true;
  } as ServerResponse['write'];

  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    touched = true;
    if (ended) return res;
    ended = true;
    if (typeof cb === 'function') endCallback = cb as Callback;
    if (state === 'stream') {
      endStream(chunk, encoding);
      return res;
    }
    if (state !== 'buffer') return res;
    dropBeforeError();
    add(chunk, encoding);
    run();
    return res;
  } as ServerResponse['end'];

  return {
    touched: () => touched,
    detach() {
      if (state !== 'buffer' || touched) return;
      state = 'off';
      res.off('close', onClose);
      if (destroyBefore !== undefined) res.destroy = destroyBefore;
      restore();
      if (flushAsked) res.flushHeaders();
    },
    discard() {
      if (state !== 'buffer' || ended) return false;
      state = 'off';
      res.off('close', onClose);
      if (destroyBefore !== undefined) res.destroy = destroyBefore;
      chunks = [];
      size = 0;
      restore();
      return touched;
    },
  };
}

/**
 * {@link captureNodeResponse}, begun only if the application touches the Node.js response itself
 * (`writeHead`, `write`, `end`, `flushHeaders`, `destroy`), which a Koa application does only with
 * `ctx.respond = false` or an explicit `ctx.res` write. Until then the response carries four small traps and
 * no listener, so that the common case (Koa sends `ctx.body` after the chain returns) costs next to nothing.
 * @internal
 */
export function captureNodeResponseOnTouch(res: ServerResponse, sink: ResponseSink): NodeCapture {
  const own = { write: res.write, end: res.end, writeHead: res.writeHead, flushHeaders: res.flushHeaders, destroy: res.destroy };
  let capture: NodeCapture | undefined;
  let off = false;
  const restore = (): void => {
    res.write = own.write;
    res.end = own.end;
    res.writeHead = own.writeHead;
    res.flushHeaders = own.flushHeaders;
    res.destroy = own.destroy;
  };
  // The first touch puts the response's own methods back and begins the capture on them; the call then
  // goes to the capture's method of the same name.
  const begin = (): ServerResponse => {
    restore();
    if (!off) capture = captureNodeResponse(res, sink);
    return res;
  };
  res.write = function write(this: ServerResponse, ...args: unknown[]) {
    return (begin().write as (...a: unknown[]) => boolean).apply(this, args);
  } as ServerResponse['write'];
  res.end = function end(this: ServerResponse, ...args: unknown[]) {
    return (begin().end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
  res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
    return (begin().writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
  res.flushHeaders = function flushHeaders(this: ServerResponse) {
    begin().flushHeaders();
  } as ServerResponse['flushHeaders'];
  res.destroy = function destroy(this: ServerResponse, error?: Error) {
    return begin().destroy(error);
  } as ServerResponse['destroy'];
  return {
    touched: () => capture?.touched() ?? false,
    detach() {
      if (capture !== undefined) capture.detach();
      else if (!off) restore();
      off = true;
    },
    discard() {
      if (capture !== undefined) return capture.discard();
      if (!off) restore();
      off = true;
      return false;
    },
  };
}
