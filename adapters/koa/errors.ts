import type { Context, Middleware, Next } from 'koa';
import { ApiError } from '../../src/errors/api-error.js';
import { createErrorResponder, type ErrorHandlerOptions } from '../../src/errors/error-responder.js';

/**
 * Koa middleware, mounted first, that answers every error with the documented JSON body and a stable
 * code, and turns an unmatched route (no body, status 404) into a JSON `not_found`. Works with Koa 2 and 3.
 *
 * An error raised after headers were sent (for example a streamed body that fails) ends the connection
 * and is reported once to `onError`; Koa's own `error` event is not emitted for errors handled here.
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
    const path = ctx.path;
    let reported = false;
    const afterHeaders = (err: unknown) => {
      if (!reported) {
        reported = true;
        responder.afterHeadersSent(err, ctx.method, path);
      }
      ctx.res.destroy();
    };
    // A streamed body fails after this middleware returned: Koa calls ctx.onerror then.
    const koaOnError = ctx.onerror;
    ctx.onerror = function onerror(this: Context, err: unknown) {
      if (err != null && ctx.headerSent) return afterHeaders(err);
      return koaOnError.call(this, err as Error);
    };
    try {
      await next();
      if (unanswered(ctx)) throw new ApiError('not_found');
    } catch (err) {
      if (ctx.headerSent || !ctx.writable) {
        afterHeaders(err);
        return;
      }
      const { status, headers, body } = responder.respond(err, ctx.method, path);
      ctx.status = status;
      ctx.body = body;
      for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
    }
  };
}

/**
 * Whether nothing answered the request: Koa's own 404 without a body, which both the error handler and the
 * idempotency capture turn into the documented `not_found`. @internal
 */
export function unanswered(ctx: Context): boolean {
  return ctx.status === 404 && ctx.body == null && ctx.respond !== false;
}
