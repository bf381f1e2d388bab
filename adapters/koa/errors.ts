import { BULWARK_ERROR_HANDLER } from '../node/thrown.js';
import type { Context, Middleware, Next } from 'koa';
import { ApiError } from '../../src/errors/api-error.js';
import { clearForErrorBody } from '../../src/guard/node-headers.js';
import { createErrorResponder, type ErrorHandlerOptions } from '../../src/errors/error-responder.js';
import type { FormattedError } from '../../src/errors/format.js';

/**
 * Koa middleware, mounted first, that answers every error with the documented JSON body and a stable
 * code, and turns an unmatched route (no body, status 404) into a JSON `not_found`. Works with Koa 2 and 3.
 *
 * An error raised after headers were sent (for example a streamed body that fails) ends the connection
 * and is reported once to `onError`; Koa's own `error` event is not emitted for errors handled here. An
 * error that reaches Koa itself before headers were sent (a body `JSON.stringify` cannot write, a body
 * stream that fails before its first byte on Koa 2, a middleware mounted before this one) gets the same
 * JSON body instead of Koa's text.
 *
 * @example
 * ```ts
 * const app = new Koa();
 * app.use(errorHandler());
 * app.use(router.routes());
 * ```
 */
export function errorHandler(options: ErrorHandlerOptions = {}): Middleware {
  const responder = createErrorResponder(options, 'errorHandler');
  return async function bulwarkErrorHandler(ctx: Context, next: Next) {
    (ctx as { [BULWARK_ERROR_HANDLER]?: boolean })[BULWARK_ERROR_HANDLER] = true;
    const path = ctx.path;
    const method = ctx.method;
    let reported = false;
    const afterHeaders = (err: unknown) => {
      if (!reported) {
        reported = true;
        responder.afterHeadersSent(err, method, path);
      }
      ctx.res.destroy();
    };
    // Errors that reach Koa after this middleware returned (Koa calls ctx.onerror then).
    ctx.onerror = function onerror(this: Context, err: unknown) {
      if (err == null) return;
      if (ctx.headerSent || !ctx.writable) afterHeaders(err);
      else answerDirectly(ctx, responder.respond(err, method, path));
    };
    try {
      await next();
      if (unanswered(ctx)) throw new ApiError('not_found');
    } catch (err) {
      if (ctx.headerSent || !ctx.writable) {
        afterHeaders(err);
        return;
      }
      const { status, headers, body } = responder.respond(err, method, path);
      clearForErrorBody(ctx.res);
      ctx.status = status;
      ctx.body = body;
      // The formatted headers are all valid: nothing here throws.
      for (const name in headers) ctx.set(name, headers[name]!);
    }
  };
}

/**
 * Writes an error response past Koa (which gave up on this response): as Koa's own error answer does,
 * the headers of the failed response go first (its type, length or encoding do not describe this body).
 */
function answerDirectly(ctx: Context, formatted: FormattedError): void {
  const res = ctx.res;
  try {
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.statusCode = formatted.status;
    for (const name in formatted.headers) res.setHeader(name, formatted.headers[name]!);
    res.setHeader('content-length', Buffer.byteLength(formatted.body));
    res.end(ctx.method === 'HEAD' ? undefined : formatted.body);
  } catch {
    res.destroy();
  }
}

/**
 * Whether nothing answered the request: Koa's own 404 without a body, which both the error handler and the
 * idempotency capture turn into the documented `not_found`. @internal
 */
export function unanswered(ctx: Context): boolean {
  return ctx.status === 404 && ctx.body == null && ctx.respond !== false;
}
