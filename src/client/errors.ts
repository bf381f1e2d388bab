/**
 * Errors that the fetch wrapper raises itself. Each carries a stable `code` to branch on, like the
 * error bodies of the API; failures of the network keep the error that `fetch` raised.
 */

/**
 * The circuit breaker of the request's origin is open: the call failed at once, without touching the
 * network, and was not retried. `retryAt` says when the breaker lets a probe through again.
 *
 * @example
 * ```ts
 * try {
 *   await client('https://api.example.com/v1/send', { method: 'POST', body });
 * } catch (err) {
 *   if (err instanceof CircuitOpenError) scheduleLater(err.retryAt);
 * }
 * ```
 */
export class CircuitOpenError extends Error {
  /** Stable code. */
  readonly code = 'circuit_open' as const;
  /** The origin whose breaker is open, for example `https://api.example.com`. */
  readonly origin: string;
  /** When the breaker lets a probe request through again (it may already be past while a probe runs). */
  readonly retryAt: Date;

  constructor(origin: string, retryAt: Date) {
    super(`The circuit breaker for ${origin} is open; it lets a request through again at ${retryAt.toISOString()}.`);
    this.name = 'CircuitOpenError';
    this.origin = origin;
    this.retryAt = retryAt;
  }

  /** Milliseconds from now until {@link CircuitOpenError.retryAt} (0 when it is past). */
  get retryAfterMs(): number {
    return Math.max(0, this.retryAt.getTime() - Date.now());
  }
}

/**
 * A request ran out of time: one attempt exceeded `timeoutMs` and no retry was allowed
 * (code `attempt_timeout`), or the whole call, backoff included, exceeded `deadlineMs`
 * (code `deadline_exceeded`). Its `name` is `TimeoutError`, like the error of `AbortSignal.timeout()`.
 *
 * @example
 * ```ts
 * catch (err) { if (err instanceof FetchTimeoutError && err.code === 'deadline_exceeded') giveUp(); }
 * ```
 */
export class FetchTimeoutError extends Error {
  /** Stable code. */
  readonly code: 'attempt_timeout' | 'deadline_exceeded';
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  constructor(code: 'attempt_timeout' | 'deadline_exceeded', timeoutMs: number) {
    super(
      code === 'attempt_timeout'
        ? `The request attempt timed out after ${timeoutMs} ms.`
        : `The request did not complete within its deadline of ${timeoutMs} ms.`,
    );
    this.name = 'TimeoutError';
    this.code = code;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A retry was needed after a network failure, but the request body was a one-shot stream that was
 * already sent, so it cannot be sent again (an empty body is never sent instead). `cause` is the
 * failure of the attempt. Pass the body as a string, bytes, a Blob, URLSearchParams or FormData to
 * make it retryable.
 *
 * @example
 * ```ts
 * catch (err) { if (err instanceof BodyNotReplayableError) console.error(err.cause); }
 * ```
 */
export class BodyNotReplayableError extends Error {
  /** Stable code. */
  readonly code = 'body_not_replayable' as const;

  constructor(cause: unknown) {
    super(
      'The request failed and its body was a stream that was already sent, so it was not retried. ' +
        'Pass the body as a string, bytes, a Blob, URLSearchParams or FormData to make it retryable.',
      { cause },
    );
    this.name = 'BodyNotReplayableError';
  }
}

/**
 * Adaptive throttling (`adaptiveThrottle`) refused the call locally: its origin has been refusing or
 * failing most attempts, and the client sheds part of the load itself, without touching the network.
 * `probability` is the chance of refusal when it was drawn. Like `circuit_open`, it says the origin is
 * overloaded: try again later, or elsewhere.
 *
 * @example
 * ```ts
 * catch (err) { if (err instanceof LoadShedError) return cachedAnswer(); }
 * ```
 */
export class LoadShedError extends Error {
  /** Stable code. */
  readonly code = 'load_shed' as const;
  /** The origin that is shedding, for example `https://api.example.com`. */
  readonly origin: string;
  /** The probability of a local refusal when this call was refused. */
  readonly probability: number;

  constructor(origin: string, probability: number) {
    super(
      `The request was not sent: ${origin} has been refusing most requests, so the client shed this one (refusal probability ${probability.toFixed(2)}).`,
    );
    this.name = 'LoadShedError';
    this.origin = origin;
    this.probability = probability;
  }
}
