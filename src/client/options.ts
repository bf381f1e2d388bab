/**
 * The options of `createFetch`: their types and TSDoc, their defaults, and the validation that throws a
 * `TypeError` naming a bad option when the wrapper is created.
 */
import type { BreakerOptions, BreakerStateEvent } from './breakers.js';
import type { RetryBudgetOptions } from './budget.js';
import type { AdaptiveThrottleOptions } from './adaptive.js';
import type { BreakerRegistry } from './create-breakers.js';
import type { AttemptEndEvent, AttemptStartEvent, CallEndEvent } from './hooks.js';
import type { PaceOptions } from './pace.js';

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
   * Time limit of each attempt: until its response headers (and, for a 409, its error body) arrive, and for
   * the attempt whose response ends the call, until its body has been read (`text()`, `json()`,
   * `arrayBuffer()`, `blob()`, `formData()` or the `body` stream then reject with `attempt_timeout`).
   * Each attempt has its own signal, so one slow attempt never aborts another call. An attempt that timed
   * out before its headers counts as a breaker failure and is retried like a network error.
   *
   * Off by default, as with `fetch` itself (Node's fetch gives up on its own after 300 s without
   * response headers): a wrapper dropped into existing code does not start aborting, and retrying,
   * calls that were merely slow. Set it for every upstream whose normal latency you know; with
   * breakers, it is what lets a hung upstream open its circuit. A timed attempt costs the AbortSignal
   * that fetch needs to abort it (see the client benchmark).
   * @default Infinity (no per-attempt limit)
   * @example { timeoutMs: 5_000 }
   */
  timeoutMs?: number;
  /**
   * Time limit of the whole call, attempts, backoff waits and the reading of the returned response's body
   * included (reading it past the deadline rejects with `deadline_exceeded`). A retry whose wait would end
   * past the deadline is not made. `Infinity` disables it.
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
   * Client-side adaptive throttling per origin (the Google SRE book's formula): over a sliding window,
   * an attempt is refused locally with probability `max(0, (requests - k * accepts) / (requests + 1))`,
   * `requests` counting the attempts asked for (local refusals included) and `accepts` those the origin
   * answered other than with 429, 5xx, a timeout or a network error. A refused first attempt rejects with a
   * {@link LoadShedError} (`load_shed`) and never reaches the network; a refused retry ends the call with the
   * answer it has. Kept beside the breaker and the retry budget (in the shared registry when `breakers`
   * is given), so bounded by `maxBreakers`.
   *
   * Off by default: the breaker (on by default) already fails fast on an origin that fails half its calls;
   * adaptive throttling is the gentler tool for an origin that is overloaded rather than down (it keeps
   * sending about `k` times what the origin accepts, so recovery is seen at once). Turn it on, with or
   * instead of the breaker, for upstreams that shed load with 429 or 503.
   * @default false
   * @example { adaptiveThrottle: { k: 2 } }
   */
  adaptiveThrottle?: AdaptiveThrottleOptions | boolean;
  /**
   * Pacing: the wrapper reads the origin's rate-limit headers (`RateLimit`/`RateLimit-Policy` draft-10/-11
   * as bulwark sends them, draft-7, `X-RateLimit-*`) and `Retry-After` on a 429 or 503, and holds back
   * the calls that the origin has said it would refuse until their turn, instead of sending them to
   * collect a 429. A call whose turn would come after its deadline or `maxWaitMs` fails at once with
   * `ApiError` `throttled` (with `Retry-After`). State is kept per origin and per policy name, for at
   * most `maxOrigins` origins. `false` turns it off; `init.bulwark.pace` overrides it per call.
   *
   * On by default: it acts only on what the origin itself announced, holds a call only while the
   * origin's own numbers say it would be refused, and a held call is sent no later than a retry of its
   * 429 would have been; an origin that sends no rate-limit header costs one header lookup per response.
   * @default { maxWaitMs: 60000, maxOrigins: 1000 }
   * @example { pace: { maxWaitMs: 5_000 } }
   */
  pace?: PaceOptions | boolean;
  /**
   * Circuit breaker per origin (opossum): 5xx, timeouts and network errors count as failures; 4xx, 429 and
   * the caller's aborts do not. While open, calls fail at once with a {@link CircuitOpenError}
   * (`circuit_open`). `false` disables breakers.
   * @default { errorThresholdPercentage: 50, resetTimeout: 30000, volumeThreshold: 10, rollingCountTimeout: 10000, rollingCountBuckets: 10 }
   * @example { breaker: { resetTimeout: 5_000, volumeThreshold: 20 } }
   */
  breaker?: BreakerOptions | false;
  /**
   * Most origins whose breaker and budget are kept. When full, the least recently used origin whose breaker
   * is closed is dropped (its breaker shut down); open and half-open breakers are dropped only when every
   * breaker is open or half-open, the one that opened first going first.
   * @default 1000
   * @example { maxBreakers: 100 }
   */
  maxBreakers?: number;
  /**
   * A registry of breakers and retry budgets made by `createBreakers()`, shared with other wrappers: an
   * origin one of them found down fails fast for all. With it, `breaker`, `maxBreakers`, `retryBudget` and
   * `onBreakerStateChange` are options of the registry, and giving one here is a `TypeError`.
   * @default undefined (the wrapper keeps its own breakers and budgets)
   * @example
   * ```ts
   * const breakers = createBreakers({ maxBreakers: 200 });
   * const a = createFetch({ breakers, retries: 2 });
   * const b = createFetch({ breakers, timeoutMs: 1_000 });
   * ```
   */
  breakers?: BreakerRegistry;
  /**
   * Called before each retry. A hook that throws is ignored.
   * @default undefined
   * @example { onRetry: (e) => log.warn({ retry: e.retry, status: e.status, delayMs: e.delayMs }, 'retrying') }
   */
  onRetry?: (event: RetryEvent) => void;
  /**
   * Called when an attempt is sent (not for a call refused before reaching the network). A hook that
   * throws is ignored.
   * @default undefined
   * @example { onAttempt: (e) => log.debug({ origin: e.origin, attempt: e.attempt }, 'sending') }
   */
  onAttempt?: (event: AttemptStartEvent) => void;
  /**
   * Called when an attempt answered or failed, with its status or error code, its duration, and whether
   * (and why, or why not) it is retried. A hook that throws is ignored.
   * @default undefined
   * @example { onAttemptEnd: (e) => metrics.histogram('upstream.ms', e.durationMs, { status: e.status ?? e.code }) }
   */
  onAttemptEnd?: (event: AttemptEndEvent) => void;
  /**
   * Called when a call resolves or rejects, with the outcome, the attempts sent and the total time (to the
   * response headers). A hook that throws is ignored.
   * @default undefined
   * @example { onCallEnd: (e) => log.info({ origin: e.origin, attempts: e.attempts, ms: e.durationMs }, e.outcome) }
   */
  onCallEnd?: (event: CallEndEvent) => void;
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

export const MAX_TIMER_MS = 2_147_483_647;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const OPTION_NAMES = new Set([
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
  'breakers',
  'onRetry',
  'onBreakerStateChange',
  'idempotencyHeader',
  'adaptiveThrottle',
  'pace',
  'onAttempt',
  'onAttemptEnd',
  'onCallEnd',
]);

export interface Settings {
  fetch: FetchLike | undefined;
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
  timeoutMs: number;
  deadlineMs: number;
  onRetry: ((event: RetryEvent) => void) | undefined;
  keyHeader: string | false;
  /** Whether calls are paced (the wrapper has a pacer and the call did not turn it off). */
  pace: boolean;
  /** Longest wait for a paced call's turn. */
  paceMaxWaitMs: number;
  onAttempt: ((event: AttemptStartEvent) => void) | undefined;
  onAttemptEnd: ((event: AttemptEndEvent) => void) | undefined;
  onCallEnd: ((event: CallEndEvent) => void) | undefined;
}

/** Throws a `TypeError` naming the option (`label` names where it sits) unless `ok`. */
export function need(ok: boolean, name: string, what: string, label = 'createFetch: options.'): asserts ok {
  if (!ok) throw new TypeError(`${label}${name} must be ${what}`);
}

export function duration(
  value: unknown,
  name: string,
  fallback: number,
  allowInfinity: boolean,
  label = 'createFetch: options.',
): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    value >= 0 &&
    ((Number.isFinite(value) && value <= MAX_TIMER_MS) || (allowInfinity && value === Number.POSITIVE_INFINITY));
  need(ok, name, `a number of milliseconds from 0 to ${MAX_TIMER_MS}${allowInfinity ? ', or Infinity' : ''}`, label);
  return value as number;
}

export function validate(options: CreateFetchOptions): Settings {
  need(options.fetch === undefined || typeof options.fetch === 'function', 'fetch', 'a function');
  const retries = options.retries ?? 3;
  need(Number.isSafeInteger(retries) && retries >= 0, 'retries', 'a non-negative integer');
  const baseDelayMs = duration(options.baseDelayMs, 'baseDelayMs', 100, false);
  const maxDelayMs = duration(options.maxDelayMs, 'maxDelayMs', 10_000, false);
  need(maxDelayMs >= baseDelayMs, 'maxDelayMs', 'at least options.baseDelayMs');
  const maxRetryAfterMs = duration(options.maxRetryAfterMs, 'maxRetryAfterMs', 60_000, false);
  const timeoutMs = duration(options.timeoutMs, 'timeoutMs', Number.POSITIVE_INFINITY, true);
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
  for (const name of ['onAttempt', 'onAttemptEnd', 'onCallEnd'] as const) {
    need(options[name] === undefined || typeof options[name] === 'function', name, 'a function');
  }
  const pace = validatePace(options.pace);
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
    pace: pace !== false,
    paceMaxWaitMs: pace === false ? 0 : pace.maxWaitMs,
    onAttempt: options.onAttempt,
    onAttemptEnd: options.onAttemptEnd,
    onCallEnd: options.onCallEnd,
  };
}

const PACE_DEFAULTS: Required<PaceOptions> = { maxWaitMs: 60_000, maxOrigins: 1000 };

/** Validates `pace`: `false`, or the options with their defaults. */
export function validatePace(value: PaceOptions | boolean | undefined, label = 'createFetch: options.'): Required<PaceOptions> | false {
  if (value === false) return false;
  if (value === undefined || value === true) return PACE_DEFAULTS;
  need(typeof value === 'object' && value !== null && !Array.isArray(value), 'pace', 'true, false or an object of pacing options', label);
  for (const key of Object.keys(value)) {
    need(Object.hasOwn(PACE_DEFAULTS, key), `pace.${key}`, 'one of maxWaitMs, maxOrigins (it is unknown)', label);
  }
  const merged = { ...PACE_DEFAULTS, ...stripUndefined(value) };
  duration(merged.maxWaitMs, 'pace.maxWaitMs', 0, false, label);
  need(Number.isSafeInteger(merged.maxOrigins) && merged.maxOrigins > 0, 'pace.maxOrigins', 'a positive integer', label);
  return merged;
}

const ADAPTIVE_DEFAULTS: Required<AdaptiveThrottleOptions> = { k: 2, windowMs: 120_000, random: Math.random };

/** Validates `adaptiveThrottle`: `false` (the default), or the options with their defaults. */
export function validateAdaptive(
  value: AdaptiveThrottleOptions | boolean | undefined,
  label = 'createFetch: options.',
): Required<AdaptiveThrottleOptions> | false {
  if (value === false || value === undefined) return false;
  if (value === true) return ADAPTIVE_DEFAULTS;
  need(
    typeof value === 'object' && value !== null && !Array.isArray(value),
    'adaptiveThrottle',
    'true, false or an object of adaptive throttling options',
    label,
  );
  for (const key of Object.keys(value)) {
    need(Object.hasOwn(ADAPTIVE_DEFAULTS, key), `adaptiveThrottle.${key}`, 'one of k, windowMs, random (it is unknown)', label);
  }
  const merged = { ...ADAPTIVE_DEFAULTS, ...stripUndefined(value) };
  need(typeof merged.k === 'number' && Number.isFinite(merged.k) && merged.k >= 1, 'adaptiveThrottle.k', 'a number of at least 1', label);
  duration(merged.windowMs, 'adaptiveThrottle.windowMs', 0, false, label);
  need(merged.windowMs >= 10, 'adaptiveThrottle.windowMs', 'at least 10', label);
  need(typeof merged.random === 'function', 'adaptiveThrottle.random', 'a function returning a number in [0, 1)', label);
  return merged;
}

const BREAKER_DEFAULTS: Required<BreakerOptions> = {
  errorThresholdPercentage: 50,
  resetTimeout: 30_000,
  volumeThreshold: 10,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10,
};

export function validateBreaker(
  value: BreakerOptions | false | undefined,
  label = 'createFetch: options.',
): Required<BreakerOptions> | false {
  if (value === false) return false;
  if (value === undefined) return BREAKER_DEFAULTS;
  need(typeof value === 'object' && value !== null, 'breaker', 'an object of breaker options or false', label);
  for (const key of Object.keys(value)) {
    if (key === 'timeout') {
      throw new TypeError(`${label}breaker.timeout is not supported; use options.timeoutMs of createFetch`);
    }
    need(Object.hasOwn(BREAKER_DEFAULTS, key), `breaker.${key}`, 'one of the supported breaker options (it is unknown)', label);
  }
  const merged = { ...BREAKER_DEFAULTS, ...stripUndefined(value) };
  const pct = merged.errorThresholdPercentage;
  need(typeof pct === 'number' && pct > 0 && pct <= 100, 'breaker.errorThresholdPercentage', 'a number above 0 and up to 100', label);
  duration(merged.resetTimeout, 'breaker.resetTimeout', 0, false, label);
  need(merged.resetTimeout > 0, 'breaker.resetTimeout', 'greater than 0', label);
  need(
    Number.isSafeInteger(merged.volumeThreshold) && merged.volumeThreshold >= 0,
    'breaker.volumeThreshold',
    'a non-negative integer',
    label,
  );
  duration(merged.rollingCountTimeout, 'breaker.rollingCountTimeout', 0, false, label);
  need(
    Number.isSafeInteger(merged.rollingCountBuckets) && merged.rollingCountBuckets > 0,
    'breaker.rollingCountBuckets',
    'a positive integer',
    label,
  );
  need(
    merged.rollingCountTimeout >= merged.rollingCountBuckets,
    'breaker.rollingCountTimeout',
    'at least options.breaker.rollingCountBuckets milliseconds',
    label,
  );
  return merged;
}

const BUDGET_DEFAULTS: Required<RetryBudgetOptions> = { ratio: 0.1, minPerSecond: 1, windowMs: 10_000 };

export function validateBudget(
  value: RetryBudgetOptions | false | undefined,
  label = 'createFetch: options.',
): Required<RetryBudgetOptions> | false {
  if (value === false) return false;
  if (value === undefined) return BUDGET_DEFAULTS;
  need(typeof value === 'object' && value !== null, 'retryBudget', 'an object of budget options or false', label);
  for (const key of Object.keys(value)) {
    need(Object.hasOwn(BUDGET_DEFAULTS, key), `retryBudget.${key}`, 'one of ratio, minPerSecond, windowMs (it is unknown)', label);
  }
  const merged = { ...BUDGET_DEFAULTS, ...stripUndefined(value) };
  need(typeof merged.ratio === 'number' && merged.ratio >= 0 && Number.isFinite(merged.ratio), 'retryBudget.ratio', 'a non-negative number', label);
  need(
    typeof merged.minPerSecond === 'number' && merged.minPerSecond >= 0 && Number.isFinite(merged.minPerSecond),
    'retryBudget.minPerSecond',
    'a non-negative number',
    label,
  );
  duration(merged.windowMs, 'retryBudget.windowMs', 0, false, label);
  need(merged.windowMs >= 10, 'retryBudget.windowMs', 'at least 10', label);
  return merged;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}
