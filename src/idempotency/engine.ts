import { randomBytes } from 'node:crypto';
import type { Logger } from '../events/logger.js';
import type { CapturedResponse, HeaderPairs, ResponseSink } from '../guard/types.js';
import { withTimeout } from '../stores/store-error.js';
import { publishIdempotency } from './events.js';
import { type RecordErrorEvent, reportRecordError } from './record-error.js';
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
  /** Told when exactly-once is at risk (see {@link RecordErrorEvent}); the default writes one stderr line. */
  onRecordError?: (event: RecordErrorEvent) => void;
  /** Where the default line goes when there is no `onRecordError` (default: console). */
  logger?: Logger;
}

type InFlight = Extract<ClaimResult, { type: 'in_flight' }>;

/** The outcome of {@link IdempotencyEngine.begin}. */
export type BeginResult =
  | { type: 'run'; sink: ResponseSink }
  | Exclude<ClaimResult, { type: 'claimed' }>;

/**
 * A claim is renewed once its last renewal (or the claim itself) was sent this long ago, in sixths of
 * the lease, by the clock; the shared timer looks every twelfth of the lease. A lease therefore runs
 * out only when no renewal reached the store for `leaseMs`: after a single event-loop stall of `S`, the
 * first tick renews, and the claim is kept whenever `S < leaseMs - leaseMs/6 - leaseMs/12 - RTT`, that
 * is `S < 3/4 leaseMs - RTT` (RTT: one store round trip).
 */
const RENEW_AFTER = 1 / 6;
const TICK = 1 / 12;

/**
 * Claim, lease, complete and release around one store: what every adapter shares. A claim holds an
 * owner token and a short lease, renewed while the application runs; the record (kept `ttlMs`) is
 * written before the response is sent: a failed write is retried within `storeTimeoutMs`, then replaced
 * by the smallest record that still keeps the key from running again (completed, not replayable), and
 * reported through `onRecordError`.
 *
 * Per request this costs one store call to claim and one to complete (or release), and no timer: the
 * leases of all live claims are renewed by one shared timer, which runs only while claims are live, and
 * a store that answers synchronously (the memory store) needs no timeout timer either.
 */
export class IdempotencyEngine {
  /** Owner tokens: a random prefix per engine (unique across processes) and a counter. */
  readonly #tokenPrefix = `${randomBytes(12).toString('base64url')}.`;
  #tokens = 0;
  /** Claims whose lease is being renewed (the application still runs, or its record is being written). */
  readonly #live = new Set<Claim>();
  #renewal: ReturnType<typeof setInterval> | undefined;

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
    const sent = performance.now();
    const answer = this.settings.store.claim(key, fingerprint, token, this.settings.leaseMs, this.settings.ttlMs);
    if (isThenable(answer)) {
      return this.call(answer, 'idempotency claim').then((result) => this.#claimed(key, fingerprint, token, sent, result, started));
    }
    return this.#claimed(key, fingerprint, token, sent, answer, started);
  }

  #newToken(): string {
    return this.#tokenPrefix + (++this.#tokens).toString(36);
  }

  #claimed(key: string, fingerprint: string, token: string, sent: number, result: ClaimResult, started: number): BeginResult | Promise<BeginResult> {
    if (result.type === 'claimed') return { type: 'run', sink: this.#hold(key, token, sent) };
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
      const sent = performance.now();
      const answer = store.claim(key, fingerprint, token, leaseMs, ttlMs);
      const result = isThenable(answer) ? await this.call(answer, 'idempotency claim') : answer;
      if (result.type === 'claimed') return { type: 'run', sink: this.#hold(key, token, sent) };
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
   * nothing) when the store answers synchronously and succeeds. @internal
   */
  settle(claim: Claim, response: CompletedResponse | undefined): Promise<void> | undefined {
    const { store, ttlMs } = this.settings;
    if (response === undefined) {
      this.#live.delete(claim);
      publishIdempotency('release', claim.key, claim.status);
      let answer: StoreAnswer<boolean>;
      try {
        answer = store.release(claim.key, claim.token);
      } catch {
        // The lease runs out on its own, and a retry runs after it.
        return undefined;
      }
      if (!isThenable(answer)) {
        if (!answer) this.#lost(claim, 'when it was released');
        return undefined;
      }
      return this.call(answer, 'idempotency release').then((kept) => {
        if (!kept) this.#lost(claim, 'when it was released');
      }, ignore);
    }
    // The claim stays live (its lease renewed) until its record is written or given up.
    claim.settling = true;
    let first: StoreAnswer<boolean>;
    try {
      first = store.complete(claim.key, claim.token, response, ttlMs);
    } catch (err) {
      return this.#record(claim, response, undefined, err);
    }
    if (isThenable(first)) return this.#record(claim, response, first, undefined);
    this.#live.delete(claim);
    if (!first) this.#lost(claim, 'before its response could be stored');
    else this.#completed(claim, response !== null);
    return undefined;
  }

  /**
   * Writes the record of a completed claim: the response, retried within `storeTimeoutMs`; failing that,
   * the smallest record (completed, not replayable) within another `storeTimeoutMs`. Reports whatever
   * falls short. Never rejects.
   */
  async #record(claim: Claim, response: CompletedResponse, first: PromiseLike<boolean> | undefined, thrown: unknown): Promise<void> {
    try {
      let failure: unknown;
      try {
        const kept = await this.#attempts(claim, response, first, thrown);
        if (!kept) this.#lost(claim, 'before its response could be stored');
        else this.#completed(claim, response !== null);
        return;
      } catch (err) {
        failure = err;
      }
      if (response !== null) {
        try {
          const kept = await this.#attempts(claim, null, undefined, undefined);
          if (!kept) this.#lost(claim, 'before its response could be stored');
          else {
            this.#completed(claim, false);
            const ms = this.settings.storeTimeoutMs;
            const message = `the response could not be stored within storeTimeoutMs (${ms} ms); the key is recorded as completed but not replayable (a retry gets 422 idempotency_key_used and does not run)`;
            this.#report(claim, 'not_replayable', failure, message);
          }
          return;
        } catch (err) {
          failure = err;
        }
      }
      this.#report(claim, 'not_recorded', failure, 'the store accepted no record of this completed request; after its lease a retry may run it again');
    } finally {
      this.#live.delete(claim);
    }
  }

  /**
   * Calls `complete` until the store answers (true: recorded; false: the claim is not ours), retrying
   * failures with a short backoff until `storeTimeoutMs` has passed; then rejects with the last failure.
   * A retry after an attempt that timed out but was applied meanwhile finds its own record: true.
   */
  async #attempts(claim: Claim, response: CompletedResponse, first: PromiseLike<boolean> | undefined, thrown: unknown): Promise<boolean> {
    const { store, ttlMs, storeTimeoutMs } = this.settings;
    const deadline = performance.now() + storeTimeoutMs;
    let answer: StoreAnswer<boolean> | undefined = first;
    let failure = thrown;
    let pause = 10;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 || failure === undefined) {
        try {
          answer ??= store.complete(claim.key, claim.token, response, ttlMs);
          if (!isThenable(answer)) return answer;
          return await withTimeout(Promise.resolve(answer), Math.max(Math.ceil(deadline - performance.now()), 1), 'idempotency complete');
        } catch (err) {
          failure = err;
        }
      }
      answer = undefined;
      const left = deadline - performance.now();
      if (left <= pause) throw failure;
      await sleep(pause);
      pause = Math.min(pause * 2, 100);
    }
  }

  /** The record of a completed claim is in the store (replayable, or only "completed"). */
  #completed(claim: Claim, replayable: boolean): void {
    publishIdempotency('complete', claim.key, claim.status, replayable);
  }

  /** The claim turned out to be another request's (reported once per claim). */
  #lost(claim: Claim, when: string, detail = ''): void {
    if (claim.lost) return;
    claim.lost = true;
    this.#report(
      claim,
      'claim_lost',
      undefined,
      `the claim was lost ${when}${detail} (its lease of ${this.settings.leaseMs} ms ran out unrenewed, or the store lost it); another request may have run the same key, and this response was not stored`,
    );
  }

  #report(claim: Claim, kind: RecordErrorEvent['kind'], error: unknown, message: string): void {
    reportRecordError(
      this.settings.onRecordError,
      { kind, id: claim.key.slice(0, 12), message, ...(error === undefined ? {} : { error }) },
      this.settings.logger,
    );
  }

  #hold(key: string, token: string, sent: number): Claim {
    const claim = new Claim(this, key, token, sent);
    this.#live.add(claim);
    if (this.#renewal === undefined) {
      this.#renewal = setInterval(() => this.#renewDue(), Math.max(Math.floor(this.settings.leaseMs * TICK), 1));
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
    const { store, leaseMs } = this.settings;
    const now = performance.now();
    const after = leaseMs * RENEW_AFTER;
    for (const claim of this.#live) {
      // By the clock, not by ticks: the first tick after a stall renews every claim that fell due in it.
      if (claim.renewing || now - claim.renewedAt < after) continue;
      claim.renewing = true;
      try {
        const answer = store.renew(claim.key, claim.token, leaseMs);
        if (!isThenable(answer)) {
          this.#renewed(claim, answer, now);
          continue;
        }
        this.call(answer, 'idempotency renew').then(
          (kept) => this.#renewed(claim, kept, now),
          () => {
            // Still due: the next tick tries again; the lease has room for that.
            claim.renewing = false;
          },
        );
      } catch {
        claim.renewing = false;
      }
    }
  }

  /** A renewal sent at `sent` was answered. */
  #renewed(claim: Claim, kept: boolean, sent: number): void {
    claim.renewing = false;
    if (kept) {
      // The store set the lease from a moment no earlier than `sent`.
      if (sent > claim.renewedAt) claim.renewedAt = sent;
      return;
    }
    if (!this.#live.delete(claim)) return;
    // While its record is written, a refused renewal means the record is already there: not a loss.
    if (!claim.settling) this.#lost(claim, 'while the handler ran', `, ${Math.round(sent - claim.renewedAt)} ms after its last renewal`);
  }
}

/**
 * One claimed key while the application runs: the sink that the adapter hands the response to.
 * @internal
 */
class Claim implements ResponseSink {
  readonly maxBytes: number;
  #settled = false;
  /** A renewal is in flight. */
  renewing = false;
  /** The response is being recorded (`complete` was called). */
  settling = false;
  /** The claim was found to be another request's (reported). */
  lost = false;
  /** The status of the response the application produced (unset when it threw or the client left). */
  status: number | undefined;

  constructor(
    readonly engine: IdempotencyEngine,
    readonly key: string,
    readonly token: string,
    /** `performance.now()` when the claim, or its last confirmed renewal, was sent to the store. */
    public renewedAt: number,
  ) {
    this.maxBytes = engine.settings.maxResponseBytes;
  }
  complete(response: CapturedResponse): undefined | Promise<HeaderPairs | undefined> {
    if (this.#settled) return undefined;
    this.#settled = true;
    this.status = response.status;
    const { maxResponseBytes, shouldStore } = this.engine.settings;
    let stored: CompletedResponse | undefined;
    try {
      if (shouldStore(response.status) === true) {
        stored =
          response.truncated || response.body.byteLength > maxResponseBytes
            ? null
            : { status: response.status, headers: storedHeaders(response.headers), body: response.body };
        if (stored && response.statusText !== undefined) stored.statusText = response.statusText;
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
