import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../src/errors/api-error.js';
import { codeForStatus, messageForStatus } from '../../src/errors/catalog.js';
import { createErrorResponder, type ErrorHandlerOptions, type ErrorResponder } from '../../src/errors/error-responder.js';
import { read } from '../../src/errors/safe-read.js';
import { BODY_ERRORS, MALFORMED_PATH } from '../../src/errors/to-api-error.js';
import { clearForErrorBody } from '../../src/guard/node-headers.js';
import { BULWARK_ERROR_HANDLER, endedByApplication, markThrown } from '../node/thrown.js';
import { replyHeaders } from './reply-headers.js';
import { thrownValue } from './opaque.js';
import { skipOverride } from './plugin.js';

/** Fastify's own errors for request bodies, as the documented body-parser errors. */
const FASTIFY_BODY_ERRORS: Readonly<Record<string, keyof typeof BODY_ERRORS>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'entity.too.large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'request.size.invalid',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'entity.parse.failed',
  FST_ERR_CTP_INVALID_JSON_BODY: 'entity.parse.failed',
};

/**
 * Fastify's own errors that carry something of the request in their message (Fastify 4 puts the
 * request's Content-Type in FST_ERR_CTP_INVALID_MEDIA_TYPE's, every version the path in FST_ERR_BAD_URL's):
 * each gets a fixed message instead.
 */
const FASTIFY_REQUEST_ERRORS: Readonly<Record<string, () => ApiError<string>>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new ApiError('unsupported_media_type'),
  FST_ERR_BAD_URL: () => new ApiError('bad_request', { message: MALFORMED_PATH }),
  FST_ERR_MAX_PARAM_LENGTH: () => new ApiError<string>('uri_too_long', { status: 414, message: 'A parameter in the request URL is too long.' }),
};

/**
 * Fastify's own errors in bulwark's terms: a schema validation failure (`error.validation`) is a 422
 * `invalid_request` carrying Fastify's message (it names the failing property, never a value); a body
 * too large a 413 `payload_too_large`; a malformed, empty or misframed JSON body a 422 `invalid_request`;
 * a Content-Type without a parser a 415 `unsupported_media_type` (with the catalog's message: Fastify 4's
 * repeats the type). Anything else is left to `formatError` (an http-errors-style `statusCode` keeps its
 * status). @internal
 */
export function fromFastifyError(err: unknown): unknown {
  if (typeof err !== 'object' || err === null) return err;
  const validation = read(err, 'validation');
  if (Array.isArray(validation)) {
    const message = read(err, 'message');
    return new ApiError('invalid_request', {
      ...(typeof message === 'string' && message.length > 0 ? { message } : {}),
      cause: err,
    });
  }
  const code = read(err, 'code');
  if (typeof code === 'string' && Object.hasOwn(FASTIFY_BODY_ERRORS, code)) {
    const mapped = BODY_ERRORS[FASTIFY_BODY_ERRORS[code]!];
    return new ApiError(mapped.code, { message: mapped.message, cause: err });
  }
  if (typeof code === 'string' && Object.hasOwn(FASTIFY_REQUEST_ERRORS, code)) return withCause(FASTIFY_REQUEST_ERRORS[code]!(), err);
  return err;
}

function withCause(error: ApiError<string>, cause: unknown): ApiError<string> {
  return new ApiError<string>(error.code, { status: error.status, message: error.message, cause });
}

/**
 * A Fastify plugin that answers every error with the documented JSON body (`{"message","error",...details}`)
 * and a stable code (`setErrorHandler`), and an unmatched route (or `reply.callNotFound()`) with a 404
 * `not_found` in the same body (`setNotFoundHandler`). Fastify's schema validation failures become 422
 * `invalid_request`. Register it at the top for the whole app, or inside one encapsulated context for that
 * context (the plugin skips encapsulation). Options are those of `errorHandler` on every adapter. Works
 * with Fastify 4 and 5.
 *
 * An error raised after headers were sent (a stream body that fails midway) ends the connection (never a
 * second write) and is reported once to `onError`.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(errorHandler, { onError: ({ error, cause }) => app.log.error({ code: error.code, err: cause }) });
 * ```
 */
export const errorHandler = skipOverride<ErrorHandlerOptions>('errorHandler', (instance: FastifyInstance, options) => {
  const responder = createErrorResponder(options ?? {}, 'errorHandler');
  // frameworkErrors answers with the options of the errorHandler registered at the top of the app.
  RESPONDERS.set(instance, responder);
  // Requests of this context carry the mark (on their prototype: nothing per request), so that a guard
  // hands its 5xx to this handler rather than to Fastify's default, which would send the thrown message.
  if (!instance.hasRequestDecorator(BULWARK_ERROR_HANDLER as unknown as string)) {
    instance.decorateRequest(BULWARK_ERROR_HANDLER as unknown as string, true as never);
  }
  instance.setErrorHandler(function bulwarkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    answer(responder, thrownValue(error), request, reply);
  });
  instance.setNotFoundHandler(function bulwarkNotFound(request: FastifyRequest, reply: FastifyReply) {
    answer(responder, new ApiError('not_found'), request, reply);
  });
  // A stream body that fails once its head went out never reaches the error handler (Fastify ends the
  // connection and logs it): it is reported to onError here, once.
  instance.addHook('onSend', function bulwarkStreamErrors(request: FastifyRequest, reply: FastifyReply, payload: unknown, done) {
    if (payload !== null && typeof payload === 'object' && typeof (payload as { pipe?: unknown }).pipe === 'function') {
      (payload as NodeJS.ReadableStream).once('error', (err: unknown) => {
        if (reply.raw.headersSent) responder.afterHeadersSent(err, request.method, request.url.split('?')[0] ?? '/');
      });
    }
    done(null, payload);
  });
});

/** The responder of the errorHandler registered on each instance (weakly: an app that is gone is forgotten). */
const RESPONDERS = new WeakMap<object, ErrorResponder>();
let defaultResponder: ErrorResponder | undefined;

/**
 * Fastify's `frameworkErrors` option: answers the errors Fastify raises before any route, hook or error
 * handler runs, with the documented JSON body, where Fastify would answer with its own JSON (which
 * echoes the path). Fastify reads it only from its factory options, so it is not a plugin: pass it as
 * `Fastify({ frameworkErrors })`. Works with Fastify 4 and 5.
 *
 * - A malformed URL (`FST_ERR_BAD_URL`: `GET /%`, `GET /v1/messages/%E0%A4%A`) is a 400 `bad_request`.
 * - A path parameter longer than Fastify's `maxParamLength` (`FST_ERR_MAX_PARAM_LENGTH`, Fastify 5; on
 *   Fastify 4 that request is a 404) is a 414 `uri_too_long`.
 * - An asynchronous route constraint that fails (`FST_ERR_ASYNC_CONSTRAINT`) is a 500 `internal_error`,
 *   reported like every 5xx.
 * - Any other framework error keeps its status with the generic message of that status.
 *
 * Neither the path nor Fastify's message is ever sent. The body's format (`format`, `problemTypeBase`) and
 * the report of a 5xx (`onError`, `logger`) are those of the {@link errorHandler} registered at the top of
 * the app, if there is one; else the defaults (JSON, one line to `console.error` for a 5xx). These requests
 * reach no route and no hook: bulwark's guards do not see them.
 *
 * Errors about a request body that Fastify raises once a route is found (a Content-Type with no parser,
 * `FST_ERR_CTP_INVALID_MEDIA_TYPE`, a 415 `unsupported_media_type`; a malformed JSON body) go to the error
 * handler instead: register {@link errorHandler} too.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { errorHandler, frameworkErrors } from 'bulwark/fastify';
 * const app = Fastify({ frameworkErrors });
 * await app.register(errorHandler, { format: 'problem' });
 * // GET /% → 400 {"message":"The request path holds a malformed percent-encoding.","error":"bad_request",...}
 * ```
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  let responder: ErrorResponder | undefined;
  try {
    responder = RESPONDERS.get(request.server);
  } catch {
    // a request without its server: the defaults answer
  }
  responder ??= defaultResponder ??= createErrorResponder({}, 'frameworkErrors');
  answer(responder, fromFrameworkError(error), request, reply);
}

/**
 * A framework error in bulwark's terms, never its message (it holds the path) nor a code of Fastify's. A
 * 5xx (or an error without a status) is left as it is: formatting makes it a 500 `internal_error` with the
 * generic message, and Fastify's error is the cause reported to `onError`.
 */
function fromFrameworkError(err: unknown): unknown {
  if (typeof err !== 'object' || err === null) return err;
  const code = read(err, 'code');
  if (typeof code === 'string' && Object.hasOwn(FASTIFY_REQUEST_ERRORS, code)) return withCause(FASTIFY_REQUEST_ERRORS[code]!(), err);
  const status = read(err, 'statusCode');
  if (typeof status === 'number' && Number.isInteger(status) && status >= 400 && status < 500) {
    return new ApiError<string>(codeForStatus(status), { status, message: messageForStatus(status), cause: err });
  }
  return err;
}

function answer(responder: ErrorResponder, err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const method = request.method;
  const path = request.url.split('?')[0] ?? '/';
  const res = reply.raw;
  if (res.headersSent) {
    responder.afterHeadersSent(err, method, path);
    res.destroy();
    return;
  }
  // The route ended the response and an idempotency capture is writing its record before sending it:
  // the response is sent as far as the route goes, and goes out as it was ended.
  if (endedByApplication(res)) {
    responder.afterHeadersSent(err, method, path);
    return;
  }
  const { status, headers, body } = responder.respond(fromFastifyError(err), method, path);
  // An idempotency capture releases the key of a response that answers a thrown error.
  markThrown(res, err);
  try {
    // The headers the route set for the body it meant to send (its encoding, disposition, location, a
    // reason phrase) do not describe the JSON error: they go, on the reply and on the Node.js response.
    clearForErrorBody({
      ...replyHeaders(reply),
      removeHeader: (name: string) => reply.removeHeader(name),
      set statusMessage(value: string) {
        res.statusMessage = value;
      },
    });
    reply.code(status);
    for (const name in headers) reply.header(name, headers[name]!);
    reply.send(Buffer.from(body));
  } catch {
    // Only a response that can no longer be written gets here (the formatted headers are all valid).
    res.destroy();
  }
}
