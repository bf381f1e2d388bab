/**
 * bulwark: production API error semantics for any Node.js HTTP server.
 * The framework-neutral core; adapters live in `bulwark/express`, `bulwark/koa` and `bulwark/fetch`.
 * @module
 */
export { ApiError, type ApiErrorOptions, isApiError } from './errors/api-error.js';
export {
  codeForStatus,
  ERROR_CODES,
  type ErrorCatalog,
  type ErrorCode,
  type ErrorCodeSpec,
  isRetryableStatus,
} from './errors/catalog.js';
export { type ApiErrorClass, type DefinedErrorCodes, defineErrorCodes } from './errors/define.js';
export { type ErrorFormat, type FormatOptions, type FormattedError, formatError } from './errors/format.js';
export { toApiError } from './errors/to-api-error.js';
export {
  createErrorResponder,
  type ErrorEvent,
  type ErrorHandlerOptions,
  type ErrorResponder,
} from './errors/error-responder.js';
export type {
  CapturedResponse,
  Decision,
  Guard,
  HeaderPairs,
  RequestBody,
  RequestView,
  ResponseSink,
} from './guard/types.js';
