import { ApiError } from './api-error.js';
import { isHeaderName, isHeaderValue } from './header-check.js';
import { copyRecord, entriesOf } from './safe-read.js';
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
  /** Lower-case header names; always includes `content-type`. Only headers Node.js and fetch accept. */
  headers: Record<string, string>;
  /** The serialised body. */
  body: string;
  /** The error that was formatted (unknown values become `internal_error`). */
  error: ApiError<string>;
  /**
   * Names of the error's headers that were left out: a name or value Node.js or fetch would refuse
   * (CR/LF, a character beyond Latin-1, a control character, a name that is not a token, a value that is
   * not a string or number), or a header that would change the framing (`Content-Length`,
   * `Transfer-Encoding`). Empty for almost every error.
   */
  droppedHeaders: string[];
}

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/** Headers an error may not set: the framing of the response is the adapter's. */
const FRAMING = new Set(['content-length', 'transfer-encoding']);

/**
 * Formats any thrown value as the documented error response. Never throws, whatever the value (see
 * `toApiError`); headers Node.js or fetch would refuse are left out and named in `droppedHeaders`; details
 * that JSON cannot write (a bigint, a cycle, a throwing `toJSON`) leave the body with `message` and
 * `error` only.
 *
 * @example
 * ```ts
 * const { status, headers, body } = formatError(new ApiError('throttled', { headers: { 'Retry-After': '2' } }));
 * // 429, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '2' },
 * // '{"message":"Too many requests. Wait for Retry-After seconds.","error":"throttled"}'
 * ```
 */
export function formatError(err: unknown, options: FormatOptions = {}): FormattedError {
  try {
    return formatApiError(toApiError(err), options);
  } catch {
    // Only an ApiError whose getters answered once and then threw gets here.
    return formatApiError(new ApiError<string>('internal_error', { cause: err }), options);
  }
}

function formatApiError(error: ApiError<string>, options: FormatOptions): FormattedError {
  const headers: Record<string, string> = {};
  const droppedHeaders: string[] = [];
  for (const [name, raw] of entriesOf(error.headers)) {
    const value = typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : raw;
    const lower = typeof name === 'string' ? name.toLowerCase() : '';
    if (isHeaderName(name) && isHeaderValue(value) && !FRAMING.has(lower)) headers[lower] = value;
    else droppedHeaders.push(typeof name === 'string' ? lower : String(typeof name));
  }
  const message = error.message;
  const code = error.code;
  const details = copyRecord(error.details);
  let payload: Record<string, unknown>;
  if (options.format === 'problem') {
    const base = options.problemTypeBase;
    payload = {
      ...details,
      type: base ? `${base.replace(/\/?$/, '/')}${code}` : `urn:bulwark:error:${code}`,
      title: message,
      status: error.status,
      detail: message,
      message,
      error: code,
    };
    headers['content-type'] = PROBLEM_TYPE;
  } else {
    payload = { ...details, message, error: code };
    headers['content-type'] = JSON_TYPE;
  }
  return { status: error.status, headers, body: safeStringify(payload, message, code), error, droppedHeaders };
}

function safeStringify(payload: Record<string, unknown>, message: string, code: string): string {
  try {
    return JSON.stringify(orderFirst(payload));
  } catch {
    return JSON.stringify({ message, error: code });
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
