/**
 * A request body captured once so that every attempt sends the same bytes. Strings, bytes, Blobs,
 * URLSearchParams and FormData are replayable (FormData is encoded once, so every attempt carries the
 * same multipart boundary); a stream can be sent only once.
 */

/**
 * A request body ready to be sent on each attempt. `contentType` is set when the encoding decides it
 * (URLSearchParams, FormData): the caller's own `content-type`, if any, wins.
 */
export type BodySnapshot =
  | { readonly kind: 'none' }
  | { readonly kind: 'replayable'; readonly body: string | Uint8Array | Blob; readonly contentType?: string }
  | { readonly kind: 'stream'; readonly body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> };

const NONE: BodySnapshot = { kind: 'none' };

/**
 * Captures the body of a call made as `fetch(input, init)`: `init.body` when given, else the body of a
 * `Request` input (read into memory, as a `Request` may be cloned anyway).
 */
export function snapshotRequestBody(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): BodySnapshot | Promise<BodySnapshot> {
  if (init !== undefined && init.body !== undefined) return snapshotBody(init.body);
  if (input instanceof Request && input.body !== null) {
    return input.arrayBuffer().then((buffer) => ({ kind: 'replayable', body: new Uint8Array(buffer) }) as const);
  }
  return NONE;
}

/**
 * Captures one `BodyInit` value.
 *
 * @example
 * ```ts
 * snapshotBody(new URLSearchParams({ a: '1' }));
 * // { kind: 'replayable', body: 'a=1', contentType: 'application/x-www-form-urlencoded;charset=UTF-8' }
 * ```
 */
export function snapshotBody(body: BodyInit | null): BodySnapshot | Promise<BodySnapshot> {
  if (body === null) return NONE;
  if (typeof body === 'string') return { kind: 'replayable', body };
  if (body instanceof Blob) return { kind: 'replayable', body };
  if (body instanceof ArrayBuffer) return { kind: 'replayable', body: new Uint8Array(body.slice(0)) };
  if (ArrayBuffer.isView(body)) {
    // A copy: the caller may reuse its buffer while a retry waits.
    const bytes = new Uint8Array(body.byteLength);
    bytes.set(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    return { kind: 'replayable', body: bytes };
  }
  if (body instanceof URLSearchParams) {
    return { kind: 'replayable', body: body.toString(), contentType: 'application/x-www-form-urlencoded;charset=UTF-8' };
  }
  if (body instanceof FormData) {
    // Encoded once: a new encoding would pick a new multipart boundary.
    const encoded = new Response(body);
    const contentType = encoded.headers.get('content-type') ?? undefined;
    return encoded
      .arrayBuffer()
      .then((buffer) => ({ kind: 'replayable', body: new Uint8Array(buffer), contentType }) as const);
  }
  if (body instanceof ReadableStream) return { kind: 'stream', body };
  if (typeof body === 'object' && Symbol.asyncIterator in body) {
    return { kind: 'stream', body: body as AsyncIterable<Uint8Array> };
  }
  // What fetch itself does with any other value.
  return { kind: 'replayable', body: String(body) };
}
