/**
 * `bulwark/client`: an outgoing `fetch` wrapper that retries, waits out Retry-After, and breaks circuits.
 * @module
 */
export { ApiError, isApiError } from '../errors/api-error.js';
export type { AdaptiveThrottleOptions } from './adaptive.js';
export type { BreakerOptions, BreakerState, BreakerStateEvent } from './breakers.js';
export type { RetryBudgetOptions } from './budget.js';
export type { BulwarkFetch, BulwarkRequestInit, CallOptions } from './call-options.js';
export { BreakerRegistry, type CreateBreakersOptions, createBreakers } from './create-breakers.js';
export { createFetch } from './create-fetch.js';
export { BodyNotReplayableError, CircuitOpenError, FetchTimeoutError, LoadShedError } from './errors.js';
export type { AttemptEndEvent, AttemptStartEvent, CallEndEvent, RetryReason } from './hooks.js';
export type { CreateFetchOptions, FetchLike, RetryEvent } from './options.js';
export type { PaceOptions } from './pace.js';
export { parseRetryAfter } from './retry-after.js';
