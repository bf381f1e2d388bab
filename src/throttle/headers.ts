import type { HeaderPairs } from '../guard/types.js';
import { ceilSeconds, floorSeconds } from './retry-after.js';
import type { RateResult } from './store.js';

/**
 * Which rate-limit headers to send:
 * - `'draft-10'`: IETF draft-ietf-httpapi-ratelimit-headers-10 structured fields,
 *   `RateLimit-Policy: "name";q=100;w=60` and `RateLimit: "name";r=99;t=1`: `r` the units left (never
 *   more than `q`), `t` the seconds until more units are available, rounded up (on a refused request:
 *   until that request would be admitted, the same as `Retry-After`); no `t` when the bucket is full.
 *   Several limiters on one route each append a list member.
 * - `'draft-11'`: the same fields as revision -11 defines them: `t` is the effective window, the seconds
 *   within which no more than `r` units can be used, so it is rounded down (0 when more units come
 *   within the second), and on a refused request too it counts until more units are there (`Retry-After`
 *   is never earlier).
 * - `'draft-7'`: `RateLimit-Policy: 100;w=60` and `RateLimit: limit=100, remaining=99, reset=60`, `reset`
 *   the seconds until the bucket is full (one limiter per response: the draft has no way to tell two apart).
 * - `'legacy'`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix time, seconds,
 *   when the bucket is full).
 * - `false`: none (`Retry-After` is still sent with a 429).
 */
export type HeadersMode = 'draft-10' | 'draft-11' | 'draft-7' | 'legacy' | false;

/**
 * The largest limit or burst that rate-limit headers can carry: RFC 9651 integers have at most 15
 * digits. The limiter refuses larger ones.
 */
export const MAX_HEADER_INTEGER = 999_999_999_999_999;

/** What a limiter's headers say that never changes: its policy. */
export interface HeaderPolicy {
  /** Policy name (draft-10 and draft-11 only). */
  name: string;
  limit: number;
  windowMs: number;
}

/** Writes the headers of one decision from the store's result. */
export type HeaderWriter = (result: RateResult, out: HeaderPairs) => void;

/**
 * Validates `headers` and returns the writer of that style for one limiter. What never changes for the
 * limiter (the policy header, the name) is made here, once; a decision only adds its numbers. `r` (and
 * `remaining`) is never more than the policy's `q` (a bucket with `burst > limit` holds more: the
 * headers say less, which the drafts allow).
 * @internal
 */
export function headerWriter(mode: unknown, name: string, policy: HeaderPolicy): HeaderWriter {
  const limit = policy.limit;
  switch (mode) {
    case undefined:
    case 'draft-10':
    case 'draft-11': {
      // One policy pair, shared by every response (pairs are never mutated).
      const label = sfString(policy.name);
      const policyPair: [string, string] = ['ratelimit-policy', `${label};q=${limit};w=${ceilSeconds(policy.windowMs)}`];
      const prefix = `${label};r=`;
      if (mode === 'draft-11') {
        return (result, out) => {
          const r = Math.min(result.remaining, limit);
          const next = result.nextMs;
          out.push(policyPair, ['ratelimit', next === undefined || next <= 0 ? `${prefix}${r}` : `${prefix}${r};t=${floorSeconds(next)}`]);
        };
      }
      return (result, out) => {
        const r = Math.min(result.remaining, limit);
        const until = result.allowed || result.retryAfterMs < 0 ? (result.nextMs ?? result.resetMs) : result.retryAfterMs;
        out.push(policyPair, ['ratelimit', until > 0 ? `${prefix}${r};t=${ceilSeconds(until)}` : `${prefix}${r}`]);
      };
    }
    case 'draft-7': {
      const policyPair: [string, string] = ['ratelimit-policy', `${limit};w=${ceilSeconds(policy.windowMs)}`];
      const prefix = `limit=${limit}, remaining=`;
      return (result, out) => {
        const r = Math.min(result.remaining, limit);
        out.push(policyPair, ['ratelimit', `${prefix}${r}, reset=${ceilSeconds(result.resetMs)}`]);
      };
    }
    case 'legacy': {
      const text = String(limit);
      return (result, out) => {
        const r = Math.min(result.remaining, limit);
        out.push(
          ['x-ratelimit-limit', text],
          ['x-ratelimit-remaining', String(r)],
          ['x-ratelimit-reset', String(Math.ceil((Date.now() + result.resetMs) / 1000))],
        );
      };
    }
    case false:
      return () => {};
    default:
      throw new TypeError(`${name}: options.headers must be 'draft-10', 'draft-11', 'draft-7', 'legacy' or false`);
  }
}

/** An RFC 9651 sf-string: printable ASCII with `"` and `\` escaped. */
export function sfString(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Whether `text` can be an sf-string (printable ASCII only). @internal */
export function isSfStringSafe(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}
