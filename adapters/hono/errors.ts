import type { Context, ErrorHandler, MiddlewareHandler, Next, NotFoundHandler } from 'hono';
import { ApiError } from '../../src/errors/api-error.js';
import { createErrorResponder, type ErrorHandlerOptions, type ErrorResponder } from '../../src/errors/error-responder.js';
import { markThrown } from '../node/thrown.js';
import { takeAdded } from './added.js';
import { decisionResponse } from './respond.js';
import { asError, thrownValueOf } from './thrown.js';

/** What {@link errorHandler} returns: a handler for `app.onError`, and a middleware for `app.use()`. */
export type HonoErrorHandler = ErrorHandler & MiddlewareHandler;

/**
 * A handler for `app.onError` that answers every error with the documented JSON body
 * (`{"message","error",...details}`) and a stable code: an `ApiError`, Hono's own `HTTPException` (its
 * status, its message for a 4xx, and its `Retry-After`, `WWW-Authenticate`, `Allow`, `Location` and
 * `RateLimit` headers), a body parser's error, anything else as a 500 `internal_error` that shows nothing
 * of what was thrown. Every 5xx reaches `onError` with its cause.
 *
 * Hono hands only `Error` instances to `app.onError`: any other thrown value (a string, a plain object)
 * escapes `app.fetch`, and the server answers it without a body. Mounted first with `app.use()` as well,
 * the same handler answers those too (bulwark's guards also carry such a value on to `app.onError`).
 *
 * @example
 * ```ts
 * const app = new Hono();
 * const errors = errorHandler({ onError: ({ error, cause }) => log.error(error.code, cause) });
 * app.use(errors); // first: values thrown that are not Errors
 * app.onError(errors);
 * app.notFound(notFound());
 * ```
 */
export function errorHandler(options: ErrorHandlerOptions = {}): HonoErrorHandler {
  const responder = createErrorResponder(options, 'errorHandler');
  function bulwarkErrorHandler(err: Error, c: Context): Response;
  function bulwarkErrorHandler(c: Context, next: Next): Promise<undefined>;
  function bulwarkErrorHandler(first: Error | Context, second: Context | Next): Response | Promise<undefined> {
    // app.use(): (c, next); app.onError: (err, c).
    if (typeof second === 'function') return guardChain(first as Context, second);
    return answer(responder, thrownValueOf(first), second);
  }
  async function guardChain(c: Context, next: Next): Promise<undefined> {
    try {
      await next();
    } catch (err) {
      // Hono answered every Error with app.onError already: what gets here is another thrown value.
      c.error = asError(err);
      c.res = undefined;
      c.res = answer(responder, thrownValueOf(err), c);
    }
    return undefined;
  }
  return bulwarkErrorHandler as HonoErrorHandler;
}

/**
 * A handler for `app.notFound`: a 404 `not_found` in the documented body (the same options as
 * {@link errorHandler}, for `format: 'problem'`). An idempotency key on an unmatched route is released,
 * as for a thrown error.
 *
 * @example
 * ```ts
 * app.notFound(notFound());
 * app.notFound(notFound({ format: 'problem' })); // with errorHandler({ format: 'problem' })
 * ```
 */
export function notFound(options: ErrorHandlerOptions = {}): NotFoundHandler {
  const responder = createErrorResponder(options, 'notFound');
  return function bulwarkNotFound(c: Context): Response {
    return answer(responder, new ApiError('not_found'), c);
  };
}

/** The documented error response for `err`, marked as the answer to a thrown error. */
function answer(responder: ErrorResponder, err: unknown, c: Context): Response {
  const request = c.req.raw;
  const path = c.req.path;
  const { status, headers, body } = responder.respond(err, request.method, path);
  markThrown(c, err);
  // After the headers of the guards that let the request through (as Express's errorHandler writes on the
  // response they were set on): the error's own replace those of the same name.
  return decisionResponse(request, takeAdded(c), { type: 'respond', status, headers: Object.entries(headers), body });
}
