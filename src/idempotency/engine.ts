import { randomUUID } from 'node:crypto';
import type { CapturedResponse, HeaderPairs, ResponseSink } from '../guard/types.js';
import { withTimeout } from '../stores/store-error.js';
import { storedHeaders } from './replay.js';
import type { ClaimResult, IdempotencyStore } from './store.js';

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

/** The outcome of {@link IdempotencyEngine.begin}. */
export type BeginResult =
  | { type: 'run'; sink: ResponseSink }
  | Exclude<ClaimResult, { type: 'claimed' }>;

/**
 * Claim, lease, complete and release around one store: what every adapter shares. A claim holds an
 * owner token and a short lease, renewed while the application runs; the record (kept `ttlMs`) is
 * written before the response is sent.
 */
export class IdempotencyEngine {
  constructor(readonly settings: EngineSettings) {}

  /**
   * Claims `key` for this request. With `waitMs`, a key held by another request is polled until it
   * completes (then its result is returned for replay), is released (then this request runs), or the
   * wait ends. Rejects with `StoreUnavailableError` when the store does not answer in time.
   */
  async begin(key: string, fingerprint: string): Promise<BeginResult> {
    const { waitMs } = this.settings;
    const deadline = waitMs > 0 ? Date.now() + waitMs : 0;
    let pause = 20;
    for (;;) {
      const token = randomUUID();
      const result = await this.#call(
        this.settings.store.claim(key, fingerprint, token, this.settings.leaseMs, this.settings.ttlMs),
        'idempotency claim',
      );
      if (result.type === 'claimed') return { type: 'run', sink: this.#sink(key, token) };
      if (result.type === 'completed' || result.fingerprint !== fingerprint) return result;
      const left = deadline - Date.now();
      if (left <= 0) return result;
      await sleep(Math.min(pause, left, Math.max(result.leaseRemainingMs, 1)));
      pause = Math.min(pause * 2, 250);
    }
  }

  #call<T>(promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(promise, this.settings.storeTimeoutMs, what);
  }

  #sink(key: string, token: string): ResponseSink {
    const { store, leaseMs, ttlMs, maxResponseBytes, shouldStore } = this.settings;
    let settled = false;
    const renewal = setInterval(
      () => {
        this.#call(store.renew(key, token, leaseMs), 'idempotency renew').then(
          (kept) => {
            if (!kept) clearInterval(renewal);
          },
          () => {},
        );
      },
      Math.max(Math.floor(leaseMs / 3), 1),
    );
    renewal.unref?.();
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearInterval(renewal);
      return true;
    };
    const release = async (): Promise<void> => {
      try {
        await this.#call(store.release(key, token), 'idempotency release');
      } catch {
        // The lease runs out on its own: a retry runs again after it.
      }
    };
    return {
      maxBytes: maxResponseBytes,
      complete: async (response: CapturedResponse): Promise<HeaderPairs | undefined> => {
        if (!settle()) return undefined;
        let keep: boolean;
        try {
          keep = shouldStore(response.status) === true;
        } catch {
          keep = false;
        }
        if (!keep) {
          await release();
          return undefined;
        }
        const stored =
          response.truncated || response.body.byteLength > maxResponseBytes
            ? null
            : { status: response.status, headers: storedHeaders(response.headers), body: response.body };
        try {
          await this.#call(store.complete(key, token, stored, ttlMs), 'idempotency complete');
        } catch {
          // The response is still sent; the claim lapses after its lease and a retry may run again.
        }
        return undefined;
      },
      abort: async (): Promise<void> => {
        if (!settle()) return;
        await release();
      },
    };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
