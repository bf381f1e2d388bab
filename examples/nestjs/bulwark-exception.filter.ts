/**
 * A Nest exception filter that hands every error to bulwark's Express `errorHandler`, so that the client
 * gets bulwark's documented body (`{"message","error",...details}`, a stable code) instead of Nest's own
 * JSON (`{"statusCode","message"}`, and `{"statusCode":500,"message":"Internal server error"}` for an
 * `ApiError`, which Nest does not know).
 *
 * `@Catch()` with no argument catches everything: an `ApiError` thrown in a controller or a service, Nest's
 * `HttpException`s (a `ParseIntPipe`'s `BadRequestException` is 400 `bad_request`, its message kept), and
 * the errors of plain Express middleware mounted with `app.use()` (a body parser's, or a 5xx of a
 * bulwark guard whose store is down), which Nest passes to its filters too.
 *
 * @example
 * ```ts
 * const app = await NestFactory.create(AppModule, { bodyParser: false });
 * app.useGlobalFilters(new BulwarkExceptionFilter({ onError: ({ error, cause }) => log.error(error.code, cause) }));
 * ```
 */
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { type ErrorHandlerOptions, errorHandler } from '../../adapters/express.js';
import { malformedPath } from '../messaging/path.js';

@Catch()
export class BulwarkExceptionFilter implements ExceptionFilter {
  readonly #handle: ErrorRequestHandler;

  /** Takes the options of bulwark's `errorHandler` (`onError`, `format`, ...). */
  constructor(options: ErrorHandlerOptions = {}) {
    this.#handle = errorHandler(options);
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.#handle(original(exception), http.getRequest<Request>(), http.getResponse<Response>(), http.getNext<NextFunction>());
  }
}

/**
 * Nest wraps two kinds of Express errors in a `BadRequestException` (or an `HttpException`) with the
 * original as its `cause`: a body parser's (which carries a `type` such as `entity.parse.failed`) and a
 * path Express cannot decode (a `URIError`). bulwark knows the body parser's: malformed JSON is 422
 * `invalid_request`, a body over the limit 413 `payload_too_large`, as on every other adapter; a path that
 * cannot be decoded is 400 `bad_request`. Any other exception goes to bulwark as thrown.
 */
function original(exception: unknown): unknown {
  if (!(exception instanceof HttpException)) return exception;
  const cause: unknown = exception.cause;
  // Express's message for it repeats the path: the demo's says what is wrong instead.
  if (cause instanceof URIError) return malformedPath(cause);
  if (cause instanceof Error && typeof (cause as { type?: unknown }).type === 'string') return cause;
  return exception;
}
