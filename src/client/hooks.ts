/**
 * Hooks for every attempt and every call of the fetch wrapper (`onAttempt`, `onAttemptEnd`, `onCallEnd`),
 * and the `bulwark:client` diagnostics channel that carries the same facts with the origin only.
 */
import { type ClientEvent, channels } from '../events/channels.js';
import { classifyNetworkError } from './retry.js';

/** Passed to `onAttempt` when an attempt is sent. */
export interface AttemptStartEvent {
  /** Upper-case method. */
  method: string;
  /** The request URL. */
  url: string;
  /** The request's origin, for example `https://api.example.com`. */
  origin: string;
  /** 1 for the first attempt of the call. */
  attempt: number;
}

/**
 * Why an attempt was, or was not, followed by another one:
 * - `'answered'`: the response is the answer (2xx, 3xx, a 4xx that repeating cannot change), returned.
 * - `'retryable'`: a retry is scheduled (`retry: true`, after `delayMs`).
 * - `'retries-spent'`: `retries` attempts were made already.
 * - `'not-replay-safe'`: a POST or PATCH without a key that may have reached the server.
 * - `'stream-body'`: the body was a one-shot stream.
 * - `'retry-after-too-long'`: `Retry-After` over `maxRetryAfterMs`.
 * - `'deadline'`: the wait would end past the deadline.
 * - `'breaker-open'`: the origin's breaker is open (or opened during the wait).
 * - `'budget-refused'`: the origin's retry budget is spent.
 * - `'shed'`: adaptive throttling refused the retry.
 * - `'paced'`: the origin's rate limit would make the retry wait too long.
 * - `'aborted'`: the caller's signal aborted.
 * - `'timeout'`: the deadline fired (`deadline_exceeded`), which ends the call.
 * - `'not-retryable'`: an error that repeating cannot fix (a certificate, a redirect loop, a bad argument).
 */
export type RetryReason =
  | 'answered'
  | 'retryable'
  | 'retries-spent'
  | 'not-replay-safe'
  | 'stream-body'
  | 'retry-after-too-long'
  | 'deadline'
  | 'breaker-open'
  | 'budget-refused'
  | 'shed'
  | 'paced'
  | 'aborted'
  | 'timeout'
  | 'not-retryable';

/** Passed to `onAttemptEnd` once an attempt answered or failed, with what the wrapper does next. */
export interface AttemptEndEvent extends AttemptStartEvent {
  /** Milliseconds from sending the attempt to its response headers (or its failure). */
  durationMs: number;
  /** The response status, when it answered. */
  status?: number;
  /** The error, when it failed. */
  error?: unknown;
  /**
   * A stable code for the failure: `attempt_timeout`, `deadline_exceeded`, `network_error` (a failure that
   * may pass), `fetch_error` (one that will not), `aborted`.
   */
  code?: string;
  /** Whether another attempt is scheduled. */
  retry: boolean;
  /** Why (see {@link RetryReason}). */
  reason: RetryReason;
  /** For `retry: true`: the wait before the next attempt, in milliseconds. */
  delayMs?: number;
}

/** Passed to `onCallEnd` when the call resolves with a response or rejects. */
export interface CallEndEvent {
  method: string;
  url: string;
  origin: string;
  /** `'response'`: the call resolved (with any status); `'error'`: it rejected. */
  outcome: 'response' | 'error';
  /** The status of the returned response. */
  status?: number;
  /** The error the call rejected with. */
  error?: unknown;
  /**
   * The error's stable code: those of {@link AttemptEndEvent.code}, and `circuit_open`, `load_shed`,
   * `throttled` (paced), `body_not_replayable`.
   */
  code?: string;
  /** Attempts sent (0 when the call never reached the network). */
  attempts: number;
  /** Milliseconds from the call to its response headers (or its rejection); reading the body is not included. */
  durationMs: number;
}

/** The hooks a wrapper was given. */
export interface Hooks {
  onAttempt: ((event: AttemptStartEvent) => void) | undefined;
  onAttemptEnd: ((event: AttemptEndEvent) => void) | undefined;
  onCallEnd: ((event: CallEndEvent) => void) | undefined;
}

/** Calls a hook: a throw, or the rejection of a promise it returns, never changes the call (one helper for every hook of bulwark). */
export { callHook } from '../events/call-hook.js';

/**
 * Publishes on `bulwark:client` (callers check `hasSubscribers` first, so that no subscriber costs nothing).
 * It never throws into the call: Node.js catches a subscriber's throw and reports it on its own, as an
 * uncaught exception on the next tick, the subscriber's to handle.
 */
export function publish(event: ClientEvent): void {
  channels.client.publish(event);
}

/** Whether anyone listens on `bulwark:client`. */
export function observed(): boolean {
  return channels.client.hasSubscribers;
}

/** The stable code of an error a call or an attempt ended with. */
export function codeOf(error: unknown, aborted: boolean): string {
  if (aborted) return 'aborted';
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (
    code === 'attempt_timeout' ||
    code === 'deadline_exceeded' ||
    code === 'circuit_open' ||
    code === 'load_shed' ||
    code === 'throttled' ||
    code === 'body_not_replayable'
  ) {
    return code;
  }
  return classifyNetworkError(error) === undefined ? 'fetch_error' : 'network_error';
}
