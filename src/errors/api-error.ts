import {
  codeForStatus,
  ERROR_CODES,
  type ErrorCatalog,
  type ErrorCode,
  GENERIC_CODES,
  type GenericCode,
  isRetryableStatus,
  messageForStatus,
} from './catalog.js';
import { parseErrorBody } from './parse-body.js';

/** Marker shared by every copy of bulwark loaded in one process (ESM and CJS). */
const API_ERROR = Symbol.for('bulwark.ApiError');

/** Options of an {@link ApiError}. */
export interface ApiErrorOptions {
  /**
   * Human-readable message. Messages may change; branch on the code.
   * @default the catalog's message for the code
   */
  message?: string;
  /**
   * Extra fields sent beside `message` and `error` in the body (for example `period`, `traffic_type`).
   * `message` and `error` themselves cannot be overridden here.
   * @default {}
   */
  details?: Record<string, unknown>;
  /**
   * Response headers sent with the error (for example `Retry-After`).
   * @default {}
   */
  headers?: Record<string, string>;
  /** The underlying cause, for logs only: it is never sent to the client. */
  cause?: unknown;
  /**
   * HTTP status, when the code is not in the catalog (errors read from a response, or mapped from a
   * foreign error). Ignored for catalog codes, whose status is fixed.
   */
  status?: number;
  /**
   * Whether the request may be retried.
   * @default the catalog's flag; else true for 5xx, 408 and 429
   */
  retryable?: boolean;
}

/**
 * An API error with a stable code. Its status comes from the catalog.
 *
 * @example
 * ```ts
 * throw new ApiError('spend_limit_exceeded', {
 *   message: 'This send would exceed your daily spend limit.',
 *   details: { period: 'daily' },
 * });
 * ```
 */
export class ApiError<Code extends string = ErrorCode | GenericCode> extends Error {
  /** The catalog that codes are looked up in; subclasses made by `defineErrorCodes` extend it. */
  static catalog: ErrorCatalog = ERROR_CODES;

  /** Stable machine-readable code (the body's `error`). */
  readonly code: Code;
  /** HTTP status. */
  readonly status: number;
  /** Extra body fields. */
  readonly details: Readonly<Record<string, unknown>>;
  /** Headers sent with the error. */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether a client may retry the same request. */
  readonly retryable: boolean;

  constructor(code: NoInfer<Code>, options: ApiErrorOptions = {}) {
    const catalog: ErrorCatalog = (new.target as typeof ApiError | undefined)?.catalog ?? ERROR_CODES;
    const spec = Object.hasOwn(catalog, code)
      ? catalog[code]
      : Object.hasOwn(GENERIC_CODES, code)
        ? (GENERIC_CODES as ErrorCatalog)[code]
        : undefined;
    let status: number;
    if (spec) status = spec.status;
    else if (isErrorStatus(options.status)) status = options.status;
    else {
      throw new TypeError(
        `ApiError: unknown error code ${JSON.stringify(code)}; add it with defineErrorCodes() or pass options.status (400-599)`,
      );
    }
    super(options.message ?? spec?.message ?? messageForStatus(status), { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    this.headers = Object.freeze({ ...(options.headers ?? {}) });
    this.retryable = options.retryable ?? spec?.retryable ?? isRetryableStatus(status);
    Object.defineProperty(this, API_ERROR, { value: true });
  }

  /**
   * Reads an error response into an `ApiError`. A documented JSON body gives its code, message and
   * details; a non-JSON, empty or truncated body gives a code derived from the status. Never throws
   * for a bad body. The response body is consumed. A status below 400 is not an error: the promise
   * rejects with a `TypeError` and the body is left unread (check `res.ok` first).
   *
   * @example
   * ```ts
   * const res = await fetch(url, init);
   * if (!res.ok) {
   *   const err = await ApiError.fromResponse(res);
   *   if (err.code === 'spend_limit_exceeded') notifyOwner(err.message);
   * }
   * ```
   */
  static async fromResponse(response: Response): Promise<ApiError<string>> {
    if (!(response.status >= 400)) {
      throw new TypeError(`ApiError.fromResponse: status ${response.status} is not an error status (400-599); check res.ok first`);
    }
    let text = '';
    try {
      text = await response.text();
    } catch {
      text = '';
    }
    const parsed = parseErrorBody(text);
    const status = isErrorStatus(response.status) ? response.status : 500;
    const headers: Record<string, string> = {};
    const retryAfter = response.headers.get('retry-after');
    if (retryAfter !== null) headers['retry-after'] = retryAfter;
    const code = parsed?.code ?? codeForStatus(status);
    const known = Object.hasOwn(ERROR_CODES, code) ? ERROR_CODES[code as ErrorCode] : undefined;
    const retryable =
      known && known.status === status ? known.retryable : isRetryableStatus(status) || code === 'idempotency_conflict';
    return new ApiError<string>(code, {
      status,
      message: parsed?.message ?? messageForStatus(status),
      details: parsed?.details ?? {},
      headers,
      retryable,
    });
  }

  /** The body fields of this error: `{ message, error, ...details }`. */
  toJSON(): Record<string, unknown> {
    return { ...this.details, message: this.message, error: this.code };
  }
}

/**
 * Whether a value is an {@link ApiError}, also when it was made by another copy of bulwark
 * (the ESM and the CJS build loaded side by side).
 *
 * @example
 * ```ts
 * try { await send(); } catch (err) { if (isApiError(err) && err.code === 'throttled') wait(); }
 * ```
 */
export function isApiError(value: unknown): value is ApiError<string> {
  if (typeof value !== 'object' || value === null) return false;
  try {
    return (value as { [API_ERROR]?: unknown })[API_ERROR] === true;
  } catch {
    // a Proxy whose traps throw is no ApiError
    return false;
  }
}

function isErrorStatus(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599;
}
