import { type Logger, logLine, validateLogger } from '../events/logger.js';
import { refuseUnknownOptions } from '../options/unknown-options.js';
import type { ApiError } from './api-error.js';
import { type FormatOptions, type FormattedError, formatError, validateFormatOptions } from './format.js';
import { describe } from './safe-read.js';
import { callHook } from '../events/call-hook.js';

/** What the `onError` hook receives. */
export interface ErrorEvent {
  /** The error as the client sees it. */
  error: ApiError<string>;
  /** The original thrown value (its stack and message are only ever logged, never sent). */
  cause: unknown;
  /** Request method and path, for the log line. */
  method: string;
  path: string;
  /** True when headers were already sent: the connection was ended instead of answered. */
  afterHeadersSent: boolean;
  /**
   * Names of the error's headers that were not sent because Node.js or fetch would refuse them (CR/LF, a
   * character beyond Latin-1, a name that is not a token) or because they would change the framing
   * (`Content-Length`, `Transfer-Encoding`). Present only when there are some.
   */
  droppedHeaders?: readonly string[];
}

/** Options of `errorHandler` on every adapter (and of `guard`'s `errors`). */
export interface ErrorHandlerOptions extends FormatOptions {
  /**
   * Called once for every 5xx, for every error raised after headers were sent, and for every error whose
   * headers had to be dropped (`droppedHeaders`), with its cause. Replaces the default logger. Whatever
   * was thrown, neither the default logger nor a hook that throws turns the answer into another error.
   * @default one line to stderr: `bulwark: 500 internal_error POST /v1/messages: <cause>`
   * @example
   * ```ts
   * errorHandler({ onError: ({ error, cause }) => logger.error({ code: error.code, err: cause }) })
   * ```
   */
  onError?: (event: ErrorEvent) => void;
  /**
   * Where the default line (`bulwark: 500 internal_error POST /v1/messages: <cause>`) is written: anything
   * with `warn(message)` and `error(message)` (console, a pino or winston logger); the line goes to `error`.
   * Unused when `onError` is given. A logger that throws loses the line, never the answer.
   * @default console
   * @example
   * ```ts
   * errorHandler({ logger: pino() })
   * ```
   */
  logger?: Logger;
}

/** The decisions an adapter asks for when an error reaches it. */
export interface ErrorResponder {
  /** Formats the response for an error that arrives before headers were sent, and reports 5xx. */
  respond(err: unknown, method: string, path: string): FormattedError;
  /** Reports an error that arrived after headers were sent (the adapter ends the connection). */
  afterHeadersSent(err: unknown, method: string, path: string): void;
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['onError', 'format', 'problemTypeBase', 'logger']);

/**
 * Builds the shared error policy of every adapter: formatting, the `onError` hook and its default
 * logger. Options are validated here.
 *
 * @example
 * ```ts
 * const responder = createErrorResponder({ format: 'problem' });
 * const { status, headers, body } = responder.respond(err, 'GET', '/v1/messages/1');
 * ```
 */
export function createErrorResponder(options: ErrorHandlerOptions = {}, name = 'errorHandler'): ErrorResponder {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${name}: options must be an object`);
  refuseUnknownOptions(name, options, OPTION_NAMES);
  validateFormatOptions(name, options);
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError(`${name}: options.onError must be a function`);
  }
  const logger = validateLogger(name, options.logger);
  const report = options.onError ?? ((event: ErrorEvent) => defaultLine(logger, event));
  const safeReport = (event: ErrorEvent) => {
    // a failing hook (a throw, a rejection) must not turn one error into two
    callHook(report, event);
  };
  const format: FormatOptions = { format: options.format, problemTypeBase: options.problemTypeBase };
  return {
    respond(err, method, path) {
      const formatted = formatError(err, format);
      const dropped = formatted.droppedHeaders;
      if (formatted.status >= 500 || dropped.length > 0) {
        const event: ErrorEvent = { error: formatted.error, cause: err, method, path, afterHeadersSent: false };
        if (dropped.length > 0) event.droppedHeaders = dropped;
        safeReport(event);
      }
      return formatted;
    },
    afterHeadersSent(err, method, path) {
      const formatted = formatError(err, format);
      safeReport({ error: formatted.error, cause: err, method, path, afterHeadersSent: true });
    },
  };
}

function defaultLine(logger: Logger, event: ErrorEvent): void {
  const cause = describe(event.cause);
  const when = event.afterHeadersSent ? ' (after headers were sent; connection ended)' : '';
  const dropped = event.droppedHeaders ? ` (headers not sent: ${event.droppedHeaders.join(', ')})` : '';
  logLine(logger, 'error', `bulwark: ${event.error.status} ${event.error.code} ${event.method} ${event.path}${when}${dropped}: ${cause.split('\n')[0]}`);
}
