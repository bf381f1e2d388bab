/**
 * The tour's client: bulwark's `createFetch`, with its hooks recording what it did, and a helper that
 * sends one call and says what happened to it (its retries, its final answer, or the error it threw).
 */
import type { BreakerStateEvent, CreateFetchOptions, RetryEvent } from '../../src/client/index.js';
import { createFetch } from '../../src/client/index.js';

/** Short client settings, so that the tour takes seconds: Retry-After up to 2 s is waited out. */
export const TOUR_CLIENT: CreateFetchOptions = {
  retries: 2,
  baseDelayMs: 50,
  maxDelayMs: 250,
  maxRetryAfterMs: 2_000,
  timeoutMs: 5_000,
  deadlineMs: 10_000,
};

/** One request of the tour. */
export interface TourRequest {
  method: 'GET' | 'POST';
  path: string;
  /** Bearer token, if any. */
  token?: string;
  /** A JSON body (sent as `application/json`). */
  json?: unknown;
  /** A raw body, sent as is with `Content-Type: application/json` (for malformed JSON). */
  raw?: string;
  /** An `Idempotency-Key` of the caller's (else the client makes one per POST). */
  key?: string;
}

/** What became of one call. */
export interface CallOutcome {
  /** The final response, when there was one. */
  response?: Response;
  /** Its parsed JSON body (undefined when not JSON). */
  body?: Record<string, unknown>;
  /** What the client threw instead of answering (for example a `CircuitOpenError`). */
  error?: unknown;
  /** The retries the client made during this call, in order. */
  retries: RetryEvent[];
  /** Status of the first attempt: the first retried status, else the final status. */
  firstStatus?: number;
}

/**
 * A `createFetch` client whose `onRetry` and `onBreakerStateChange` hooks are recorded.
 *
 * @example
 * ```ts
 * const client = new ObservedClient({ retries: 0 });
 * const outcome = await client.call('http://127.0.0.1:3000', { method: 'GET', path: '/v1/messages/x' });
 * ```
 */
export class ObservedClient {
  readonly fetch: typeof globalThis.fetch;
  readonly retries: RetryEvent[] = [];
  readonly breakerStates: BreakerStateEvent[] = [];

  /** `onRetry` is called on each retry, after it is recorded. */
  constructor(options: CreateFetchOptions = TOUR_CLIENT, onRetry?: (event: RetryEvent) => void) {
    this.fetch = createFetch({
      ...options,
      onRetry: (event) => {
        this.retries.push(event);
        onRetry?.(event);
      },
      onBreakerStateChange: (event) => this.breakerStates.push(event),
    });
  }

  /** Sends one request through the client (calls of one client must not overlap, for the retry record). */
  async call(base: string, request: TourRequest): Promise<CallOutcome> {
    const headers: Record<string, string> = {};
    if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
    if (request.key !== undefined) headers['idempotency-key'] = request.key;
    let body: string | undefined;
    if (request.raw !== undefined || request.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = request.raw ?? JSON.stringify(request.json);
    }
    const before = this.retries.length;
    const outcome: CallOutcome = { retries: [] };
    try {
      const response = await this.fetch(`${base}${request.path}`, { method: request.method, headers, body });
      outcome.response = response;
      const parsed: unknown = await response.json().catch(() => undefined);
      if (typeof parsed === 'object' && parsed !== null) outcome.body = parsed as Record<string, unknown>;
    } catch (error) {
      outcome.error = error;
    }
    outcome.retries = this.retries.slice(before);
    outcome.firstStatus = outcome.retries[0]?.status ?? outcome.response?.status;
    return outcome;
  }
}
