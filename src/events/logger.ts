import { quiet } from './call-hook.js';

/**
 * Where bulwark writes the lines it prints by default (a 5xx, a store that stopped or started answering,
 * a refund that was lost). Anything with `warn` and `error` methods that take a string: `console`, a pino or
 * winston logger. Every line starts with `bulwark: ` and the component (`bulwark: rateLimit "api": ...`).
 * @example `logger: pino()`
 */
export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

/** The default: `console` (stderr). @internal */
export const CONSOLE_LOGGER: Logger = {
  warn: (message) => console.warn(message),
  error: (message) => console.error(message),
};

/** Validates a `logger` option (a `TypeError` names it) and returns the logger to use. @internal */
export function validateLogger(what: string, logger: unknown): Logger {
  if (logger === undefined) return CONSOLE_LOGGER;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    typeof (logger as Logger).warn !== 'function' ||
    typeof (logger as Logger).error !== 'function'
  ) {
    throw new TypeError(`${what}: options.logger must have warn(message) and error(message) methods (console, pino)`);
  }
  return logger as Logger;
}

/** Writes one line, never throwing (a logger that throws must not fail a request). @internal */
export function logLine(logger: Logger, level: 'warn' | 'error', message: string): void {
  try {
    // An async logger's rejection is handled too: a broken logger loses the line, never the request.
    quiet((logger[level] as (message: string) => unknown)(message));
  } catch {
    // a broken logger loses the line, never the request
  }
}
