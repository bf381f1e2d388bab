/**
 * `createFetch`: a drop-in `fetch` that retries what may succeed, waits out `Retry-After`, never sends
 * a side effect twice, and breaks circuits per origin.
 */
import { parseErrorBody } from '../errors/parse-body.js';
import { anySignal } from './any-signal.js';
import { type BodySnapshot, snapshotRequestBody } from './body.js';
import { type Attempt, OriginPool, type OriginState } from './breakers.js';
import { BodyNotReplayableError, CircuitOpenError, FetchTimeoutError } from './errors.js';
import {
  type CreateFetchOptions,
  type FetchLike,
  MAX_TIMER_MS,
  need,
  OPTION_NAMES,
  type RetryEvent,
  type Settings,
  validate,
  validateBreaker,
  validateBudget,
} from './options.js';
import { originOf } from './origin.js';
import { prepareHeaders, requestFields } from './prepare-request.js';
import {
  backoffDelay,
  classifyNetworkError,
  isIdempotentMethod,
  isReplaySafe,
  KEYED_METHODS,
  statusVerdict,
} from './retry.js';
import { parseRetryAfter } from './retry-after.js';
import { sleep } from './sleep.js';

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
