import { ApiError, type ApiErrorOptions } from './api-error.js';
import { ERROR_CODES, type ErrorCatalog, type ErrorCode, type ErrorCodeSpec } from './catalog.js';

/** A constructor of {@link ApiError}s whose codes are the built-in ones plus `Code`. */
export interface ApiErrorClass<Code extends string> {
  new (code: Code, options?: ApiErrorOptions): ApiError<Code>;
  readonly catalog: ErrorCatalog;
  fromResponse(response: Response): Promise<ApiError<string>>;
}

/** What {@link defineErrorCodes} returns. */
export interface DefinedErrorCodes<Code extends string> {
  /** An `ApiError` class that accepts the built-in codes and the new ones (a misspelt code is a compile error). */
  ApiError: ApiErrorClass<Code>;
  /** The merged catalog. */
  catalog: ErrorCatalog;
}

const CODE_PATTERN = /^[a-z][a-z0-9_]{0,99}$/;

/**
 * Adds an application's own error codes to the catalog. The returned class formats and types them
 * like the built-in codes; `isApiError` recognises its instances.
 *
 * @throws TypeError when a code is malformed, already built in, or its status is outside 400-599.
 * @example
 * ```ts
 * const { ApiError: AppError } = defineErrorCodes({
 *   template_not_found: { status: 404, message: 'No template has this id.' },
 * });
 * throw new AppError('template_not_found');
 * // new AppError('template_not_fund') does not compile
 * ```
 */
export function defineErrorCodes<const Codes extends Record<string, ErrorCodeSpec>>(
  codes: Codes,
): DefinedErrorCodes<ErrorCode | Extract<keyof Codes, string>> {
  if (typeof codes !== 'object' || codes === null || Array.isArray(codes)) {
    throw new TypeError('defineErrorCodes: codes must be an object of { status, message, retryable? }');
  }
  const added: Record<string, ErrorCodeSpec> = {};
  for (const [code, spec] of Object.entries(codes)) {
    if (!CODE_PATTERN.test(code)) {
      throw new TypeError(`defineErrorCodes: code ${JSON.stringify(code)} must match ${CODE_PATTERN}`);
    }
    if (Object.hasOwn(ERROR_CODES, code)) {
      throw new TypeError(`defineErrorCodes: code "${code}" is built in and cannot be redefined`);
    }
    if (typeof spec !== 'object' || spec === null) {
      throw new TypeError(`defineErrorCodes: codes.${code} must be an object`);
    }
    if (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599) {
      throw new TypeError(`defineErrorCodes: codes.${code}.status must be an integer from 400 to 599`);
    }
    if (typeof spec.message !== 'string' || spec.message.length === 0) {
      throw new TypeError(`defineErrorCodes: codes.${code}.message must be a non-empty string`);
    }
    if (spec.retryable !== undefined && typeof spec.retryable !== 'boolean') {
      throw new TypeError(`defineErrorCodes: codes.${code}.retryable must be a boolean`);
    }
    added[code] = Object.freeze({ ...spec });
  }
  const catalog: ErrorCatalog = Object.freeze({ ...ERROR_CODES, ...added });
  class DefinedApiError extends ApiError<string> {
    static override catalog = catalog;
  }
  return {
    ApiError: DefinedApiError as unknown as ApiErrorClass<ErrorCode | Extract<keyof Codes, string>>,
    catalog,
  };
}
