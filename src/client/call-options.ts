/**
 * Per-call options: the `bulwark` member of a call's `init`, merged over the options of the wrapper,
 * validated at each call (a bad member rejects the call with a `TypeError` naming it, and nothing is
 * sent), and never passed on to the underlying `fetch`.
 */
import { duration, need, type Settings } from './options.js';

/** Options of one call, given as `init.bulwark`. Each one overrides the wrapper's option of the same name. */
export interface CallOptions {
  /**
   * Retries after the first attempt of this call (0: send it once).
   * @default the wrapper's `retries`
   * @example await api(url, { method: 'POST', body, bulwark: { retries: 0 } })
   */
  retries?: number;
  /**
   * Time limit of each attempt of this call, its response body included for the attempt that is returned.
   * @default the wrapper's `timeoutMs`
   * @example await api(url, { bulwark: { timeoutMs: 500 } })
   */
  timeoutMs?: number;
  /**
   * Time limit of this call, attempts, waits and the reading of the returned response's body included.
   * @default the wrapper's `deadlineMs`
   * @example await api(url, { bulwark: { deadlineMs: 2_000 } })
   */
  deadlineMs?: number;
  /**
   * Longest `Retry-After` this call waits out; a longer one returns the response at once.
   * @default the wrapper's `maxRetryAfterMs`
   * @example await api(url, { bulwark: { maxRetryAfterMs: 0 } })
   */
  maxRetryAfterMs?: number;
  /**
   * The idempotency key of this call, sent in the wrapper's `idempotencyHeader` with every attempt, whatever
   * the method (a call that carries a key may be retried like an idempotent one). `false`: the wrapper adds
   * no key to this call (a key already in the caller's headers is still sent). The key must be 1 to 255
   * visible ASCII characters, and must not contradict a key in the caller's headers.
   * @default a new UUID for POST and PATCH (unless the headers carry one), none for other methods
   * @example await api(url, { method: 'POST', body, bulwark: { idempotencyKey: `order-${order.id}` } })
   */
  idempotencyKey?: string | false;
  /**
   * Pacing for this call: `false` sends it whatever the origin's rate-limit headers said (its answer is
   * still read), `true` paces it with the wrapper's `maxWaitMs`, `{ maxWaitMs }` with this longest wait
   * (`{ maxWaitMs: 0 }`: fail at once with `throttled` rather than wait). Ignored when the wrapper was made
   * with `pace: false`.
   * @default the wrapper's `pace`
   * @example await api(url, { bulwark: { pace: { maxWaitMs: 0 } } })
   */
  pace?: boolean | { maxWaitMs?: number };
}

/** The `init` of a call of the wrapper: a `RequestInit` with an optional `bulwark` member. */
export type BulwarkRequestInit = RequestInit & { bulwark?: CallOptions };

/**
 * The function `createFetch` returns: `fetch`, whose `init` may carry per-call options. It can be passed
 * wherever a `typeof fetch` is expected.
 */
export type BulwarkFetch = (input: RequestInfo | URL, init?: BulwarkRequestInit) => Promise<Response>;

const LABEL = 'bulwark fetch: init.bulwark.';
const NAMES = new Set(['retries', 'timeoutMs', 'deadlineMs', 'maxRetryAfterMs', 'idempotencyKey', 'pace']);
const KEY = /^[\x21-\x7e]{1,255}$/;

/** One call's settings and key, from the wrapper's settings and the call's `bulwark` member. */
export interface CallSettings {
  settings: Settings;
  /** A key given for this call, `false` for none, `undefined` to follow the wrapper's rule. */
  key: string | false | undefined;
}

/**
 * Merges `init.bulwark` over the wrapper's settings. Throws a `TypeError` naming a misspelt or bad member.
 *
 * @example
 * ```ts
 * callSettings(settings, { retries: 0 }); // { settings: { ...settings, retries: 0 }, key: undefined }
 * ```
 */
export function callSettings(base: Settings, value: unknown): CallSettings {
  if (value === undefined) return { settings: base, key: undefined };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('bulwark fetch: init.bulwark must be an object of per-call options');
  }
  for (const name of Object.keys(value)) {
    if (!NAMES.has(name)) {
      throw new TypeError(
        `bulwark fetch: unknown per-call option init.bulwark.${name} (known: ${[...NAMES].join(', ')})`,
      );
    }
  }
  const options = value as CallOptions;
  const settings: Settings = { ...base };
  if (options.retries !== undefined) {
    need(Number.isSafeInteger(options.retries) && options.retries >= 0, 'retries', 'a non-negative integer', LABEL);
    settings.retries = options.retries;
  }
  if (options.timeoutMs !== undefined) {
    settings.timeoutMs = duration(options.timeoutMs, 'timeoutMs', base.timeoutMs, true, LABEL);
    need(settings.timeoutMs > 0, 'timeoutMs', 'greater than 0', LABEL);
  }
  if (options.deadlineMs !== undefined) {
    settings.deadlineMs = duration(options.deadlineMs, 'deadlineMs', base.deadlineMs, true, LABEL);
    need(settings.deadlineMs > 0, 'deadlineMs', 'greater than 0', LABEL);
  }
  if (options.maxRetryAfterMs !== undefined) {
    settings.maxRetryAfterMs = duration(options.maxRetryAfterMs, 'maxRetryAfterMs', base.maxRetryAfterMs, false, LABEL);
  }
  const pace = options.pace;
  if (pace !== undefined) {
    if (typeof pace === 'boolean') settings.pace = pace;
    else {
      need(typeof pace === 'object' && pace !== null && !Array.isArray(pace), 'pace', 'a boolean or { maxWaitMs }', LABEL);
      for (const name of Object.keys(pace)) {
        need(name === 'maxWaitMs', `pace.${name}`, 'maxWaitMs (it is unknown)', LABEL);
      }
      settings.pace = true;
      if (pace.maxWaitMs !== undefined) {
        settings.paceMaxWaitMs = duration(pace.maxWaitMs, 'pace.maxWaitMs', base.paceMaxWaitMs, false, LABEL);
      }
    }
  }
  const key = options.idempotencyKey;
  if (key !== undefined) {
    need(key === false || (typeof key === 'string' && KEY.test(key)), 'idempotencyKey', 'false or 1 to 255 visible ASCII characters', LABEL);
    need(
      key === false || base.keyHeader !== false,
      'idempotencyKey',
      'false when the wrapper sends no keys (createFetch was given idempotencyHeader: false)',
      LABEL,
    );
  }
  return { settings, key };
}
