import type { HeaderPairs } from '../guard/types.js';
import { ceilSeconds } from './retry-after.js';

/**
 * Which rate-limit headers to send:
 * - `'draft-10'`: IETF draft-ietf-httpapi-ratelimit-headers-10 structured fields,
 *   `RateLimit-Policy: "name";q=100;w=60` and `RateLimit: "name";r=99;t=60`. Several limiters on one
 *   route each append a list member.
 * - `'draft-7'`: `RateLimit-Policy: 100;w=60` and `RateLimit: limit=100, remaining=99, reset=60`
 *   (one limiter per response: the draft has no way to tell two apart).
 * - `'legacy'`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix time, seconds).
 * - `false`: none (`Retry-After` is still sent with a 429).
 */
export type HeadersMode = 'draft-10' | 'draft-7' | 'legacy' | false;

/** What a limiter's headers say that never changes: its policy. */
export interface HeaderPolicy {
  /** Policy name (draft-10 only). */
  name: string;
  limit: number;
  windowMs: number;
}

/** Writes the headers of one decision: what is left, and in how many milliseconds the bucket is full again. */
export type HeaderWriter = (remaining: number, resetMs: number, out: HeaderPairs) => void;

/**
 * Validates `headers` and returns the writer of that style for one limiter. What never changes for the
 * limiter (the policy header, the name) is made here, once; a decision only adds its numbers.
 * @internal
 */
export function headerWriter(mode: unknown, name: string, policy: HeaderPolicy): HeaderWriter {
  switch (mode) {
    case undefined:
    case 'draft-10': {
      // One policy pair, shared by every response (pairs are never mutated).
      const label = sfString(policy.name);
      const policyPair: [string, string] = ['ratelimit-policy', `${label};q=${policy.limit};w=${ceilSeconds(policy.windowMs)}`];
      const prefix = `${label};r=`;
      return (remaining, resetMs, out) => {
        out.push(policyPair, ['ratelimit', `${prefix}${remaining};t=${ceilSeconds(resetMs)}`]);
      };
    }
    case 'draft-7': {
      const policyPair: [string, string] = ['ratelimit-policy', `${policy.limit};w=${ceilSeconds(policy.windowMs)}`];
      const prefix = `limit=${policy.limit}, remaining=`;
      return (remaining, resetMs, out) => {
        out.push(policyPair, ['ratelimit', `${prefix}${remaining}, reset=${ceilSeconds(resetMs)}`]);
      };
    }
    case 'legacy': {
      const limit = String(policy.limit);
      return (remaining, resetMs, out) => {
        out.push(
          ['x-ratelimit-limit', limit],
          ['x-ratelimit-remaining', String(remaining)],
          ['x-ratelimit-reset', String(Math.ceil((Date.now() + resetMs) / 1000))],
        );
      };
    }
    case false:
      return () => {};
    default:
      throw new TypeError(`${name}: options.headers must be 'draft-10', 'draft-7', 'legacy' or false`);
  }
}

/** An RFC 8941 sf-string: printable ASCII with `"` and `\` escaped. */
export function sfString(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Whether `text` can be an sf-string (printable ASCII only). @internal */
export function isSfStringSafe(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}
