/**
 * `createFetch`: a drop-in `fetch` that retries what may succeed, waits out `Retry-After`, never sends
 * a side effect twice, and breaks circuits per origin.
 */
import { parseErrorBody } from '../errors/parse-body.js';
import { anySignal } from './any-signal.js';
import { AttemptTimer } from './attempt-timer.js';
import { type BodySnapshot, snapshotRequestBody } from './body.js';
import { type Attempt, OriginPool, type OriginState } from './breakers.js';
import { type BulwarkFetch, type BulwarkRequestInit, callSettings } from './call-options.js';
import { isBreakerRegistry, poolOf, REGISTRY_OPTION_NAMES } from './create-breakers.js';
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
 * retry budget per origin (its own, or those of a registry shared with other wrappers). It can be passed
 * wherever a `fetch` is expected; a call's `init` may also carry per-call options as `bulwark`.
 *
 * @example
 * ```ts
 * import { createFetch, ApiError } from 'bulwark/client';
 *
 * const api = createFetch({ retries: 3, timeoutMs: 5_000, deadlineMs: 20_000 });
 * const res = await api('https://api.example.com/v1/messages', { method: 'POST', body: JSON.stringify(msg) });
 * if (!res.ok) throw await ApiError.fromResponse(res);
 * await api('https://api.example.com/v1/ping', { bulwark: { retries: 0, deadlineMs: 1_000 } });
 * ```
 */
export function createFetch(options: CreateFetchOptions = {}): BulwarkFetch {
  if (typeof options !== 'object' || options === null) throw new TypeError('createFetch: options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) throw new TypeError(`createFetch: unknown option ${JSON.stringify(key)}`);
  }
  const settings = validate(options);
  let pool: OriginPool | undefined;
  if (options.breakers !== undefined) {
    need(isBreakerRegistry(options.breakers), 'breakers', 'a registry made by createBreakers()');
    for (const name of REGISTRY_OPTION_NAMES) {
      if ((options as Record<string, unknown>)[name] !== undefined) {
        throw new TypeError(
          `createFetch: options.${name} belongs to the shared registry given as options.breakers; pass it to createBreakers() instead`,
        );
      }
    }
    pool = poolOf(options.breakers);
  } else {
    const breaker = validateBreaker(options.breaker);
    const budget = validateBudget(options.retryBudget);
    const maxBreakers = options.maxBreakers ?? 1000;
    need(Number.isSafeInteger(maxBreakers) && maxBreakers > 0, 'maxBreakers', 'a positive integer');
    const onStateChange = options.onBreakerStateChange;
    need(onStateChange === undefined || typeof onStateChange === 'function', 'onBreakerStateChange', 'a function');
    pool =
      breaker === false && budget === false
        ? undefined
        : new OriginPool({ max: maxBreakers, breaker, budget, onStateChange });
  }

  const bulwarkFetch = (input: RequestInfo | URL, init?: BulwarkRequestInit): Promise<Response> =>
    send(settings, pool, input, init);
  return bulwarkFetch;
}

/**
 * One call of the wrapper. The success path stays synchronous up to `fetch` and settles in a single
 * promise reaction after it, as every extra `await` between `fetch` and the caller adds latency.
 */
function send(
  instanceSettings: Settings,
  pool: OriginPool | undefined,
  input: RequestInfo | URL,
  callerInit: BulwarkRequestInit | undefined,
): Promise<Response> {
  try {
    let settings = instanceSettings;
    let key: string | false | undefined;
    let init: RequestInit | undefined = callerInit;
    // Per-call options are read, validated and taken out of the init: fetch never sees them.
    if (callerInit !== undefined && callerInit !== null && 'bulwark' in callerInit) {
      const { bulwark, ...rest } = callerInit;
      ({ settings, key } = callSettings(instanceSettings, bulwark));
      init = rest;
    }
    const base = settings.fetch ?? globalThis.fetch;
    const isRequest = input instanceof Request;
    const callerSignal = init?.signal ?? (isRequest ? input.signal : undefined) ?? undefined;
    if (callerSignal?.aborted) throw callerSignal.reason;

    const url = typeof input === 'string' ? input : isRequest ? input.url : input instanceof URL ? input.href : String(input);
    const origin = originOf(url);
    // Not an http(s) URL (or not a URL at all): fetch itself answers, or rejects, as it would.
    if (origin === undefined) return Promise.resolve(base(input, init));

    const pending = snapshotRequestBody(input, init);
    const target: Target = { base, isRequest, callerSignal, url, origin, key };
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
  /** `init.bulwark.idempotencyKey`: a key for this call, `false` for none, else the wrapper's rule. */
  key: string | false | undefined;
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
  const { isRequest, callerSignal, key } = target;
  if (callerSignal?.aborted) throw callerSignal.reason;
  const sentMethod = init?.method ?? (isRequest ? (input as Request).method : 'GET');
  const method = sentMethod.toUpperCase();

  // The caller's headers go out untouched unless the wrapper must read or add one.
  const contentType = body.kind === 'replayable' ? body.contentType : undefined;
  let headers: HeadersInit | undefined = init?.headers;
  let idempotencyKey: string | undefined;
  if (isRequest || contentType !== undefined || !isIdempotentMethod(method) || typeof key === 'string') {
    const source = init?.headers ?? (isRequest ? (input as Request).headers : undefined);
    const addKey = key !== false && KEYED_METHODS.has(method);
    const given = typeof key === 'string' ? key : undefined;
    const prepared = prepareHeaders(source, settings.keyHeader, addKey, contentType, given);
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
  /** The time limit of the current attempt; left running when its response ends the call (it covers the body). */
  #timer: AttemptTimer | undefined;
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
    this.#conflict = false;
    this.probe = false;
    const limit = Math.min(settings.timeoutMs, remaining);
    if (limit <= MAX_TIMER_MS) {
      const timer =
        settings.timeoutMs > remaining
          ? new AttemptTimer(limit, 'deadline_exceeded', settings.deadlineMs)
          : new AttemptTimer(limit, 'attempt_timeout', settings.timeoutMs);
      this.#timer = timer;
      this.#signal = target.callerSignal === undefined ? timer.signal : anySignal(target.callerSignal, timer.signal);
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

  /**
   * Whether an attempt's error is the upstream's failure: its timeout, or a network error that may pass
   * (not the caller's abort, a bad argument, a certificate, a redirect loop or an unknown host).
   */
  countsAsFailure(error: unknown): boolean {
    return (
      this.#timer?.fired !== undefined ||
      (!this.target.callerSignal?.aborted && classifyNetworkError(error) !== undefined)
    );
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

  /**
   * The attempt answered: the call ends with the response, or retries it. A response that ends the call
   * keeps its attempt's timer running, so that the deadline and the attempt's timeout cover its body.
   */
  #settle(response: Response): Response | Promise<Response> {
    const timer = this.#timer;
    const callerSignal = this.target.callerSignal;
    if (callerSignal?.aborted) {
      timer?.stop();
      discard(response);
      throw callerSignal.reason;
    }
    const timedOut = timer?.fired;
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
    const timer = this.#timer;
    timer?.stop();
    const callerSignal = this.target.callerSignal;
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (error instanceof CircuitOpenError) throw error;
    const timedOut = timer?.fired;
    if (timedOut !== undefined) {
      if (timedOut.code === 'deadline_exceeded') throw timedOut;
      return this.#retryAfter(new Failure('timeout', undefined, timedOut));
    }
    const network = classifyNetworkError(error);
    if (network === undefined) throw error;
    return this.#retryAfter(new Failure(network, undefined, error));
  }

  /**
   * After a retryable failure: waits and sends the next attempt, or ends the call with the failure. A
   * response that ends the call here (retries spent, a `Retry-After` over the cap, the deadline or the
   * breaker in the way) keeps its timer running, as in {@link Call.#settle}.
   */
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
    // The response is kept unread through the wait (a small body is already buffered, and its connection
    // back in the pool): if the breaker opens meanwhile, the call ends with it rather than with circuit_open.
    const timer = this.#timer;
    timer?.stop();
    try {
      await sleep(delayMs, target.callerSignal);
    } catch (error) {
      if (response !== undefined) discard(response);
      throw error;
    }
    this.#retry = retry + 1;
    this.state = this.pool?.get(target.origin);
    if (this.state !== undefined && !this.state.admits()) {
      // Another call opened the breaker during the wait: this call ends with the answer it already has,
      // exactly as when the breaker was open before the wait. A response keeps the deadline for its body.
      if (response !== undefined && timer !== undefined && this.deadlineAt !== Number.POSITIVE_INFINITY) {
        timer.rearm(this.deadlineAt - Date.now(), 'deadline_exceeded', settings.deadlineMs);
      }
      return outcome.end();
    }
    if (response !== undefined) discard(response);
    return this.next();
  }
}

async function isIdempotencyConflict(response: Response): Promise<boolean> {
  const text = await response.clone().text();
  return parseErrorBody(text)?.code === 'idempotency_conflict';
}

function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}
