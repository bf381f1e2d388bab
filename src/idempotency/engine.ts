import { randomBytes } from 'node:crypto';
import type { CapturedResponse, HeaderPairs, ResponseSink } from '../guard/types.js';
import { withTimeout } from '../stores/store-error.js';
import { storedHeaders } from './replay.js';
import type { ClaimResult, CompletedResponse, IdempotencyStore, StoreAnswer } from './store.js';

/** Settings of one {@link IdempotencyEngine} (validated by `createIdempotency`). */
export interface EngineSettings {
  store: IdempotencyStore;
  ttlMs: number;
  leaseMs: number;
  waitMs: number;
  maxResponseBytes: number;
  shouldStore: (status: number) => boolean;
  storeTimeoutMs: number;
}

type InFlight = Extract<ClaimResult, { type: 'in_flight' }>;

/** The outcome of {@link IdempotencyEngine.begin}. */
export type BeginResult =
  | { type: 'run'; sink: ResponseSink }
  | Exclude<ClaimResult, { type: 'claimed' }>;

/**
 * Claim, lease, complete and release around one store: what every adapter shares. A claim holds an
 * owner token and a short lease, renewed while the application runs; the record (kept `ttlMs`) is
 * written before the response is sent.
 *
 * Per request this costs one store call to claim and one to complete (or release), and no timer: the
 * leases of all live claims are renewed by one shared timer, which runs only while claims are live, and
 * a store that answers synchronously (the memory store) needs no timeout timer either.
 */
export class IdempotencyEngine {
  /** Owner tokens: a random prefix per engine (unique across processes) and a counter. */
  readonly #tokenPrefix = `${randomBytes(12).toString('base64url')}.`;
  #tokens = 0;
  /** Claims whose lease is being renewed (the application still runs). */
  readonly #live = new Set<Claim>();
  #renewal: ReturnType<typeof setInterval> | undefined;
  /** Renewal ticks so far: a claim is renewed on the second tick after it was claimed or last renewed. */
  #tick = 0;

  constructor(readonly settings: EngineSettings) {}

  /**
   * Claims `key` for this request. With `waitMs`, a key held by another request is polled until it
   * completes (then its result is returned for replay), is released (then this request runs), or the
   * wait ends. Fails (throws, or rejects) with `StoreUnavailableError` when the store does not answer
   * in time. Answers synchronously when the store does and there is nothing to wait for.
   */
  begin(key: string, fingerprint: string): BeginResult | Promise<BeginResult> {
    const started = this.settings.waitMs > 0 ? Date.now() : 0;
    const token = this.#newToken();
    const answer = this.settings.store.claim(key, fingerprint, token, this.settings.leaseMs, this.settings.ttlMs);
    if (isThenable(answer)) {
      return this.call(answer, 'idempotency claim').then((result) => this.#claimed(key, fingerprint, token, result, started));
    }
    return this.#claimed(key, fingerprint, token, answer, started);
  }

  #newToken(): string {
    return this.#tokenPrefix + (++this.#tokens).toString(36);
  }

  #claimed(key: string, fingerprint: string, token: string, result: ClaimResult, started: number): BeginResult | Promise<BeginResult> {
    if (result.type === 'claimed') return { type: 'run', sink: this.#hold(key, token) };
    if (result.type === 'completed' || result.fingerprint !== fingerprint || this.settings.waitMs === 0) return result;
    return this.#wait(key, fingerprint, result, started + this.settings.waitMs);
  }

  /** Polls a key held by another request until it completes, is released, or `deadline` passes. */
  async #wait(key: string, fingerprint: string, held: InFlight, deadline: number): Promise<BeginResult> {
    const { store, leaseMs, ttlMs } = this.settings;
    let inFlight = held;
    let pause = 20;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return inFlight;
      await sleep(Math.min(pause, left, Math.max(inFlight.leaseRemainingMs, 1)));
      pause = Math.min(pause * 2, 250);
      const token = this.#newToken();
      const answer = store.claim(key, fingerprint, token, leaseMs, ttlMs);
      const result = isThenable(answer) ? await this.call(answer, 'idempotency claim') : answer;
      if (result.type === 'claimed') return { type: 'run', sink: this.#hold(key, token) };
      if (result.type === 'completed' || result.fingerprint !== fingerprint) return result;
      inFlight = result;
    }
  }

  /** Awaits a store answer given as a promise, within `storeTimeoutMs`. @internal */
  call<T>(answer: PromiseLike<T>, what: string): Promise<T> {
    return withTimeout(Promise.resolve(answer), this.settings.storeTimeoutMs, what);
  }

  /**
   * Stores the outcome of a claim that ended: its response (a retry replays it), or `undefined` to
   * release the key (a retry may run again). Never throws nor rejects; settles synchronously (returns
   * nothing) when the store answers synchronously. @internal
   */
  settle(claim: Claim, response: CompletedResponse | undefined): Promise<void> | undefined {
    this.#live.delete(claim);
    const { store, ttlMs } = this.settings;
    let answer: StoreAnswer<boolean>;
    try {
      answer = response === undefined ? store.release(claim.key, claim.token) : store.complete(claim.key, claim.token, response, ttlMs);
    } catch {
      return undefined;
    }
    if (!isThenable(answer)) return undefined;
    // Completing: the response is still sent; the claim lapses after its lease and a retry may run
    // again. Releasing: the lease runs out on its own, and a retry runs after it.
    return this.call(answer, response === undefined ? 'idempotency release' : 'idempotency complete').then(ignore, ignore);
  }

  #hold(key: string, token: string): Claim {
    const claim = new Claim(this, key, token, this.#tick);
    this.#live.add(claim);
    if (this.#renewal === undefined) {
      // Ticks every sixth of the lease; each claim is renewed every second tick, so a lease is extended
      // when at most a third of it has run, as with a timer per claim.
      this.#renewal = setInterval(() => this.#renewDue(), Math.max(Math.floor(this.settings.leaseMs / 6), 1));
      this.#renewal.unref?.();
    }
    return claim;
  }

  #renewDue(): void {
    if (this.#live.size === 0) {
      clearInterval(this.#renewal);
      this.#renewal = undefined;
      return;
    }
    const tick = ++this.#tick;
    const { store, leaseMs } = this.settings;
    for (const claim of this.#live) {
      if (tick - claim.renewedTick < 2) continue;
      claim.renewedTick = tick;
      const lost = () => this.#live.delete(claim);
      try {
        const answer = store.renew(claim.key, claim.token, leaseMs);
        if (!isThenable(answer)) {
          if (!answer) lost();
          continue;
        }
        this.call(answer, 'idempotency renew').then(
          (kept) => {
            if (!kept) lost();
          },
          () => {},
        );
      } catch {
        // A store that failed now may answer on the next tick; the lease has room for that.
      }
    }
  }
}

/**
 * One claimed key while the application runs: the sink that the adapter hands the response to.
 * @internal
 */
class Claim implements ResponseSink {
  readonly maxBytes: number;
  #settled = false;

  constructor(
    readonly engine: IdempotencyEngine,
    readonly key: string,
    readonly token: string,
    /** The renewal tick at which the lease was claimed or last renewed. */
    public renewedTick: number,
  ) {
    this.maxBytes = engine.settings.maxResponseBytes;
  }

  complete(response: CapturedResponse): undefined | Promise<HeaderPairs | undefined> {
    if (this.#settled) return undefined;
    this.#settled = true;
    const { maxResponseBytes, shouldStore } = this.engine.settings;
    let stored: CompletedResponse | undefined;
    try {
      if (shouldStore(response.status) === true) {
        stored =
          response.truncated || response.body.byteLength > maxResponseBytes
            ? null
            : { status: response.status, headers: storedHeaders(response.headers), body: response.body };
      }
    } catch {
      stored = undefined;
    }
    // A store that answered synchronously (the memory store) costs the response no promise.
    const settled = this.engine.settle(this, stored);
    return settled === undefined ? undefined : settled.then(ignore);
  }

  abort(): Promise<void> {
    if (this.#settled) return NOTHING;
    this.#settled = true;
    return this.engine.settle(this, undefined) ?? NOTHING;
  }
}

/** The resolved answer of a sink call that has nothing to add (shared: it carries no state). */
const NOTHING: Promise<undefined> = Promise.resolve(undefined);

function ignore(): undefined {
  return undefined;
}

function isThenable<T>(answer: StoreAnswer<T>): answer is PromiseLike<T> {
  return typeof (answer as { then?: unknown } | null)?.then === 'function';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
