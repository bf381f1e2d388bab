/**
 * `createFetch`: a drop-in `fetch` that retries what may succeed, waits out `Retry-After`, never sends
 * a side effect twice, and breaks circuits per origin.
 */
import { ApiError } from '../errors/api-error.js';
import { parseErrorBody } from '../errors/parse-body.js';
import { anySignal } from './any-signal.js';
import { AttemptTimer } from './attempt-timer.js';
import { type BodySnapshot, snapshotRequestBody } from './body.js';
import { type Attempt, OriginPool, type OriginState } from './breakers.js';
import { type BulwarkFetch, type BulwarkRequestInit, callSettings } from './call-options.js';
import { isBreakerRegistry, poolOf, REGISTRY_OPTION_NAMES } from './create-breakers.js';
import { BodyNotReplayableError, CircuitOpenError, FetchTimeoutError, LoadShedError } from './errors.js';
import { callHook, codeOf, observed, publish, type RetryReason } from './hooks.js';
import {
  type CreateFetchOptions,
  type FetchLike,
  MAX_TIMER_MS,
  need,
  OPTION_NAMES,
  type RetryEvent,
  type Settings,
  validate,
  validateAdaptive,
  validateBreaker,
  validateBudget,
  validatePace,
} from './options.js';
import { originOf } from './origin.js';
import { PaceRefusal, Pacer, readHeaders, routeOf } from './pace.js';
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
    const adaptive = validateAdaptive(options.adaptiveThrottle);
    pool =
      breaker === false && budget === false && adaptive === false
        ? undefined
        : new OriginPool({ max: maxBreakers, breaker, budget, adaptive, onStateChange });
  }
  const paceOptions = validatePace(options.pace);
  const pacer = paceOptions === false ? undefined : new Pacer(paceOptions);

  const bulwarkFetch = (input: RequestInfo | URL, init?: BulwarkRequestInit): Promise<Response> =>
    send(settings, pool, pacer, input, init);
  return bulwarkFetch;
}

/**
 * One call of the wrapper. The success path stays synchronous up to `fetch` and settles in a single
 * promise reaction after it, as every extra `await` between `fetch` and the caller adds latency.
 */
function send(
  instanceSettings: Settings,
  pool: OriginPool | undefined,
  pacer: Pacer | undefined,
  input: RequestInfo | URL,
  callerInit: BulwarkRequestInit | undefined,
): Promise<Response> {
  const calledAt = performance.now();
  let settings = instanceSettings;
  try {
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
    const target: Target = { base, isRequest, callerSignal, url, origin, key, pacer };
    const callSettingsUsed = settings;
    const begin = (body: BodySnapshot): Promise<Response> => {
      try {
        return start(callSettingsUsed, pool, input, init, target, body);
      } catch (error) {
        endedEarly(callSettingsUsed, input, callerInit, error, calledAt);
        return Promise.reject(error);
      }
    };
    if (pending instanceof Promise) {
      return pending.then(begin, (error: unknown) => {
        endedEarly(callSettingsUsed, input, callerInit, error, calledAt);
        throw error;
      });
    }
    return begin(pending);
  } catch (error) {
    endedEarly(settings, input, callerInit, error, calledAt);
    return Promise.reject(error);
  }
}

/**
 * A call that rejects before the wrapper starts it (the caller's signal already aborted, bad per-call
 * options, a body that cannot be read): it ends like any other call that rejects, with `onCallEnd` and
 * a `call-end` event (attempts 0). A URL that is not http(s) is fetch's own and reports nothing.
 */
function endedEarly(
  settings: Settings,
  input: RequestInfo | URL,
  init: BulwarkRequestInit | undefined,
  error: unknown,
  calledAt: number,
): void {
  const hook = settings.onCallEnd;
  const listened = observed();
  if (hook === undefined && !listened) return;
  let url: string;
  let method: string;
  try {
    const isRequest = input instanceof Request;
    url = typeof input === 'string' ? input : isRequest ? input.url : input instanceof URL ? input.href : String(input);
    const given = init !== undefined && init !== null ? init.method : undefined;
    method = String(given ?? (isRequest ? input.method : 'GET')).toUpperCase();
  } catch {
    return;
  }
  const origin = originOf(url);
  if (origin === undefined) return;
  const signal = (init !== undefined && init !== null ? init.signal : undefined) ?? (input instanceof Request ? input.signal : undefined);
  const code = codeOf(error, signal?.aborted === true);
  const durationMs = performance.now() - calledAt;
  if (hook !== undefined) callHook(hook, { method, url, origin, outcome: 'error', error, code, attempts: 0, durationMs });
  if (listened) publish({ decision: 'call-end', origin, method, outcome: 'error', code, attempts: 0, durationMs });
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
  /** The wrapper's pacing state (undefined with `pace: false`). */
  pacer: Pacer | undefined;
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
  const promise = call.next();
  if (settings.onCallEnd === undefined && !observed()) return promise;
  return promise.then(
    (response) => {
      call.ended(response, undefined);
      return response;
    },
    (error: unknown) => {
      call.ended(undefined, error);
      throw error;
    },
  );
}

/** The error of a call that pacing refused: the origin's rate limit would refuse it for about `waitMs`. */
function throttledError(waitMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new ApiError('throttled', {
    message: `The request was not sent: the API's rate limit would refuse it for about ${seconds} s more (paced by the client).`,
    headers: { 'retry-after': String(seconds) },
    details: { paced: true },
  });
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
  /** Attempts sent so far. */
  #attempts = 0;
  /** When the current attempt was sent (performance.now()), while it has not ended. */
  #attemptAt: number | undefined;
  /** The sequence number pacing gave the current attempt (0: not paced). */
  #seq = 0;
  #route: string | undefined;
  readonly #startedAt = performance.now();

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
   * Sends the first attempt, after adaptive throttling and pacing let it through, and resolves to the
   * response that ends the call, retrying as long as the rules allow.
   */
  next(): Promise<Response> {
    const { target } = this;
    const adaptive = this.state?.adaptive;
    if (adaptive !== undefined) {
      const probability = adaptive.refuses();
      if (probability > 0) {
        if (observed()) publish({ decision: 'shed', origin: target.origin, method: this.plan.method, attempt: 1, code: 'load_shed' });
        return Promise.reject(new LoadShedError(target.origin, probability));
      }
    }
    const pacer = target.pacer;
    if (pacer !== undefined) {
      const gate = this.#pace(pacer);
      if (gate instanceof PaceRefusal) return Promise.reject(throttledError(gate.waitMs));
      if (gate !== undefined) {
        return gate.then(
          () => this.#dispatch(),
          (error: unknown) => {
            throw error instanceof PaceRefusal ? throttledError(error.waitMs) : error;
          },
        );
      }
    }
    return this.#dispatch();
  }

  /**
   * Sends the next attempt with its own timeout (the smaller of `timeoutMs` and what is left of the
   * deadline). Rejects when the call must end with an error: the caller aborted, the deadline passed, the
   * breaker is open, `fetch` refused its arguments, or the last attempt failed on the network or timed out.
   */
  #dispatch(): Promise<Response> {
    const { settings, target } = this;
    const remaining = this.deadlineAt - Date.now();
    if (remaining <= 0) {
      this.#unpace();
      return Promise.reject(new FetchTimeoutError('deadline_exceeded', settings.deadlineMs));
    }
    if (target.callerSignal?.aborted) {
      this.#unpace();
      return Promise.reject(target.callerSignal.reason);
    }
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
    this.#sending();
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
    this.#sending();
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

  /** The call resolved or rejected: `onCallEnd` and the `call-end` event. */
  ended(response: Response | undefined, error: unknown): void {
    const { settings, target, plan } = this;
    const durationMs = performance.now() - this.#startedAt;
    const code = response === undefined ? codeOf(error, target.callerSignal?.aborted === true) : undefined;
    if (settings.onCallEnd !== undefined) {
      callHook(settings.onCallEnd, {
        method: plan.method,
        url: target.url,
        origin: target.origin,
        outcome: response === undefined ? 'error' : 'response',
        ...(response === undefined ? { error, code } : { status: response.status }),
        attempts: this.#attempts,
        durationMs,
      });
    }
    if (observed()) {
      publish({
        decision: 'call-end',
        origin: target.origin,
        method: plan.method,
        outcome: response === undefined ? 'error' : 'response',
        ...(response === undefined ? { code } : { status: response.status }),
        attempts: this.#attempts,
        durationMs,
      });
    }
  }

  /** An attempt goes out now: counted, timed, and announced to `onAttempt` and on `bulwark:client`. */
  #sending(): void {
    this.#attempts += 1;
    this.#attemptAt = performance.now();
    const { settings, target, plan } = this;
    if (settings.onAttempt !== undefined) {
      callHook(settings.onAttempt, { method: plan.method, url: target.url, origin: target.origin, attempt: this.#retry + 1 });
    }
    if (observed()) publish({ decision: 'attempt', origin: target.origin, method: plan.method, attempt: this.#retry + 1 });
  }

  /**
   * The current attempt ended, and what happens next is known: `onAttemptEnd` and the `attempt-end` event
   * (once per attempt sent; nothing for a call refused before it reached the network).
   */
  #attemptEnd(retry: boolean, reason: RetryReason, response: Response | undefined, error: unknown, delayMs?: number): void {
    const at = this.#attemptAt;
    if (at === undefined) return;
    this.#attemptAt = undefined;
    const { settings, target, plan } = this;
    const hook = settings.onAttemptEnd;
    const listened = observed();
    if (hook === undefined && !listened) return;
    const durationMs = performance.now() - at;
    const attempt = this.#retry + 1;
    const code = response === undefined ? codeOf(error, target.callerSignal?.aborted === true) : undefined;
    if (hook !== undefined) {
      callHook(hook, {
        method: plan.method,
        url: target.url,
        origin: target.origin,
        attempt,
        durationMs,
        ...(response === undefined ? { error, code } : { status: response.status }),
        retry,
        reason,
        ...(delayMs === undefined ? {} : { delayMs }),
      });
    }
    if (listened) {
      publish({
        decision: 'attempt-end',
        origin: target.origin,
        method: plan.method,
        attempt,
        ...(response === undefined ? { code } : { status: response.status }),
        durationMs,
        reason,
        ...(delayMs === undefined ? {} : { delayMs }),
      });
    }
  }

  /**
   * Asks pacing whether the next attempt may go: undefined (now), a promise (once its turn comes; it
   * rejects with a {@link PaceRefusal} past the limit, or with the caller's abort reason), or a refusal.
   */
  #pace(pacer: Pacer): undefined | Promise<void> | PaceRefusal {
    const { origin } = this.target;
    if (!pacer.knows(origin)) {
      this.#seq = 0;
      return undefined;
    }
    if (!this.settings.pace) {
      // Not paced (init.bulwark.pace: false), but in flight to the origin, and its answer is still read.
      this.#seq = pacer.track(origin);
      return undefined;
    }
    const now = Date.now();
    const limit = Math.min(this.settings.paceMaxWaitMs, this.deadlineAt - now);
    const ticket = pacer.admit(origin, this.#routeKey(), now, limit, this.target.callerSignal);
    if (typeof ticket === 'number') {
      this.#seq = ticket;
      return undefined;
    }
    const refused = ticket instanceof PaceRefusal;
    if (observed()) {
      publish({
        decision: 'paced',
        origin,
        method: this.plan.method,
        attempt: this.#retry + 1,
        delayMs: ticket.waitMs,
        ...(refused ? { code: 'throttled' } : {}),
      });
    }
    if (refused) return ticket;
    return ticket.promise.then((seq) => {
      this.#seq = seq;
    });
  }

  #routeKey(): string {
    this.#route ??= routeOf(this.plan.method, this.target.url);
    return this.#route;
  }

  /** Hands what the response says about the origin's rate limits to pacing. */
  #learn(response: Response): void {
    const pacer = this.target.pacer;
    if (pacer === undefined) return;
    const now = Date.now();
    const origin = this.target.origin;
    const seq = this.#seq;
    this.#seq = 0;
    if (response.redirected) {
      // The headers are those of the redirect's target, another server (or another route): they say
      // nothing about the origin called, whose call is only no longer in flight.
      pacer.done(origin, seq);
      return;
    }
    const observations = readHeaders(response, now);
    if (observations === undefined && !pacer.knows(origin)) return;
    pacer.learn(origin, this.#routeKey(), seq, observations, now);
  }

  /** The attempt ended without an answer, or was never sent: pacing no longer counts it in flight. */
  #unpace(): void {
    if (this.#seq === 0) return;
    this.target.pacer?.done(this.target.origin, this.#seq);
    this.#seq = 0;
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
    this.#learn(response);
    if (callerSignal?.aborted) {
      timer?.stop();
      discard(response);
      this.#attemptEnd(false, 'aborted', undefined, callerSignal.reason);
      throw callerSignal.reason;
    }
    const adaptive = this.state?.adaptive;
    const timedOut = timer?.fired;
    if (timedOut !== undefined) {
      // The timer fired as the response arrived: its body is aborted, so it is a timeout after all.
      discard(response);
      adaptive?.record(false);
      if (timedOut.code === 'deadline_exceeded') {
        this.#attemptEnd(false, 'timeout', undefined, timedOut);
        throw timedOut;
      }
      return this.#retryAfter(new Failure('timeout', undefined, timedOut));
    }
    const status = response.status;
    adaptive?.record(status < 500 && status !== 429);
    const verdict = statusVerdict(status);
    if (verdict === 'retry' || (verdict === 'conflict' && this.#conflict)) {
      return this.#retryAfter(new Failure('status', response, undefined));
    }
    this.#attemptEnd(false, 'answered', response, undefined);
    return timer?.cover(response) ?? response;
  }

  /** The attempt failed: the call ends with the error, or retries it. */
  #settleError(error: unknown): Promise<Response> {
    const timer = this.#timer;
    timer?.stop();
    this.#unpace();
    const callerSignal = this.target.callerSignal;
    if (callerSignal?.aborted) {
      this.#attemptEnd(false, 'aborted', undefined, error);
      throw callerSignal.reason;
    }
    if (error instanceof CircuitOpenError) throw error;
    const timedOut = timer?.fired;
    const adaptive = this.state?.adaptive;
    if (timedOut !== undefined) {
      adaptive?.record(false);
      if (timedOut.code === 'deadline_exceeded') {
        this.#attemptEnd(false, 'timeout', undefined, timedOut);
        throw timedOut;
      }
      return this.#retryAfter(new Failure('timeout', undefined, timedOut));
    }
    const network = classifyNetworkError(error);
    if (network === undefined) {
      this.#attemptEnd(false, 'not-retryable', undefined, error);
      throw error;
    }
    adaptive?.record(false);
    return this.#retryAfter(new Failure(network, undefined, error));
  }

  /** Ends the call with `outcome` (its response returned, its error thrown), saying why it is not retried. */
  #stop(outcome: Failure, reason: RetryReason): Response {
    this.#attemptEnd(false, reason, outcome.response, outcome.error);
    const response = outcome.end();
    return this.#timer?.cover(response) ?? response;
  }

  /**
   * After a retryable failure: waits and sends the next attempt, or ends the call with the failure. A
   * response that ends the call here (retries spent, a `Retry-After` over the cap, the deadline or the
   * breaker in the way) keeps its timer running, as in {@link Call.#settle}.
   */
  async #retryAfter(outcome: Failure): Promise<Response> {
    const { settings, plan, target } = this;
    const retry = this.#retry;
    if (retry >= settings.retries) return this.#stop(outcome, 'retries-spent');
    let delayMs: number;
    let fromRetryAfter = false;
    const { response } = outcome;
    if (response !== undefined) {
      if (!plan.replaySafe) return this.#stop(outcome, 'not-replay-safe');
      if (plan.stream) return this.#stop(outcome, 'stream-body');
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
      if (retryAfter === undefined) delayMs = backoffDelay(retry, settings.baseDelayMs, settings.maxDelayMs);
      else if (retryAfter > settings.maxRetryAfterMs) return this.#stop(outcome, 'retry-after-too-long');
      else {
        delayMs = retryAfter;
        fromRetryAfter = true;
      }
    } else {
      if (!plan.replaySafe && outcome.reason !== 'before-connect') return this.#stop(outcome, 'not-replay-safe');
      if (plan.stream) {
        this.#attemptEnd(false, 'stream-body', undefined, outcome.error);
        throw new BodyNotReplayableError(outcome.error);
      }
      delayMs = backoffDelay(retry, settings.baseDelayMs, settings.maxDelayMs);
    }
    const now = Date.now();
    if (now + delayMs >= this.deadlineAt) return this.#stop(outcome, 'deadline');
    const state = this.state;
    if (state !== undefined && state.blockedUntil() > now + delayMs) return this.#stop(outcome, 'breaker-open');
    if (state?.budget !== undefined && !state.budget.tryRetry(now)) {
      if (observed()) publish({ decision: 'budget-refused', origin: target.origin, method: plan.method, attempt: retry + 1 });
      return this.#stop(outcome, 'budget-refused');
    }
    if (state?.adaptive !== undefined && state.adaptive.refuses(now) > 0) {
      if (observed()) publish({ decision: 'shed', origin: target.origin, method: plan.method, attempt: retry + 2, code: 'load_shed' });
      return this.#stop(outcome, 'shed');
    }
    const pacer = target.pacer;
    if (pacer !== undefined && settings.pace && pacer.knows(target.origin)) {
      // Pacing is asked before the retry is announced: a retry whose turn would come too long after its
      // backoff is not made, and the attempt says so ('paced'), rather than announcing a retry never sent.
      const waitMs = pacer.estimate(target.origin, this.#routeKey(), now, now + delayMs);
      if (waitMs > Math.min(settings.paceMaxWaitMs, this.deadlineAt - now - delayMs)) {
        if (observed()) {
          publish({ decision: 'paced', origin: target.origin, method: plan.method, attempt: retry + 2, delayMs: waitMs, code: 'throttled' });
        }
        return this.#stop(outcome, 'paced');
      }
    }

    this.#attemptEnd(true, 'retryable', response, outcome.error, delayMs);
    if (observed()) {
      publish({
        decision: 'retry',
        origin: target.origin,
        method: plan.method,
        attempt: retry + 2,
        delayMs,
        ...(response !== undefined ? { status: response.status } : { code: codeOf(outcome.error, false) }),
      });
    }
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
      // A hook is for observation; its failure (a throw or a rejected promise) does not change the call.
      callHook(settings.onRetry, event);
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
      return this.#keep(outcome, timer);
    }
    if (pacer !== undefined) {
      // The origin's rate limit decides when the retry goes; one that would wait too long is not made
      // (it was estimated before the backoff; what the origin said meanwhile can still refuse it here).
      const gate = this.#pace(pacer);
      if (gate instanceof PaceRefusal) return this.#keep(outcome, timer);
      if (gate !== undefined) {
        try {
          await gate;
        } catch (error) {
          if (error instanceof PaceRefusal) return this.#keep(outcome, timer);
          if (response !== undefined) discard(response);
          throw error;
        }
      }
    }
    if (response !== undefined) discard(response);
    return this.#dispatch();
  }

  /** Ends the call after a wait with the answer it already had; a response keeps the deadline for its body. */
  #keep(outcome: Failure, timer: AttemptTimer | undefined): Response {
    if (outcome.response !== undefined && timer !== undefined && this.deadlineAt !== Number.POSITIVE_INFINITY) {
      timer.rearm(this.deadlineAt - Date.now(), 'deadline_exceeded', this.settings.deadlineMs);
    }
    const response = outcome.end();
    return timer?.cover(response) ?? response;
  }
}

async function isIdempotencyConflict(response: Response): Promise<boolean> {
  const text = await response.clone().text();
  return parseErrorBody(text)?.code === 'idempotency_conflict';
}

function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}
