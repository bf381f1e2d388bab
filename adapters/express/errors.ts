import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { ApiError } from '../../src/errors/api-error.js';
import { createErrorResponder, type ErrorHandlerOptions } from '../../src/errors/error-responder.js';
import { clearForErrorBody } from '../../src/guard/node-headers.js';
import { BULWARK_ERROR_HANDLER, endedByApplication, markThrown } from '../node/thrown.js';

/**
 * Express error middleware that answers every error with the documented JSON body
 * (`{"message","error",...details}`) and a stable code. Mount it last. Works with Express 4 and 5.
 *
 * An error raised after headers were sent ends the connection (never a second write) and is
 * reported once to `onError`.
 *
 * @example
 * ```ts
 * app.use(notFound());
 * app.use(errorHandler({ onError: ({ error, cause }) => log.error(error.code, cause) }));
 * ```
 */
export function errorHandler(options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  const responder = createErrorResponder(options, 'errorHandler');
  const handler = function bulwarkErrorHandler(err: unknown, req: Request, res: Response, _next: NextFunction) {
    const path = (req.originalUrl ?? req.url).split('?')[0] ?? '/';
    if (res.headersSent) {
      responder.afterHeadersSent(err, req.method, path);
      res.destroy();
      return;
    }
    // The application ended the response and an idempotency capture is writing its record before sending
    // it: the response is sent as far as the application goes, and goes out as it was ended.
    if (endedByApplication(res)) {
      responder.afterHeadersSent(err, req.method, path);
      return;
    }
    const { status, headers, body } = responder.respond(err, req.method, path);
    markThrown(res, err);
    try {
      clearForErrorBody(res);
      res.statusCode = status;
      for (const name in headers) res.setHeader(name, headers[name]!);
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      // Only a response that can no longer be written gets here (the formatted headers are all valid).
      res.destroy();
    }
  };
  Object.defineProperty(handler, BULWARK_ERROR_HANDLER, { value: true });
  return handler;
}

/**
 * Express middleware for unmatched routes: a 404 `not_found` in the documented body. Mount it after
 * your routes and before {@link errorHandler}.
 *
 * @example
 * ```ts
 * app.use(notFound());
 * ```
 */
export function notFound(): RequestHandler {
  return function bulwarkNotFound(_req: Request, _res: Response, next: NextFunction) {
    next(new ApiError('not_found'));
  };
}
