/**
 * `createFetch`: a drop-in `fetch` that retries what may succeed, waits out `Retry-After`, never sends
 * a side effect twice, and breaks circuits per origin.
 */
import { parseErrorBody } from '../errors/parse-body.js';
import { type BodySnapshot, snapshotRequestBody } from './body.js';
import { type Attempt, type BreakerOptions, type BreakerStateEvent, OriginPool, type OriginState } from './breakers.js';
import type { RetryBudgetOptions } from './budget.js';
import { BodyNotReplayableError, CircuitOpenError, FetchTimeoutError } from './errors.js';
import {
  backoffDelay,
  classifyNetworkError,
  isIdempotentMethod,
  isReplaySafe,
  KEYED_METHODS,
  statusVerdict,
} from './retry.js';
import { parseRetryAfter } from './retry-after.js';

/** Any function that behaves like `fetch`. */
export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** Passed to `onRetry` before each retry. */
export interface RetryEvent {
  /** Upper-case method of the request. */
  method: string;
  /** The request URL. */
  url: string;
  /** The request's origin, for example `https://api.example.com`. */
  origin: string;
  /** Number of this retry: 1 for the first retry (the second attempt). */
  retry: number;
  /** How long the wrapper waits before sending it, in milliseconds. */
  delayMs: number;
  /** Whether the wait comes from the response's `Retry-After` (else from backoff). */
  fromRetryAfter: boolean;
  /** What failed: a retryable status, a network error, or the attempt's timeout. */
  reason: 'status' | 'network' | 'timeout';
  /** The status of the failed attempt (for `reason: 'status'`). */
  status?: number;
  /** The error of the failed attempt (for `network` and `timeout`). */
  error?: unknown;
  /** The `Idempotency-Key` sent with every attempt, if any. */
  idempotencyKey?: string;
}

/** Options of {@link createFetch}. Every option is validated when the wrapper is created. */
export interface CreateFetchOptions {
  /**
   * The `fetch` that sends each attempt.
   * @default globalThis.fetch (looked up at each call, so a fetch installed later is used)
   * @example { fetch: undici.fetch }
   */
  fetch?: FetchLike;
  /**
   * Retries after the first attempt (0 disables retrying).
   * @default 3
   * @example { retries: 5 }
   */
  retries?: number;
  /**
   * Base of the exponential backoff: retry `n` (from 0) waits a random time in
   * `[0, min(maxDelayMs, baseDelayMs * 2 ** n))` (full jitter).
   * @default 100
   * @example { baseDelayMs: 250 }
   */
  baseDelayMs?: number;
  /**
   * Cap of one backoff wait, in milliseconds.
   * @default 10000
   * @example { maxDelayMs: 30_000 }
   */
  maxDelayMs?: number;
  /**
   * Longest `Retry-After` the wrapper waits out. A longer one is not slept on: the response is
   * returned to the caller at once.
   * @default 60000
   * @example { maxRetryAfterMs: 5_000 }
   */
  maxRetryAfterMs?: number;
  /**
   * Time limit of each attempt until its response headers (and, for a 409, its error body) arrive.
   * Each attempt has its own signal, so one slow attempt never aborts another call. `Infinity` disables it.
   * @default 30000
   * @example { timeoutMs: 5_000 }
   */
  timeoutMs?: number;
  /**
   * Time limit of the whole call, attempts and backoff waits included. A retry whose wait would end past
   * the deadline is not made. `Infinity` disables it.
   * @default Infinity
   * @example { deadlineMs: 20_000 }
   */
  deadlineMs?: number;
  /**
   * Retry budget per origin: retries stay under `ratio` of the calls (with a floor of `minPerSecond`),
   * so an upstream that is down sees at most about `1 + ratio` times the offered load. `false` disables it.
   * @default { ratio: 0.1, minPerSecond: 1, windowMs: 10000 }
   * @example { retryBudget: { ratio: 0.2 } }
   */
  retryBudget?: RetryBudgetOptions | false;
  /**
   * Circuit breaker per origin (opossum): 5xx, timeouts and network errors count as failures; 4xx, 429 and
   * the caller's aborts do not. While open, calls fail at once with a {@link CircuitOpenError}
   * (`circuit_open`). `false` disables breakers.
   * @default { errorThresholdPercentage: 50, resetTimeout: 30000, volumeThreshold: 10, rollingCountTimeout: 10000, rollingCountBuckets: 10 }
   * @example { breaker: { resetTimeout: 5_000, volumeThreshold: 20 } }
   */
  breaker?: BreakerOptions | false;
  /**
   * Most origins whose breaker and budget are kept; the least recently used is dropped (its breaker shut down).
   * @default 1000
   * @example { maxBreakers: 100 }
   */
  maxBreakers?: number;
  /**
   * Called before each retry. A hook that throws is ignored.
   * @default undefined
   * @example { onRetry: (e) => log.warn({ retry: e.retry, status: e.status, delayMs: e.delayMs }, 'retrying') }
   */
  onRetry?: (event: RetryEvent) => void;
  /**
   * Called when an origin's breaker opens, goes half-open or closes. A hook that throws is ignored.
   * @default undefined
   * @example { onBreakerStateChange: (e) => metrics.gauge(`breaker.${e.origin}`, e.state === 'open' ? 1 : 0) }
   */
  onBreakerStateChange?: (event: BreakerStateEvent) => void;
  /**
   * Header that carries the idempotency key. POST and PATCH get a new UUID per call unless the caller set
   * the header, and every retry of the call sends the same key. `false` sends no keys: a POST or PATCH
   * without a key is then retried only when it cannot have reached the server.
   * @default 'Idempotency-Key'
   * @example { idempotencyHeader: 'X-Request-Id' }
   */
  idempotencyHeader?: string | false;
}

const MAX_TIMER_MS = 2_147_483_647;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const OPTION_NAMES = new Set([
  'fetch',
  'retries',
  'baseDelayMs',
  'maxDelayMs',
  'maxRetryAfterMs',
  'timeoutMs',
  'deadlineMs',
  'retryBudget',
  'breaker',
  'maxBreakers',
  'onRetry',
  'onBreakerStateChange',
  'idempotencyHeader',
]);

interface Settings {
  fetch: FetchLike | undefined;
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
  timeoutMs: number;
  deadlineMs: number;
  onRetry: ((event: RetryEvent) => void) | undefined;
  keyHeader: string | false;
}

/**
 * Creates a `fetch` that retries 5xx, 408, 429 and network errors with backoff and full jitter, honours
 * `Retry-After`, retries a 409 only when its code is `idempotency_conflict`, never retries 400, 401,
 * 402, 403, 404 or 422, adds an `Idempotency-Key` to POST and PATCH, and keeps a circuit breaker and a
 * retry budget per origin. It has the signature of `fetch`, so it drops into any code that takes one.
 *
 * @example
 * ```ts
 * import { createFetch, ApiError } from 'bulwark/client';
 *
 * const api = createFetch({ retries: 3, timeoutMs: 5_000, deadlineMs: 20_000 });
 * const res = await api('https://api.example.com/v1/messages', { method: 'POST', body: JSON.stringify(msg) });
 * if (!res.ok) throw await ApiError.fromResponse(res);
 * ```
 */
export function createFetch(options: CreateFetchOptions = {}): typeof globalThis.fetch {
  if (typeof options !== 'object' || options === null) throw new TypeError('createFetch: options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) throw new TypeError(`createFetch: unknown option ${JSON.stringify(key)}`);
  }
  const settings = validate(options);
  const breaker = validateBreaker(options.breaker);
  const budget = validateBudget(options.retryBudget);
  const maxBreakers = options.maxBreakers ?? 1000;
  need(Number.isSafeInteger(maxBreakers) && maxBreakers > 0, 'maxBreakers', 'a positive integer');
  const onStateChange = options.onBreakerStateChange;
  need(onStateChange === undefined || typeof onStateChange === 'function', 'onBreakerStateChange', 'a function');
  const pool =
    breaker === false && budget === false
      ? undefined
      : new OriginPool({ max: maxBreakers, breaker, budget, onStateChange });

  const bulwarkFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> =>
    send(settings, pool, input, init);
  return bulwarkFetch;
}

async function send(
  settings: Settings,
  pool: OriginPool | undefined,
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): Promise<Response> {
  const base = settings.fetch ?? globalThis.fetch;
  const isRequest = input instanceof Request;
  const callerSignal = init?.signal ?? (isRequest ? input.signal : undefined) ?? undefined;
  if (callerSignal?.aborted) throw callerSignal.reason;

  const url = isRequest ? input.url : input instanceof URL ? input.href : String(input);
  const origin = originOf(url);
  // Not an http(s) URL (or not a URL at all): fetch itself answers, or rejects, as it would.
  if (origin === undefined) return base(input, init);

  const sentMethod = init?.method ?? (isRequest ? input.method : 'GET');
  const method = sentMethod.toUpperCase();
  const pending = snapshotRequestBody(input, init);
  const body: BodySnapshot = pending instanceof Promise ? await pending : pending;
  if (callerSignal?.aborted) throw callerSignal.reason;

  // The caller's headers go out untouched unless the wrapper must read or add one.
  const keyHeader = settings.keyHeader;
  const contentType = body.kind === 'replayable' ? body.contentType : undefined;
  let headers: HeadersInit | undefined = init?.headers;
  let idempotencyKey: string | undefined;
  if (isRequest || contentType !== undefined || !isIdempotentMethod(method)) {
    const copy = new Headers(init?.headers ?? (isRequest ? input.headers : undefined));
    if (keyHeader !== false && KEYED_METHODS.has(method) && !copy.has(keyHeader)) copy.set(keyHeader, crypto.randomUUID());
    if (contentType !== undefined && !copy.has('content-type')) copy.set('content-type', contentType);
    idempotencyKey = copy.get(keyHeader === false ? 'idempotency-key' : keyHeader) ?? undefined;
    headers = copy;
  }
  const replaySafe = isReplaySafe(method, idempotencyKey !== undefined);

  // Only what differs from fetch's defaults is set, as fetch's own checks of each field cost time.
  const request: RequestInit & { duplex?: 'half' } = isRequest
    ? { ...requestFields(input), ...init, method: sentMethod }
    : { ...init };
  if (headers !== undefined) request.headers = headers;
  if (body.kind !== 'none') request.body = body.body as BodyInit;
  if (body.kind === 'stream') request.duplex = 'half';

  const startedAt = Date.now();
  const call = new Call(
    settings,
    base,
    url,
    request,
    callerSignal,
    settings.deadlineMs === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : startedAt + settings.deadlineMs,
  );
  let state = pool?.get(origin);
  state?.budget?.recordCall(startedAt);

  for (let retry = 0; ; retry++) {
    if (retry > 0) state = pool?.get(origin);
    const outcome = await call.attempt(state);
    if (!(outcome instanceof Failure)) return outcome;

    // A retryable failure: every `return outcome.end()` below ends the call with it.
    if (retry >= settings.retries) return outcome.end();
    let delayMs: number;
    let fromRetryAfter = false;
    const { response } = outcome;
    if (response !== undefined) {
      if (!replaySafe || body.kind === 'stream') return response;
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
      if (retryAfter === undefined) delayMs = backoffDelay(retry, settings.baseDelayMs, settings.maxDelayMs);
      else if (retryAfter > settings.maxRetryAfterMs) return response;
      else {
        delayMs = retryAfter;
        fromRetryAfter = true;
      }
    } else {
      if (!replaySafe && outcome.reason !== 'before-connect') return outcome.end();
      if (body.kind === 'stream') throw new BodyNotReplayableError(outcome.error);
      delayMs = backoffDelay(retry, settings.baseDelayMs, settings.maxDelayMs);
    }
    const now = Date.now();
    if (now + delayMs >= call.deadlineAt) return outcome.end();
    if (state !== undefined && state.blockedUntil() > now + delayMs) return outcome.end();
    if (state?.budget !== undefined && !state.budget.tryRetry(now)) return outcome.end();

    if (settings.onRetry) {
      const event: RetryEvent = {
        method,
        url,
        origin,
        retry: retry + 1,
        delayMs,
        fromRetryAfter,
        reason: outcome.reason === 'timeout' ? 'timeout' : response !== undefined ? 'status' : 'network',
      };
      if (response !== undefined) event.status = response.status;
      else event.error = outcome.error;
      if (idempotencyKey !== undefined) event.idempotencyKey = idempotencyKey;
      try {
        settings.onRetry(event);
      } catch {
        // A hook is for observation; its failure does not change the call.
      }
    }
    if (response !== undefined) discard(response);
    await sleep(delayMs, callerSignal);
  }
}

/** An attempt that may be retried: a retryable response, or a network failure or timeout. */
class Failure {
  constructor(
    readonly reason: 'status' | 'before-connect' | 'network' | 'timeout',
    readonly response: Response | undefined,
    readonly error: unknown,
  ) {}

  /** Ends the call with this outcome: the response is returned, the error thrown. */
  end(): Response {
    if (this.response !== undefined) return this.response;
    throw this.error;
  }
}

/** One call of the wrapper and the state of its current attempt (attempts run one after another). */
class Call implements Attempt {
  probe = false;
  #signal: AbortSignal | undefined;
  #timedOut: FetchTimeoutError | undefined;
  #conflict = false;

  constructor(
    readonly settings: Settings,
    readonly base: FetchLike,
    readonly url: string,
    readonly request: RequestInit,
    readonly callerSignal: AbortSignal | undefined,
    readonly deadlineAt: number,
  ) {}

  /**
   * Sends one attempt with its own timeout (the smaller of `timeoutMs` and what is left of the
   * deadline). Resolves to the final response, or to a {@link Failure} that may be retried. Rejects
   * when the call must end now: the caller aborted, the deadline passed, the breaker is open, or
   * `fetch` refused its arguments.
   */
  async attempt(state: OriginState | undefined): Promise<Response | Failure> {
    const { settings, callerSignal } = this;
    const remaining = this.deadlineAt - Date.now();
    if (remaining <= 0) throw new FetchTimeoutError('deadline_exceeded', settings.deadlineMs);
    this.#timedOut = undefined;
    this.#conflict = false;
    this.probe = false;
    let timer: NodeJS.Timeout | undefined;
    const limit = Math.min(settings.timeoutMs, remaining);
    if (limit <= MAX_TIMER_MS) {
      const controller = new AbortController();
      timer = setTimeout(expire, limit, this, controller, settings.timeoutMs > remaining);
      timer.unref();
      this.#signal = callerSignal === undefined ? controller.signal : anySignal(callerSignal, controller.signal);
    } else {
      this.#signal = callerSignal;
    }

    let response: Response;
    try {
      response = state === undefined ? await this.run() : await state.send(this);
    } catch (error) {
      if (callerSignal?.aborted) throw callerSignal.reason;
      if (error instanceof CircuitOpenError) throw error;
      const timedOut = this.#timedOut as FetchTimeoutError | undefined;
      if (timedOut !== undefined) {
        if (timedOut.code === 'deadline_exceeded') throw timedOut;
        return new Failure('timeout', undefined, timedOut);
      }
      const network = classifyNetworkError(error);
      if (network === undefined) throw error;
      return new Failure(network, undefined, error);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    if (callerSignal?.aborted) {
      discard(response);
      throw callerSignal.reason;
    }
    const timedOut = this.#timedOut as FetchTimeoutError | undefined;
    if (timedOut !== undefined) {
      // The timer fired as the response arrived: its body is aborted, so it is a timeout after all.
      discard(response);
      if (timedOut.code === 'deadline_exceeded') throw timedOut;
      return new Failure('timeout', undefined, timedOut);
    }
    const verdict = statusVerdict(response.status);
    if (verdict === 'retry' || (verdict === 'conflict' && this.#conflict)) return new Failure('status', response, undefined);
    return response;
  }

  /** Sends the request once (the breaker calls this). */
  async run(): Promise<Response> {
    const signal = this.#signal;
    const response = await this.base(this.url, signal === undefined ? this.request : { ...this.request, signal });
    // A 409 is retried only when its documented code says the same key is still being processed.
    if (response.status === 409) this.#conflict = await isIdempotencyConflict(response);
    return response;
  }

  countsAsFailure(error: unknown): boolean {
    return this.#timedOut !== undefined || (!this.callerSignal?.aborted && classifyNetworkError(error) !== undefined);
  }

  /** The attempt's timer fired: aborts the attempt with the error that names the limit. */
  expire(controller: AbortController, deadline: boolean): void {
    const error = deadline
      ? new FetchTimeoutError('deadline_exceeded', this.settings.deadlineMs)
      : new FetchTimeoutError('attempt_timeout', this.settings.timeoutMs);
    this.#timedOut = error;
    controller.abort(error);
  }
}

function expire(call: Call, controller: AbortController, deadline: boolean): void {
  call.expire(controller, deadline);
}

async function isIdempotencyConflict(response: Response): Promise<boolean> {
  const text = await response.clone().text();
  return parseErrorBody(text)?.code === 'idempotency_conflict';
}

function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}

function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([a, b]);
  // Node 20.0 to 20.2: link by hand.
  const controller = new AbortController();
  const forward = (source: AbortSignal) => () => controller.abort(source.reason);
  a.addEventListener('abort', forward(a), { once: true, signal: controller.signal });
  b.addEventListener('abort', forward(b), { once: true, signal: controller.signal });
  return controller.signal;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts (the timer is cleared). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    // Not unref'd: the caller awaits this wait like it awaits the request, and the process must not
    // exit in the middle of a retry. It is always bounded (maxDelayMs, maxRetryAfterMs, the deadline).
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function originOf(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
}

/** The settings of a `Request` input that a plain `init` would otherwise lose. */
function requestFields(request: Request): RequestInit {
  return {
    cache: request.cache,
    credentials: request.credentials,
    integrity: request.integrity,
    keepalive: request.keepalive,
    mode: request.mode,
    redirect: request.redirect,
    referrerPolicy: request.referrerPolicy,
  };
}

function need(ok: boolean, name: string, what: string): asserts ok {
  if (!ok) throw new TypeError(`createFetch: options.${name} must be ${what}`);
}

function duration(value: unknown, name: string, fallback: number, allowInfinity: boolean): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    value >= 0 &&
    ((Number.isFinite(value) && value <= MAX_TIMER_MS) || (allowInfinity && value === Number.POSITIVE_INFINITY));
  need(ok, name, `a number of milliseconds from 0 to ${MAX_TIMER_MS}${allowInfinity ? ', or Infinity' : ''}`);
  return value as number;
}

function validate(options: CreateFetchOptions): Settings {
  need(options.fetch === undefined || typeof options.fetch === 'function', 'fetch', 'a function');
  const retries = options.retries ?? 3;
  need(Number.isSafeInteger(retries) && retries >= 0, 'retries', 'a non-negative integer');
  const baseDelayMs = duration(options.baseDelayMs, 'baseDelayMs', 100, false);
  const maxDelayMs = duration(options.maxDelayMs, 'maxDelayMs', 10_000, false);
  need(maxDelayMs >= baseDelayMs, 'maxDelayMs', 'at least options.baseDelayMs');
  const maxRetryAfterMs = duration(options.maxRetryAfterMs, 'maxRetryAfterMs', 60_000, false);
  const timeoutMs = duration(options.timeoutMs, 'timeoutMs', 30_000, true);
  need(timeoutMs > 0, 'timeoutMs', 'greater than 0');
  const deadlineMs = duration(options.deadlineMs, 'deadlineMs', Number.POSITIVE_INFINITY, true);
  need(deadlineMs > 0, 'deadlineMs', 'greater than 0');
  need(options.onRetry === undefined || typeof options.onRetry === 'function', 'onRetry', 'a function');
  const keyHeader = options.idempotencyHeader ?? 'Idempotency-Key';
  need(
    keyHeader === false || (typeof keyHeader === 'string' && HEADER_NAME.test(keyHeader)),
    'idempotencyHeader',
    'a header name or false',
  );
  return {
    fetch: options.fetch,
    retries,
    baseDelayMs,
    maxDelayMs,
    maxRetryAfterMs,
    timeoutMs,
    deadlineMs,
    onRetry: options.onRetry,
    keyHeader,
  };
}

const BREAKER_DEFAULTS: Required<BreakerOptions> = {
  errorThresholdPercentage: 50,
  resetTimeout: 30_000,
  volumeThreshold: 10,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10,
};

function validateBreaker(value: BreakerOptions | false | undefined): Required<BreakerOptions> | false {
  if (value === false) return false;
  if (value === undefined) return BREAKER_DEFAULTS;
  need(typeof value === 'object' && value !== null, 'breaker', 'an object of breaker options or false');
  for (const key of Object.keys(value)) {
    if (key === 'timeout') {
      throw new TypeError('createFetch: options.breaker.timeout is not supported; use options.timeoutMs');
    }
    need(Object.hasOwn(BREAKER_DEFAULTS, key), `breaker.${key}`, 'one of the supported breaker options (it is unknown)');
  }
  const merged = { ...BREAKER_DEFAULTS, ...stripUndefined(value) };
  const pct = merged.errorThresholdPercentage;
  need(typeof pct === 'number' && pct > 0 && pct <= 100, 'breaker.errorThresholdPercentage', 'a number above 0 and up to 100');
  duration(merged.resetTimeout, 'breaker.resetTimeout', 0, false);
  need(merged.resetTimeout > 0, 'breaker.resetTimeout', 'greater than 0');
  need(
    Number.isSafeInteger(merged.volumeThreshold) && merged.volumeThreshold >= 0,
    'breaker.volumeThreshold',
    'a non-negative integer',
  );
  duration(merged.rollingCountTimeout, 'breaker.rollingCountTimeout', 0, false);
  need(
    Number.isSafeInteger(merged.rollingCountBuckets) && merged.rollingCountBuckets > 0,
    'breaker.rollingCountBuckets',
    'a positive integer',
  );
  need(
    merged.rollingCountTimeout >= merged.rollingCountBuckets,
    'breaker.rollingCountTimeout',
    'at least options.breaker.rollingCountBuckets milliseconds',
  );
  return merged;
}

const BUDGET_DEFAULTS: Required<RetryBudgetOptions> = { ratio: 0.1, minPerSecond: 1, windowMs: 10_000 };

function validateBudget(value: RetryBudgetOptions | false | undefined): Required<RetryBudgetOptions> | false {
  if (value === false) return false;
  if (value === undefined) return BUDGET_DEFAULTS;
  need(typeof value === 'object' && value !== null, 'retryBudget', 'an object of budget options or false');
  for (const key of Object.keys(value)) {
    need(Object.hasOwn(BUDGET_DEFAULTS, key), `retryBudget.${key}`, 'one of ratio, minPerSecond, windowMs (it is unknown)');
  }
  const merged = { ...BUDGET_DEFAULTS, ...stripUndefined(value) };
  need(typeof merged.ratio === 'number' && merged.ratio >= 0 && Number.isFinite(merged.ratio), 'retryBudget.ratio', 'a non-negative number');
  need(
    typeof merged.minPerSecond === 'number' && merged.minPerSecond >= 0 && Number.isFinite(merged.minPerSecond),
    'retryBudget.minPerSecond',
    'a non-negative number',
  );
  duration(merged.windowMs, 'retryBudget.windowMs', 0, false);
  need(merged.windowMs >= 10, 'retryBudget.windowMs', 'at least 10');
  return merged;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}
