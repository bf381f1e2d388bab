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
  GENERIC_CODES,
  type GenericCode,
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
  Outcome,
  RequestBody,
  RequestView,
  ResponseSink,
} from './guard/types.js';
export { IpSet, type IpSetOptions } from './allowlist/ip-set.js';
export {
  type ClientAddress,
  type ClientIpOptions,
  createClientIpResolver,
  type TrustProxy,
} from './allowlist/client-ip.js';
export {
  type AllowList,
  createIpAllowlist,
  type IpAllowlist,
  type IpAllowlistOptions,
  type IpDenyEvent,
  type IpDenyReason,
} from './allowlist/ip-allowlist.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory/index.js';
export { createRateLimiter, type RateLimiterGuard, type RateLimitOptions, type RatePeek, type RatePeekOptions } from './throttle/rate-limiter.js';
export {
  createSpendCap,
  type SpendCapGuard,
  type SpendCapOptions,
  type SpendPeek,
  type SpendPeekPeriod,
  type SpendPeriod,
} from './throttle/spend-cap.js';
export type { RefundOutcome, RefundRule } from './throttle/refund.js';
export type { HeadersMode } from './throttle/headers.js';
export type { OutageMode, RefundErrorEvent, StoreSwitchEvent } from './throttle/outage.js';
export type {
  Algorithm,
  HasThrottleStore,
  RateReceipt,
  RateRequest,
  RateResult,
  RefundResult,
  SpendReceipt,
  SpendRequest,
  SpendResult,
  ThrottleStore,
} from './throttle/store.js';
export { createIdempotency, type IdempotencyOptions } from './idempotency/idempotency.js';
export type { RecordErrorEvent } from './idempotency/record-error.js';
export type {
  ClaimResult,
  CompletedResponse,
  HasIdempotencyStore,
  IdempotencyStore,
  StoreAnswer,
  StoredResponse,
} from './idempotency/store.js';
export {
  type AllowlistEvent,
  type BulwarkEvent,
  CHANNELS,
  type ChannelName,
  type ClientEvent,
  type GuardMode,
  hashKey,
  type IdempotencyEvent,
  type RateLimitEvent,
  type SpendCapEvent,
  type StoreEvent,
} from './events/channels.js';
export type { Logger } from './events/logger.js';
