/**
 * What the fetch wrapper retries, and how long it waits: classification of responses and failures,
 * and exponential backoff with full jitter.
 */

/** Methods that RFC 9110 defines as idempotent: sending one twice has the effect of sending it once. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Methods that get an `Idempotency-Key` when the caller did not set one. */
export const KEYED_METHODS: ReadonlySet<string> = new Set(['POST', 'PATCH']);

/** Whether a method is idempotent by definition (GET, HEAD, OPTIONS, TRACE, PUT, DELETE). */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

/**
 * Whether a request may be sent twice without a double effect: an idempotent method, or any method
 * with an idempotency key (the server replays the first result).
 */
export function isReplaySafe(method: string, hasIdempotencyKey: boolean): boolean {
  return hasIdempotencyKey || IDEMPOTENT_METHODS.has(method);
}

/**
 * How a response status is handled.
 * - `retry`: 5xx, 408 and 429 are transient.
 * - `conflict`: a 409, retried only when its body's code is `idempotency_conflict`.
 * - `final`: everything else is the answer (2xx, 3xx, and 4xx such as 400, 401, 402, 403, 404 and 422,
 *   which cannot succeed by repeating the same request).
 *
 * @example
 * ```ts
 * statusVerdict(503); // 'retry'
 * statusVerdict(402); // 'final'
 * ```
 */
export function statusVerdict(status: number): 'retry' | 'conflict' | 'final' {
  if (status >= 500 || status === 429 || status === 408) return 'retry';
  if (status === 409) return 'conflict';
  return 'final';
}

/** Whether a status counts as a failure of the upstream for its circuit breaker (5xx only). */
export function isBreakerFailureStatus(status: number): boolean {
  return status >= 500;
}

/**
 * Failures raised before a request was sent: the request cannot have reached the server, and trying
 * again may succeed (the server was restarting, a DNS answer was late, a route came back).
 */
const BEFORE_CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Failures of the connection during or after sending: the server may have received the request. */
const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENETDOWN',
  'ENETRESET',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Classifies an error thrown by `fetch` by its cause, the code that undici (Node's fetch) or the OS
 * gave it:
 * - `before-connect`: connection refused, DNS temporarily failing, host or network unreachable, connect
 *   timeout: nothing was sent, so even a POST without a key may be retried.
 * - `network`: reset, closed socket, broken pipe, headers or body timeout: the request may have reached
 *   the server.
 * - `undefined`: anything else, which repeating the same request cannot fix, so it is never retried and
 *   never counts against the origin's breaker: too many redirects (`redirect count exceeded`), a
 *   certificate or TLS failure (`DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`,
 *   `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_TLS_CERT_ALTNAME_INVALID`, `ERR_SSL_*`, ...), an unknown host
 *   (`ENOTFOUND`), an invalid URL, header or body, a response that is not HTTP, the caller's abort, and
 *   any code not listed above.
 *
 * Node's `fetch` rejects with `TypeError('fetch failed')` whose `cause` carries the code; other fetch
 * implementations put the code on the error itself. Both are walked. A `fetch failed` without a known
 * code is not a network error: the list of retryable codes is closed, so that a new kind of permanent
 * failure is never retried by default.
 *
 * @example
 * ```ts
 * classifyNetworkError(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })); // 'network'
 * classifyNetworkError(new TypeError('fetch failed', { cause: new Error('redirect count exceeded') })); // undefined
 * ```
 */
export function classifyNetworkError(error: unknown): 'before-connect' | 'network' | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (BEFORE_CONNECT_CODES.has(code)) return 'before-connect';
      if (CONNECTION_CODES.has(code)) return 'network';
    }
    // A connection to a host with several addresses fails with an AggregateError of connect errors.
    if (current instanceof AggregateError) {
      const inner = current.errors.map(classifyNetworkError);
      if (inner.length > 0 && inner.every((kind) => kind === 'before-connect')) return 'before-connect';
      if (inner.some((kind) => kind !== undefined)) return 'network';
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Delay before retry number `retry` (0 for the first retry): exponential backoff with full jitter,
 * a uniform random value in `[0, min(maxDelayMs, baseDelayMs * 2 ** retry))`.
 *
 * @example
 * ```ts
 * backoffDelay(0, 100, 10_000); // 0 to 100 ms
 * backoffDelay(3, 100, 10_000); // 0 to 800 ms
 * backoffDelay(20, 100, 10_000); // 0 to 10 s
 * ```
 */
export function backoffDelay(
  retry: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(retry, 52));
  return Math.floor(random() * ceiling);
}
