import type { ApiError } from './api-error.js';
import { toApiError } from './to-api-error.js';

/** Output format of error bodies. */
export type ErrorFormat = 'json' | 'problem';

/** Options of {@link formatError}. */
export interface FormatOptions {
  /**
   * `'json'`: `{"message","error",...details}` as `application/json`.
   * `'problem'`: RFC 9457 `application/problem+json` that keeps the `error` member.
   * @default 'json'
   */
  format?: ErrorFormat;
  /**
   * Base URI of problem types in `'problem'` format; the code is appended. Without it, `type` is
   * `about:blank`-style `urn:bulwark:error:<code>`.
   * @default undefined
   */
  problemTypeBase?: string;
}

/** A formatted error response. */
export interface FormattedError {
  status: number;
  /** Lower-case header names; always includes `content-type`. */
  headers: Record<string, string>;
  /** The serialised body. */
  body: string;
  /** The error that was formatted (unknown values become `internal_error`). */
  error: ApiError<string>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/**
 * Formats any thrown value as the documented error response.
 *
 * @example
 * ```ts
 * const { status, headers, body } = formatError(new ApiError('throttled', { headers: { 'Retry-After': '2' } }));
 * // 429, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '2' },
 * // '{"message":"Too many requests. Wait for Retry-After seconds.","error":"throttled"}'
 * ```
 */
export function formatError(err: unknown, options: FormatOptions = {}): FormattedError {
  const error = toApiError(err);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(error.headers)) headers[name.toLowerCase()] = value;
  let payload: Record<string, unknown>;
  if (options.format === 'problem') {
    const base = options.problemTypeBase;
    payload = {
      ...error.details,
      type: base ? `${base.replace(/\/?$/, '/')}${error.code}` : `urn:bulwark:error:${error.code}`,
      title: error.message,
      status: error.status,
      detail: error.message,
      message: error.message,
      error: error.code,
    };
    headers['content-type'] = PROBLEM_TYPE;
  } else {
    payload = { ...error.details, message: error.message, error: error.code };
    headers['content-type'] = JSON_TYPE;
  }
  return { status: error.status, headers, body: safeStringify(payload, error), error };
}

function safeStringify(payload: Record<string, unknown>, error: ApiError<string>): string {
  try {
    return JSON.stringify(orderFirst(payload));
  } catch {
    return JSON.stringify({ message: error.message, error: error.code });
  }
}

/** `message` and `error` lead the body, as on the API error page. */
function orderFirst(payload: Record<string, unknown>): Record<string, unknown> {
  const { message, error, ...rest } = payload;
  return { message, error, ...rest };
}

/**
 * Validates a `format` option when a middleware is built.
 * @internal
 */
export function validateFormatOptions(name: string, options: FormatOptions | undefined): void {
  if (options === undefined) return;
  if (options.format !== undefined && options.format !== 'json' && options.format !== 'problem') {
    throw new TypeError(`${name}: options.format must be 'json' or 'problem'`);
  }
  if (options.problemTypeBase !== undefined && typeof options.problemTypeBase !== 'string') {
    throw new TypeError(`${name}: options.problemTypeBase must be a string`);
  }
}
