import type { Context, Middleware, Next } from 'koa';
import { nodeView, readNodeBody } from '../../src/guard/node-view.js';
import { writeNodeHeaders } from '../../src/guard/node-headers.js';
import type { Decision, Guard, RequestBody } from '../../src/guard/types.js';
import { captureResponse } from './capture.js';
import { asBuffer } from '../../src/guard/as-buffer.js';

const RAW_BODY_LIMIT = 1_048_576;

/**
 * Turns a core guard into Koa middleware (Koa 2 and 3): build the neutral view, ask, apply.
 * @internal
 */
export function fromGuard(guard: Guard<Context>): Middleware {
  return function bulwarkMiddleware(ctx: Context, next: Next): Promise<void> {
    let decision: Decision | Promise<Decision>;
    try {
      decision = guard.check(nodeView(ctx.req, ctx.originalUrl, ctx, koaBody));
    } catch (err) {
      return Promise.reject(err);
    }
    // A synchronous decision (memory store) costs no extra promise.
    if (decision instanceof Promise) return decision.then((settled) => apply(settled, ctx, next));
    return apply(decision, ctx, next);
  };
}

function apply(decision: Decision, ctx: Context, next: Next): Promise<void> {
  if (decision.type === 'respond') {
    ctx.status = decision.status;
    // The headers first: with its Content-Type already set, Koa does not look up a type of its own for
    // the body (and then have it replaced).
    writeNodeHeaders(ctx.res, decision.headers);
    // Koa sends no body for HEAD itself, and keeps the Content-Length. Bytes are handed over, not copied.
    const body = decision.body;
    ctx.body = typeof body === 'string' ? body : asBuffer(body);
    return Promise.resolve();
  }
  if (decision.headers) writeNodeHeaders(ctx.res, decision.headers);
  return decision.sink ? captureResponse(ctx, next, decision.sink) : next();
}

/** The body a parser already read is given synchronously; otherwise the raw bytes are read (and kept). */
function koaBody(ctx: Context): RequestBody | Promise<RequestBody> {
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
