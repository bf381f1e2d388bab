/**
 * One opossum circuit breaker (and one retry budget) per origin, kept in a bounded LRU cache. An
 * evicted breaker is shut down. The breakers of one pool share a single unref'd timer that rotates
 * their rolling statistics, and that timer stops by itself once the pool is garbage.
 */
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import CircuitBreaker from 'opossum';
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
  #retryAt = 0;

  constructor(origin: string, breaker: CircuitBreaker<[Attempt], Response> | undefined, budget: RetryBudget | undefined) {
    this.origin = origin;
    this.breaker = breaker;
    this.budget = budget;
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

  /**
   * Runs one attempt through the breaker. Resolves to the response (5xx included); rejects with the
   * attempt's error, or with a {@link CircuitOpenError} without running the attempt.
   */
  send(attempt: Attempt): Promise<Response> {
    const breaker = this.breaker;
    if (breaker === undefined) return attempt.run();
    attempt.probe = breaker.halfOpen && breaker.pendingClose;
    return breaker.fire(attempt).catch((error: unknown) => this.#unwrap(error, attempt));
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
  onStateChange: ((event: BreakerStateEvent) => void) | undefined;
}

/**
 * The per-origin state of one fetch wrapper, bounded by `max` origins.
 *
 * @example
 * ```ts
 * const pool = new OriginPool({ max: 1000, breaker: { ...defaults }, budget: false, onStateChange: undefined });
 * const response = await pool.get('https://api.example.com').send(attempt);
 * ```
 */
export class OriginPool {
  readonly #options: OriginPoolOptions;
  readonly #cache: LRUCache<string, OriginState>;
  readonly #rotation = new EventEmitter();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: OriginPoolOptions) {
    this.#options = options;
    this.#rotation.setMaxListeners(0);
    this.#cache = new LRUCache<string, OriginState>({
      max: options.max,
      dispose: (state) => state.breaker?.shutdown(),
    });
  }

  /** Number of origins held. */
  get size(): number {
    return this.#cache.size;
  }

  /** The state of an origin, created on first use (which may evict the least recently used origin). */
  get(origin: string): OriginState {
    const found = this.#cache.get(origin);
    if (found !== undefined) return found;
    const state = this.#create(origin);
    this.#cache.set(origin, state);
    return state;
  }

  /** Shuts down every breaker and forgets every origin. */
  clear(): void {
    this.#cache.clear();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #create(origin: string): OriginState {
    const budget = this.#options.budget === false ? undefined : new RetryBudget(this.#options.budget);
    const settings = this.#options.breaker;
    if (settings === false) return new OriginState(origin, undefined, budget);
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
    const state = new OriginState(origin, breaker, budget);
    const notify = this.#options.onStateChange;
    breaker.on('open', () => {
      const retryAt = Date.now() + settings.resetTimeout;
      state.opened(retryAt);
      if (notify) safely(notify, { origin, state: 'open', retryAt: new Date(retryAt) });
    });
    if (notify) {
      breaker.on('halfOpen', () => safely(notify, { origin, state: 'halfOpen' }));
      breaker.on('close', () => safely(notify, { origin, state: 'close' }));
    }
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

function safely<T>(hook: (event: T) => void, event: T): void {
  try {
    hook(event);
  } catch {
    // A hook is for observation: its failure must not break the breaker's timers or the request.
  }
}
