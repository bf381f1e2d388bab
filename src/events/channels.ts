import { channel, type Channel } from 'node:diagnostics_channel';
import * as crypto from 'node:crypto';

/**
 * The names of bulwark's `node:diagnostics_channel` channels. Every message published on them is one of
 * the event objects below: a string `decision`, the guard that decided, and the facts of the decision.
 * No message carries a secret: a rate-limit, spend-cap or idempotency key and an idempotency scope are
 * given only as {@link hashKey} digests, and an allowlist's rules never appear.
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe('bulwark:rate-limit', (event) => console.log(event)); // { decision: 'throttle', policy: '100-in-60s', ... }
 * ```
 */
export const CHANNELS = {
  allowlist: 'bulwark:allowlist',
  rateLimit: 'bulwark:rate-limit',
  spendCap: 'bulwark:spend-cap',
  idempotency: 'bulwark:idempotency',
  store: 'bulwark:store',
  client: 'bulwark:client',
} as const;

/** The name of one of bulwark's channels. */
export type ChannelName = (typeof CHANNELS)[keyof typeof CHANNELS];

/** A guard's enforcement mode: `'enforce'` refuses, `'shadow'` decides and reports but lets every request through. */
export type GuardMode = 'enforce' | 'shadow';

/** Published on `bulwark:allowlist` for every request the allowlist checks. */
export interface AllowlistEvent {
  guard: 'ipAllowlist';
  /** `'allow'` or `'deny'`: what enforcing mode does (in shadow mode a `'deny'` lets the request through). */
  decision: 'allow' | 'deny';
  /** Why a request is denied: not on the list, no client address known, or the list function refused or failed. */
  reason?: 'not-listed' | 'no-address' | 'refused' | 'error';
  /** The client address the allowlist checked (never the list itself). */
  address?: string;
  mode: GuardMode;
  /** True when the request would have been refused and shadow mode let it through. */
  wouldDeny: boolean;
}

/** Published on `bulwark:rate-limit`: one message per decision, and one per refund. */
export interface RateLimitEvent {
  guard: 'rateLimit';
  /** `'allow'`, `'throttle'` (429), `'too-costly'` (422, a cost no bucket can hold) or `'refund'` (units given back). */
  decision: 'allow' | 'throttle' | 'too-costly' | 'refund';
  /** The policy name (the `name` option). */
  policy: string;
  /** {@link hashKey} of the bucket key. */
  key: string;
  cost: number;
  limit: number;
  remaining: number;
  /** For `'throttle'`: milliseconds until a retry is admitted. */
  retryAfterMs?: number;
  /** Who decided: the store, or the outage mode while the store is unavailable. */
  source: 'store' | 'fallback' | 'open' | 'closed';
  mode: GuardMode;
  wouldDeny: boolean;
}

/** Published on `bulwark:spend-cap`: one message per decision, and one per refund. */
export interface SpendCapEvent {
  guard: 'spendCap';
  /** `'allow'`, `'deny'` (403 `spend_limit_exceeded`) or `'refund'` (a reservation given back). */
  decision: 'allow' | 'deny' | 'refund';
  /** The cap's name (the `name` option). */
  policy: string;
  /** {@link hashKey} of the account key. */
  key: string;
  cost: number;
  /** For `'deny'`: the period whose cap would be passed. */
  period?: 'daily' | 'monthly';
  /**
   * For `'allow'`: true when the request is a retry of a send already charged under its idempotency key,
   * so nothing was charged now.
   */
  retried?: boolean;
  source: 'store' | 'fallback' | 'open' | 'closed';
  mode: GuardMode;
  wouldDeny: boolean;
}

/** Published on `bulwark:idempotency` at each step of a keyed request. */
export interface IdempotencyEvent {
  guard: 'idempotency';
  /**
   * `'claim'` (the first request runs), `'conflict'` (409, the first is still running), `'replay'` (the stored
   * response), `'mismatch'` (422, the key was used with another request), `'complete'` (the response was
   * stored), `'release'` (the key was let go: a 5xx, a thrown error, a client that left),
   * `'store-failure'` (the store could not answer: 503).
   */
  decision: 'claim' | 'conflict' | 'replay' | 'mismatch' | 'complete' | 'release' | 'store-failure';
  /** {@link hashKey} of the scope and the key together (never either in clear). */
  key: string;
  /** For `'replay'`, `'complete'`: the stored status; for `'release'` after a response, the status that was not stored. */
  status?: number;
  /**
   * `false` for a `'complete'` whose response was too large to keep (or could not be stored), and for the
   * `'replay'` of such a key (answered 422 `idempotency_key_used`, no `status`). Absent otherwise.
   */
  replayable?: false;
}

/** Published on `bulwark:store` when a guard's store stops or starts answering. */
export interface StoreEvent {
  /** The guard whose store it is. */
  guard: 'rateLimit' | 'spendCap' | 'idempotency';
  decision: 'degraded' | 'recovered';
  /** The guard's policy name. */
  policy: string;
  /** What the guard does meanwhile. */
  outage: 'fallback' | 'open' | 'closed';
}

/** Published on `bulwark:client` by `createFetch`. */
export interface ClientEvent {
  /**
   * `'attempt'` (one is sent), `'attempt-end'` (it answered or failed), `'retry'` (another will be sent),
   * `'budget-refused'` (the retry budget said no), `'paced'` (a call waits for the origin's quota; with
   * `code: 'throttled'`, a call or retry pacing refused at once, never sent, as its turn would come too late),
   * `'shed'` (adaptive throttling refused locally), `'breaker-open'`, `'breaker-half-open'`,
   * `'breaker-close'`, `'call-end'` (the call returned or threw).
   */
  decision:
    | 'attempt'
    | 'attempt-end'
    | 'retry'
    | 'budget-refused'
    | 'paced'
    | 'shed'
    | 'breaker-open'
    | 'breaker-half-open'
    | 'breaker-close'
    | 'call-end';
  /** The URL's origin (never its path or query, which can hold tokens). */
  origin: string;
  method?: string;
  /** 1 for the first attempt. */
  attempt?: number;
  status?: number;
  /** The error code for a failure (`timeout`, `network_error`, `circuit_open`, ...). */
  code?: string;
  durationMs?: number;
  /** For `'retry'` and `'paced'`: the wait before the next send. */
  delayMs?: number;
  /**
   * For `'attempt-end'`: why the attempt is, or is not, retried (`'answered'`, `'retryable'`,
   * `'retries-spent'`, `'budget-refused'`, `'deadline'`, ...; the `RetryReason` of `bulwark/client`).
   */
  reason?: string;
  /** For `'call-end'`: whether the call resolved with a response or rejected. */
  outcome?: 'response' | 'error';
  /** For `'call-end'`: attempts sent (0 when the call never reached the network). */
  attempts?: number;
}

/** Every event bulwark publishes. */
export type BulwarkEvent = AllowlistEvent | RateLimitEvent | SpendCapEvent | IdempotencyEvent | StoreEvent | ClientEvent;

/** The channel objects. Publishers check `hasSubscribers` before building a message. @internal */
export const channels: { readonly [K in keyof typeof CHANNELS]: Channel } = {
  allowlist: channel(CHANNELS.allowlist),
  rateLimit: channel(CHANNELS.rateLimit),
  spendCap: channel(CHANNELS.spendCap),
  idempotency: channel(CHANNELS.idempotency),
  store: channel(CHANNELS.store),
  client: channel(CHANNELS.client),
};

/**
 * The digest by which events name a key: the first 16 hex digits of its SHA-256. The same key always
 * gives the same digest (so events of one key can be grouped). It is not salted: a key drawn from a small set
 * (a client address, a sequential account id) can be found by hashing candidates, so treat events as you treat
 * logs that hold those values; a secret key (a token, an `Idempotency-Key`) cannot be read back.
 * @example `hashKey('acct_42')`
 */
export function hashKey(key: string): string {
  return sha256Hex(key).slice(0, 16);
}

// Node's one-shot hash (20.12 and later) is about five times cheaper than a Hash object. Read through the
// namespace: a named import of an export Node 20.0-20.11 lacks would fail to link every entry point.
const sha256Hex: (text: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text).digest('hex');
