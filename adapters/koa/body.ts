import type { Context } from 'koa';
import { decodeNodeBody } from '../../src/guard/decode-node-body.js';
import { readNodeBody } from '../../src/guard/read-node-body.js';
import type { RequestBody } from '../../src/guard/types.js';

/**
 * The body a parser already read is given synchronously; otherwise the raw bytes are read, up to `limit`,
 * and left in the request for whatever reads it next (a body parser mounted later, or the handler);
 * the guard sees them decoded (`Content-Encoding`).
 */
export function koaBody(ctx: Context, limit: number): RequestBody | Promise<RequestBody> {
  const contentType = ctx.get('content-type') || undefined;
  const request = ctx.request as { body?: unknown; rawBody?: unknown };
  // A parser that skipped the body (@koa/bodyparser sets `{}` for a type it does not parse) left the
  // stream unread: the bytes count then, not that placeholder.
  if (request.body !== undefined && (ctx.req.readableEnded || !hasBody(ctx))) {
    if (request.body instanceof Uint8Array) return { kind: 'bytes', bytes: request.body, contentType };
    // A value the body parser already made is used as is (no second parse); text bodies keep their bytes.
    if (typeof request.body === 'object' && request.body !== null) return { kind: 'parsed', value: request.body, contentType };
    if (typeof request.rawBody === 'string') {
      return { kind: 'bytes', bytes: new TextEncoder().encode(request.rawBody), contentType };
    }
    return { kind: 'parsed', value: request.body, contentType };
  }
  if (!hasBody(ctx)) return { kind: 'none' };
  const raw = readNodeBody(ctx.req, limit);
  // Counted as decoded: a gzip body says what its decoded bytes say, as a body parser would read it.
  const encoding = ctx.req.headers['content-encoding'];
  if (raw instanceof Uint8Array) return { kind: 'bytes', bytes: decodeNodeBody(raw, encoding, limit), contentType };
  return raw.then((read) => ({ kind: 'bytes', bytes: decodeNodeBody(read, encoding, limit), contentType }));
}

function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length');
  return ctx.get('transfer-encoding') !== '' || (length !== '' && length !== '0');
}
