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

/**
 * One call of the wrapper. The success path stays synchronous up to `fetch` and settles in a single
 * promise reaction after it, as every extra `await` between `fetch` and the caller adds latency.
 */
function send(
  settings: Settings,
  pool: OriginPool | undefined,
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): Promise<Response> {
  try {
    const base = settings.fetch ?? globalThis.fetch;
    const isRequest = input instanceof Request;
    const callerSignal = init?.signal ?? (isRequest ? input.signal : undefined) ?? undefined;
    if (callerSignal?.aborted) throw callerSignal.reason;

    const url = typeof input === 'string' ? input : isRequest ? input.url : input instanceof URL ? input.href : String(input);
    const origin = originOf(url);
    // Not an http(s) URL (or not a URL at all): fetch itself answers, or rejects, as it would.
    if (origin === undefined) return Promise.resolve(base(input, init));

    const pending = snapshotRequestBody(input, init);
    const target: Target = { base, isRequest, callerSignal, url, origin };
    if (pending instanceof Promise) return pending.then((body) => start(settings, pool, input, init, target, body));
    return start(settings, pool, input, init, target, pending);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** What {@link send} worked out about a call before its body was read. */
interface Target {
  base: FetchLike;
  isRequest: boolean;
  callerSignal: AbortSignal | undefined;
  url: string;
  origin: string;
}

/** Prepares the request sent by every attempt of a call, and sends the first attempt. */
function start(
  settings: Settings,
  pool: OriginPool | undefined,
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  target: Target,
  body: BodySnapshot,
): Promise<Response> {
  const { isRequest, callerSignal } = target;
  if (callerSignal?.aborted) throw callerSignal.reason;
  const sentMethod = init?.method ?? (isRequest ? (input as Request).method : 'GET');
  const method = sentMethod.toUpperCase();

  // The caller's headers go out untouched unless the wrapper must read or add one.
  const contentType = body.kind === 'replayable' ? body.contentType : undefined;
  let headers: HeadersInit | undefined = init?.headers;
  let idempotencyKey: string | undefined;
  if (isRequest || contentType !== undefined || !isIdempotentMethod(method)) {
    const source = init?.headers ?? (isRequest ? (input as Request).headers : undefined);
    const prepared = prepareHeaders(source, settings.keyHeader, KEYED_METHODS.has(method), contentType);
    headers = prepared.headers;
    idempotencyKey = prepared.idempotencyKey;
  }

  // Only what differs from fetch's defaults is set, as fetch's own checks of each field cost time.
  const request: RequestInit & { duplex?: 'half' } = isRequest
    ? { ...requestFields(input as Request), ...init, method: sentMethod }
    : { ...init };
  if (headers !== undefined) request.headers = headers;
  if (body.kind !== 'none') request.body = body.body as BodyInit;
  if (body.kind === 'stream') request.duplex = 'half';

  const startedAt = Date.now();
  const deadlineAt =
    settings.deadlineMs === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : startedAt + settings.deadlineMs;
  const call = new Call(settings, pool, target, request, deadlineAt, {
    method,
    idempotencyKey,
    replaySafe: isReplaySafe(method, idempotencyKey !== undefined),
    stream: body.kind === 'stream',
  });
  call.state?.budget?.recordCall(startedAt);
  return call.next();
}

/** What decides whether and how a call may be retried. */
interface RetryPlan {
  /** Upper-case method. */
  method: string;
  /** The `Idempotency-Key` sent with every attempt, if any. */
  idempotencyKey: string | undefined;
  /** Whether sending the request twice has no double effect (idempotent method, or a key). */
  replaySafe: boolean;
  /** Whether the body is a one-shot stream (never sent twice). */
  stream: boolean;
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
  /** The origin's breaker and budget, looked up again before each retry. */
  state: OriginState | undefined;
  #retry = 0;
  #signal: AbortSignal | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timedOut: FetchTimeoutError | undefined;
  #conflict = false;
  #sent = false;

  constructor(
    readonly settings: Settings,
    readonly pool: OriginPool | undefined,
    readonly target: Target,
    readonly request: RequestInit,
    readonly deadlineAt: number,
    readonly plan: RetryPlan,
  ) {
    this.state = pool?.get(target.origin);
  }

  /**
   * Sends the next attempt with its own timeout (the smaller of `timeoutMs` and what is left of the
   * deadline), and resolves to the response that ends the call, retrying as long as the rules allow.
   * Rejects when the call must end with an error: the caller aborted, the deadline passed, the breaker
   * is open, `fetch` refused its arguments, or the last attempt failed on the network or timed out.
   */
  next(): Promise<Response> {
    const { settings, target } = this;
    const remaining = this.deadlineAt - Date.now();
    if (remaining <= 0) return Promise.reject(new FetchTimeoutError('deadline_exceeded', settings.deadlineMs));
    this.#timedOut = undefined;
    this.#conflict = false;
    this.probe = false;
    const limit = Math.min(settings.timeoutMs, remaining);
    if (limit <= MAX_TIMER_MS) {
      const controller = new AbortController();
      const timer = setTimeout(expire, limit, this, controller, settings.timeoutMs > remaining);
      timer.unref();
      this.#timer = timer;
      this.#signal =
        target.callerSignal === undefined ? controller.signal : anySignal(target.callerSignal, controller.signal);
    } else {
      this.#timer = undefined;
      this.#signal = target.callerSignal;
    }

    const state = this.state;
    const startedAt = state === undefined ? undefined : state.begin(this);
    if (startedAt === undefined && state?.breaker !== undefined) {
      // The breaker is open or half-open: opossum fails the attempt fast or lets it through as the probe.
      return state.send(this).then(
        (response) => this.#settle(response),
        (error: unknown) => this.#settleError(error),
      );
    }
    let sent: Promise<Response>;
    try {
      sent = Promise.resolve(target.base(target.url, this.#init()));
    } catch (error) {
      sent = Promise.reject(error);
    }
    if (startedAt === undefined) {
      return sent.then(
        (response) => (response.status === 409 ? this.#readConflict(response, undefined) : this.#settle(response)),
        (error: unknown) => this.#settleError(error),
      );
    }
    // A closed breaker: the attempt is counted through `begin`, `succeeded` and `failed`.
    const origin = state as OriginState;
    return sent.then(
      (response) => {
        if (response.status === 409) return this.#readConflict(response, startedAt);
        origin.succeeded(startedAt, response, this);
        return this.#settle(response);
      },
      (error: unknown) => {
        origin.failed(startedAt, error, this);
        return this.#settleError(error);
      },
    );
  }

  /** Sends the request once (the breaker's `fire()` calls this), reading the error code of a 409. */
  async run(): Promise<Response> {
    const response = await this.target.base(this.target.url, this.#init());
    if (response.status === 409) this.#conflict = await isIdempotencyConflict(response);
    return response;
  }

  countsAsFailure(error: unknown): boolean {
    return this.#timedOut !== undefined || (!this.target.callerSignal?.aborted && classifyNetworkError(error) !== undefined);
  }

  /** The attempt's timer fired: aborts the attempt with the error that names the limit. */
  expire(controller: AbortController, deadline: boolean): void {
    const error = deadline
      ? new FetchTimeoutError('deadline_exceeded', this.settings.deadlineMs)
      : new FetchTimeoutError('attempt_timeout', this.settings.timeoutMs);
    this.#timedOut = error;
    controller.abort(error);
  }

  /** The init of this attempt: the prepared request with the attempt's signal. */
  #init(): RequestInit {
    const signal = this.#signal;
    let init = this.request;
    if (signal !== undefined) {
      // The first attempt sends the prepared init itself; a retry gets a copy, never an init already handed over.
      if (this.#sent) init = { ...init };
      init.signal = signal;
    }
    this.#sent = true;
    return init;
  }

  /** A 409 is retried only when its documented code says the same key is still being processed. */
  #readConflict(response: Response, startedAt: number | undefined): Promise<Response> {
    const state = this.state;
    return isIdempotencyConflict(response).then(
      (conflict) => {
        this.#conflict = conflict;
        if (startedAt !== undefined) state?.succeeded(startedAt, response, this);
        return this.#settle(response);
      },
      (error: unknown) => {
        if (startedAt !== undefined) state?.failed(startedAt, error, this);
        return this.#settleError(error);
      },
    );
  }

  /** The attempt answered: the call ends with the response, or retries it. */
  #settle(response: Response): Response | Promise<Response> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const callerSignal = this.target.callerSignal;
    if (callerSignal?.aborted) {
      discard(response);
      throw callerSignal.reason;
    }
    const timedOut = this.#timedOut;
    if (timedOut !== undefined) {
      // The timer fired as the response arrived: its body is aborted, so it is a timeout after all.
      discard(response);
      if (timedOut.code === 'deadline_exceeded') throw timedOut;
      return this.#retryAfter(new Failure('timeout', undefined, timedOut));
    }
    const verdict = statusVerdict(response.status);
    if (verdict === 'retry' || (verdict === 'conflict' && this.#conflict)) {
      return this.#retryAfter(new Failure('status', response, undefined));
    }
    return response;
  }

  /** The attempt failed: the call ends with the error, or retries it. */
  #settleError(error: unknown): Promise<Response> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const callerSignal = this.target.callerSignal;
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (error instanceof CircuitOpenError) throw error;
    const timedOut = this.#timedOut;
    if (timedOut !== undefined) {
      if (timedOut.code === 'deadline_exceeded') throw timedOut;
      return this.#retryAfter(new Failure('timeout', undefined, timedOut));
    }
    const network = classifyNetworkError(error);
    if (network === undefined) throw error;
    return this.#retryAfter(new Failure(network, undefined, error));
  }

  /** After a retryable failure: waits and sends the next attempt, or ends the call with the failure. */
  async #retryAfter(outcome: Failure): Promise<Response> {
    const { settings, plan, target } = this;
    const retry = this.#retry;
    if (retry >= settings.retries) return outcome.end();
    let delayMs: number;
    let fromRetryAfter = false;
    const { response } = outcome;
    if (response !== undefined) {
      if (!plan.replaySafe || plan.stream) return response;
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
      if (retryAfter === undefined) delayMs = backoffDelay(retry, settings.baseDelayMs, settings.maxDelayMs);
      else if (retryAfter > settings.maxRetryAfterMs) return response;
      else {
        delayMs = retryAfter;
        fromRetryAfter = true;
      }
    } else {
      if (!plan.replaySafe && outcome.reason !== 'before-connect') return outcome.end();
      if (plan.stream) throw new BodyNotReplayableError(outcome.error);
      delayMs = backoffDelay(retry, settings.baseDelayMs, settings.maxDelayMs);
    }
    const now = Date.now();
    if (now + delayMs >= this.deadlineAt) return outcome.end();
    const state = this.state;
    if (state !== undefined && state.blockedUntil() > now + delayMs) return outcome.end();
    if (state?.budget !== undefined && !state.budget.tryRetry(now)) return outcome.end();

    if (settings.onRetry) {
      const event: RetryEvent = {
        method: plan.method,
        url: target.url,
        origin: target.origin,
        retry: retry + 1,
        delayMs,
        fromRetryAfter,
        reason: outcome.reason === 'timeout' ? 'timeout' : response !== undefined ? 'status' : 'network',
      };
      if (response !== undefined) event.status = response.status;
      else event.error = outcome.error;
      if (plan.idempotencyKey !== undefined) event.idempotencyKey = plan.idempotencyKey;
      try {
        settings.onRetry(event);
      } catch {
        // A hook is for observation; its failure does not change the call.
      }
    }
    if (response !== undefined) discard(response);
    await sleep(delayMs, target.callerSignal);
    this.#retry = retry + 1;
    this.state = this.pool?.get(target.origin);
    return this.next();
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

/**
 * Origins of recent URL prefixes (scheme and authority): a URL is parsed once per prefix, not per call.
 * Bounded in entries and in the length of what is kept.
 */
const ORIGINS_MAX = 512;
const CACHED_LENGTH_MAX = 2048;
const origins = new Map<string, string | undefined>();

let lastUrl = '';
let lastOrigin: string | undefined;

/** The origin of an http(s) URL, else undefined. */
function originOf(url: string): string | undefined {
  // Calls to the same URL in a row (polling, a client bound to one endpoint) skip even the prefix scan.
  if (url === lastUrl) return lastOrigin;
  const origin = cachedOrigin(url);
  if (url.length <= CACHED_LENGTH_MAX) {
    lastUrl = url;
    lastOrigin = origin;
  }
  return origin;
}

function cachedOrigin(url: string): string | undefined {
  const end = authorityEnd(url);
  if (end === -1 || end > CACHED_LENGTH_MAX) return parseOrigin(url);
  const prefix = url.slice(0, end);
  let origin = origins.get(prefix);
  if (origin === undefined && !origins.has(prefix)) {
    origin = parseOrigin(prefix);
    if (origins.size >= ORIGINS_MAX) origins.clear();
    origins.set(prefix, origin);
  }
  return origin;
}

/**
 * Where the authority of a plain `http://` or `https://` URL ends (at `/`, `?`, `#`, `\` or the end),
 * or -1 when the URL is not that simple (other scheme or case, whitespace or control characters, an
 * empty authority): the origin depends only on what comes before, so such a prefix parses to the
 * same origin as the whole URL.
 */
function authorityEnd(url: string): number {
  let start: number;
  if (url.startsWith('http://')) start = 7;
  else if (url.startsWith('https://')) start = 8;
  else return -1;
  let index = start;
  for (; index < url.length; index++) {
    const code = url.charCodeAt(index);
    if (code === 0x2f || code === 0x3f || code === 0x23 || code === 0x5c) break;
    if (code <= 0x20 || code === 0x7f) return -1;
  }
  return index === start ? -1 : index;
}

function parseOrigin(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
}

/** Headers ready to send, and the idempotency key they carry (if any). */
interface PreparedHeaders {
  headers: HeadersInit;
  idempotencyKey: string | undefined;
}

/**
 * Copies the caller's headers, adding an idempotency key (when `addKey` and the caller set none) and the
 * body's content type (when the caller set none). A plain object of headers without either is copied as
 * a plain object, which is cheaper than a `Headers` and sends the same; anything else goes through `Headers`.
 */
function prepareHeaders(
  source: HeadersInit | undefined,
  keyHeader: string | false,
  addKey: boolean,
  contentType: string | undefined,
): PreparedHeaders {
  const keyName = keyHeader === false ? 'idempotency-key' : keyHeader.toLowerCase();
  if (source === undefined || isPlainRecord(source)) {
    let simple = true;
    if (source !== undefined) {
      for (const name of Object.keys(source)) {
        // Only names of the right length can match: most are never lower-cased.
        if (name.length !== keyName.length && (contentType === undefined || name.length !== 12)) continue;
        const lower = name.toLowerCase();
        if (lower === keyName || (contentType !== undefined && lower === 'content-type')) {
          simple = false;
          break;
        }
      }
    }
    if (simple) {
      const copy: Record<string, string> = { ...(source as Record<string, string> | undefined) };
      let idempotencyKey: string | undefined;
      if (addKey && keyHeader !== false) {
        idempotencyKey = crypto.randomUUID();
        copy[keyHeader] = idempotencyKey;
      }
      if (contentType !== undefined) copy['content-type'] = contentType;
      return { headers: copy, idempotencyKey };
    }
  }
  const copy = new Headers(source);
  if (addKey && keyHeader !== false && !copy.has(keyHeader)) copy.set(keyHeader, crypto.randomUUID());
  if (contentType !== undefined && !copy.has('content-type')) copy.set('content-type', contentType);
  return { headers: copy, idempotencyKey: copy.get(keyName) ?? undefined };
}

function isPlainRecord(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
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
