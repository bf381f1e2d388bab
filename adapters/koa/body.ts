import type { Context } from 'koa';
import { asBuffer } from '../../src/guard/as-buffer.js';
import { readNodeBody } from '../../src/guard/node-view.js';
import type { RequestBody } from '../../src/guard/types.js';

/** Largest raw body read for a guard when no body parser ran before it. */
const RAW_BODY_LIMIT = 1_048_576;

/** The body a parser already read is given synchronously; otherwise the raw bytes are read (and kept). */
export function koaBody(ctx: Context): RequestBody | Promise<RequestBody> {
  const contentType = ctx.get('content-type') || undefined;
  const request = ctx.request as { body?: unknown; rawBody?: unknown };
  if (request.body !== undefined) {
    if (request.body instanceof Uint8Array) return { kind: 'bytes', bytes: request.body, contentType };
    // A value the body parser already made is used as is (no second parse); text bodies keep their bytes.
    if (typeof request.body === 'object' && request.body !== null) return { kind: 'parsed', value: request.body, contentType };
    if (typeof request.rawBody === 'string') {
      return { kind: 'bytes', bytes: new TextEncoder().encode(request.rawBody), contentType };
    }
    return { kind: 'parsed', value: request.body, contentType };
  }
  const length = ctx.get('content-length');
  if (!ctx.get('transfer-encoding') && (length === '' || length === '0')) return { kind: 'none' };
  return readKoaBody(ctx, contentType);
}

async function readKoaBody(ctx: Context, contentType: string | undefined): Promise<RequestBody> {
  const bytes = await readNodeBody(ctx.req, RAW_BODY_LIMIT);
  (ctx.request as { rawBody?: unknown }).rawBody = asBuffer(bytes).toString('utf8');
  return { kind: 'bytes', bytes, contentType };
}
