/**
 * One opossum circuit breaker (and one retry budget) per origin, kept in a bounded pool. When the pool
 * is full, the least recently used closed breaker is evicted; open and half-open breakers are evicted
 * only when no closed one is left, the one that opened first going first. An evicted breaker is shut
 * down. The breakers of one pool share a single unref'd timer that rotates their rolling statistics,
 * and that timer stops by itself once the pool is garbage.
 */
import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import { AdaptiveThrottle, type AdaptiveThrottleOptions } from './adaptive.js';
import { callHook, observed, publish } from './hooks.js';
import { RetryBudget, type RetryBudgetOptions } from './budget.js';
import { CircuitOpenError } from './errors.js';
import { isBreakerFailureStatus } from './retry.js';

/**
 * Options of each origin's circuit breaker: the opossum options of the same names.
 * Timeouts are the wrapper's own (`timeoutMs`, `deadlineMs`) and count as failures.
 */
export interface BreakerOptions {
  /**
   * Percentage of failed calls in the rolling window above which the breaker opens.
   * @default 50
   * @example { errorThresholdPercentage: 25 }
   */
  errorThresholdPercentage?: number;
  /**
   * Milliseconds an open breaker waits before letting one probe request through (half-open).
   * @default 30000
   * @example { resetTimeout: 5_000 }
   */
  resetTimeout?: number;
  /**
   * Calls needed in the rolling window before the breaker may open at all.
   * @default 10
   * @example { volumeThreshold: 20 }
   */
  volumeThreshold?: number;
  /**
   * Length of the rolling statistics window in milliseconds.
   * @default 10000
   * @example { rollingCountTimeout: 30_000 }
   */
  rollingCountTimeout?: number;
  /**
   * Number of slots the rolling window is divided into.
   * @default 10
   * @example { rollingCountBuckets: 30 }
   */
  rollingCountBuckets?: number;
}

/** States a breaker moves between, with opossum's event names. */
export type BreakerState = 'open' | 'halfOpen' | 'close';

/** Passed to `onBreakerStateChange`. */
export interface BreakerStateEvent {
  /** The origin of the breaker, for example `https://api.example.com`. */
  origin: string;
  /** The state it entered. */
  state: BreakerState;
  /** When an open breaker lets a probe through (for `open` only). */
  retryAt?: Date;
}

/** One attempt of a call, as the breaker runs it. */
export interface Attempt {
  /** Sends the request; resolves to its response. */
  run(): Promise<Response>;
  /** Whether a thrown error is the upstream's failure (timeout, network) rather than the caller's abort or a bad argument. */
  countsAsFailure(error: unknown): boolean;
  /** Set by the breaker: this attempt is the single probe of a half-open breaker. */
  probe: boolean;
}

/** A 5xx response, thrown inside the breaker so that opossum counts it, then unwrapped. */
class FailedResponse {
  constructor(readonly response: Response) {}
}

const failOn5xx = (response: Response): Response => {
  if (isBreakerFailureStatus(response.status)) throw new FailedResponse(response);
  return response;
};
const action = (attempt: Attempt): Promise<Response> => attempt.run().then(failOn5xx);

// A caller's abort or a bad argument is not the upstream's fault, unless it ends the half-open probe:
// then the breaker reopens rather than closing on a result that says nothing.
const errorFilter = (error: unknown, attempt: Attempt): boolean =>
  !(error instanceof FailedResponse || attempt.probe || attempt.countsAsFailure(error));

/** The state kept for one origin. */
export class OriginState {
  readonly origin: string;
  readonly breaker: CircuitBreaker<[Attempt], Response> | undefined;
  readonly budget: RetryBudget | undefined;
  /** Adaptive throttling of this origin, when enabled. */
  readonly adaptive: AdaptiveThrottle | undefined;
  readonly #errorThresholdPercentage: number;
  #retryAt = 0;

  constructor(
    origin: string,
    breaker: CircuitBreaker<[Attempt], Response> | undefined,
    budget: RetryBudget | undefined,
    errorThresholdPercentage: number,
    adaptive?: AdaptiveThrottle,
  ) {
    this.origin = origin;
    this.breaker = breaker;
    this.budget = budget;
    this.adaptive = adaptive;
    this.#errorThresholdPercentage = errorThresholdPercentage;
  }

  /** Records when an opened breaker lets a probe through. */
  opened(retryAt: number): void {
    this.#retryAt = retryAt;
  }

  /**
   * When a request could next go through: 0 when the breaker is closed or ready to probe, else the
   * time in ms since the epoch.
   */
  blockedUntil(): number {
    const breaker = this.breaker;
    if (breaker === undefined || breaker.closed || breaker.pendingClose) return 0;
    // Half-open with its probe in flight: the answer is due any moment.
    return breaker.halfOpen ? Date.now() : this.#retryAt;
  }

  /** Whether the breaker lets the next attempt through: no breaker, closed, or half-open awaiting its probe. */
  admits(): boolean {
    const breaker = this.breaker;
    return breaker === undefined || breaker.closed || breaker.pendingClose;
  }

  /**
   * Runs one attempt through the breaker. Resolves to the response (5xx included); rejects with the
   * attempt's error, or with a {@link CircuitOpenError} without running the attempt.
   */
  send(attempt: Attempt): Promise<Response> {
    const breaker = this.breaker;
    if (breaker === undefined) return attempt.run();
    const startedAt = this.begin(attempt);
    if (startedAt !== undefined) {
      return attempt.run().then(
        (response) => {
          this.succeeded(startedAt, response, attempt);
          return response;
        },
        (error: unknown) => {
          this.failed(startedAt, error, attempt);
          throw error;
        },
      );
    }
    attempt.probe = breaker.halfOpen && breaker.pendingClose;
    return breaker.fire(attempt).catch((error: unknown) => this.#unwrap(error, attempt));
  }

  /**
   * The success path of a closed breaker, without the promises and closures of `breaker.fire()`. When
   * the breaker is closed, counts the attempt as fired, exactly as `fire()` does, and returns when it
   * started: the caller then sends the attempt itself and reports how it ended with
   * {@link OriginState.succeeded} or {@link OriginState.failed}. Returns undefined when there is no
   * breaker or it is not closed: the attempt must then go through {@link OriginState.send}, so that
   * opossum fails it fast or lets it through as the single half-open probe.
   *
   * The counting goes through the breaker's own events (`fire`, then `success` or `failure`), which
   * feed its rolling statistics and close a half-open breaker on success, as they do under `fire()`.
   */
  begin(attempt: Attempt): number | undefined {
    const breaker = this.breaker;
    if (breaker === undefined || !breaker.closed) return undefined;
    attempt.probe = false;
    breaker.emit('fire', [attempt]);
    return Date.now();
  }

  /** Ends an attempt started with {@link OriginState.begin} with its response: a 5xx counts as a failure. */
  succeeded(startedAt: number, response: Response, attempt: Attempt): void {
    const breaker = this.breaker as CircuitBreaker<[Attempt], Response>;
    if (isBreakerFailureStatus(response.status)) this.#fail(breaker, new FailedResponse(response), startedAt, attempt);
    else breaker.emit('success', response, Date.now() - startedAt);
  }

  /**
   * Ends an attempt started with {@link OriginState.begin} with its error: timeouts and network errors
   * count as failures, the caller's abort or a bad argument does not.
   */
  failed(startedAt: number, error: unknown, attempt: Attempt): void {
    const breaker = this.breaker as CircuitBreaker<[Attempt], Response>;
    if (errorFilter(error, attempt)) breaker.emit('success', error, Date.now() - startedAt);
    else this.#fail(breaker, error, startedAt, attempt);
  }

  /**
   * Counts a failure as `fire()` does, and opens the breaker by opossum's rule: once the window holds
   * `volumeThreshold` calls, an error rate above `errorThresholdPercentage` opens it (a half-open
   * breaker reopens on any failure).
   */
  #fail(breaker: CircuitBreaker<[Attempt], Response>, error: unknown, startedAt: number, attempt: Attempt): void {
    breaker.emit('failure', error, Date.now() - startedAt, [attempt]);
    if (breaker.warmUp) return;
    const { fires, failures } = breaker.stats;
    if (fires < breaker.volumeThreshold && !breaker.halfOpen) return;
    if ((failures / fires) * 100 > this.#errorThresholdPercentage || breaker.halfOpen) breaker.open();
  }

  /** Turns what the breaker rejected with back into the attempt's outcome. */
  #unwrap(error: unknown, attempt: Attempt): Promise<Response> | Response {
    if (error instanceof FailedResponse) return error.response;
    if (error instanceof Error && CircuitBreaker.isOurError(error)) {
      const code = (error as { code?: unknown }).code;
      if (code === 'EOPENBREAKER') {
        throw new CircuitOpenError(this.origin, new Date(Math.max(this.blockedUntil(), Date.now())));
      }
      // Shut down (evicted) while this call held it: the request goes out unguarded rather than failing.
      if (code === 'ESHUTDOWN') return attempt.run();
    }
    throw error;
  }
}

/** Options of an {@link OriginPool}, validated and with defaults applied. */
export interface OriginPoolOptions {
  max: number;
  breaker: Required<BreakerOptions> | false;
  budget: Required<RetryBudgetOptions> | false;
  /** Adaptive throttling per origin. @default false */
  adaptive?: Required<AdaptiveThrottleOptions> | false;
  onStateChange: ((event: BreakerStateEvent) => void) | undefined;
}

/**
 * The per-origin state of one fetch wrapper (or of several, through a shared registry), bounded by
 * `max` origins. When a new origin needs room, the least recently used origin whose breaker is closed
 * (or that has no breaker) is dropped. Open and half-open breakers are what protect a failing origin,
 * so they go only when every breaker of the pool is open or half-open: then the one that opened first
 * is dropped (with one `resetTimeout` for all, it is the one closest to letting a probe through anyway),
 * and its origin starts again with a closed breaker. The bound always holds.
 *
 * @example
 * ```ts
 * const pool = new OriginPool({ max: 1000, breaker: { ...defaults }, budget: false, onStateChange: undefined });
 * const response = await pool.get('https://api.example.com').send(attempt);
 * ```
 */
export class OriginPool {
  readonly #options: OriginPoolOptions;
  /** Origins with a closed breaker (or none), least recently used first. */
  readonly #closed = new Map<string, OriginState>();
  /** Origins with an open or half-open breaker, in the order they opened. */
  readonly #tripped = new Map<string, OriginState>();
  readonly #rotation = new EventEmitter();
  #timer: NodeJS.Timeout | undefined;
  #last: OriginState | undefined;

  constructor(options: OriginPoolOptions) {
    this.#options = options;
    this.#rotation.setMaxListeners(0);
  }

  /** Number of origins held. */
  get size(): number {
    return this.#closed.size + this.#tripped.size;
  }

  /** The state of an origin, created on first use (which may evict another origin, see the class). */
  get(origin: string): OriginState {
    // The origin asked for last is already the most recently used: no need to touch the maps again.
    const last = this.#last;
    if (last !== undefined && last.origin === origin) return last;
    let state = this.#closed.get(origin);
    if (state !== undefined) {
      this.#closed.delete(origin);
      this.#closed.set(origin, state);
    } else {
      state = this.#tripped.get(origin);
      if (state === undefined) {
        if (this.size >= this.#options.max) this.#evict();
        state = this.#create(origin);
        this.#closed.set(origin, state);
      }
    }
    this.#last = state;
    return state;
  }

  /** Shuts down every breaker and forgets every origin. */
  clear(): void {
    this.#last = undefined;
    const states = [...this.#closed.values(), ...this.#tripped.values()];
    this.#closed.clear();
    this.#tripped.clear();
    for (const state of states) state.breaker?.shutdown();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #evict(): void {
    const from = this.#closed.size > 0 ? this.#closed : this.#tripped;
    const oldest = from.keys().next();
    if (oldest.done) return;
    const state = from.get(oldest.value) as OriginState;
    from.delete(oldest.value);
    if (this.#last === state) this.#last = undefined;
    state.breaker?.shutdown();
  }

  /** A breaker opened (or reopened): its origin moves to the open ones, last in line for eviction. */
  #opened(state: OriginState): void {
    const { origin } = state;
    if (this.#closed.get(origin) === state) this.#closed.delete(origin);
    else if (this.#tripped.get(origin) === state) this.#tripped.delete(origin);
    else return; // Evicted meanwhile.
    this.#tripped.set(origin, state);
  }

  /** A breaker closed: its origin is a closed one again, the most recently used. */
  #closedAgain(state: OriginState): void {
    const { origin } = state;
    if (this.#tripped.get(origin) !== state) return;
    this.#tripped.delete(origin);
    this.#closed.set(origin, state);
  }

  #create(origin: string): OriginState {
    const budget = this.#options.budget === false ? undefined : new RetryBudget(this.#options.budget);
    const adaptiveOptions = this.#options.adaptive;
    const adaptive = adaptiveOptions ? new AdaptiveThrottle(adaptiveOptions) : undefined;
    const settings = this.#options.breaker;
    if (settings === false) return new OriginState(origin, undefined, budget, 100, adaptive);
    this.#startRotation(settings);
    const breaker = new CircuitBreaker<[Attempt], Response>(action, {
      ...settings,
      name: origin,
      timeout: false,
      // opossum calls errorFilter(error, ...fireArgs); @types/opossum declares only the error.
      errorFilter: errorFilter as (error: unknown) => boolean,
      enableSnapshots: false,
      rollingPercentilesEnabled: false,
      rotateBucketController: this.#rotation,
    });
    const state = new OriginState(origin, breaker, budget, settings.errorThresholdPercentage, adaptive);
    const notify = this.#options.onStateChange;
    breaker.on('open', () => {
      const retryAt = Date.now() + settings.resetTimeout;
      state.opened(retryAt);
      this.#opened(state);
      if (observed()) publish({ decision: 'breaker-open', origin, delayMs: settings.resetTimeout });
      if (notify) callHook(notify, { origin, state: 'open', retryAt: new Date(retryAt) });
    });
    breaker.on('close', () => {
      this.#closedAgain(state);
      if (observed()) publish({ decision: 'breaker-close', origin });
      if (notify) callHook(notify, { origin, state: 'close' });
    });
    breaker.on('halfOpen', () => {
      if (observed()) publish({ decision: 'breaker-half-open', origin });
      if (notify) callHook(notify, { origin, state: 'halfOpen' });
    });
    return state;
  }

  /**
   * One unref'd interval per pool rotates the statistics of all its breakers. It holds the pool's
   * emitter weakly, so a wrapper that is dropped stops its timer instead of being kept alive by it.
   */
  #startRotation(settings: Required<BreakerOptions>): void {
    if (this.#timer !== undefined) return;
    const emitter = new WeakRef(this.#rotation);
    const timer = setInterval(
      () => {
        const target = emitter.deref();
        if (target === undefined) clearInterval(timer);
        else target.emit('rotate');
      },
      Math.max(1, Math.floor(settings.rollingCountTimeout / settings.rollingCountBuckets)),
    );
    timer.unref();
    this.#timer = timer;
  }
}
