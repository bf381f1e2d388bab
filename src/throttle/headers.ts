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

/** The values every header style is made from. */
export interface HeaderValues {
  /** Policy name (draft-10 only). */
  name: string;
  limit: number;
  windowMs: number;
  remaining: number;
  resetMs: number;
}

/**
 * Validates `headers` and returns the header writer for it; the policy header, which never changes for
 * one limiter, is made once on its first use.
 * @internal
 */
export function headerWriter(mode: unknown, name: string): (values: HeaderValues, out: HeaderPairs) => void {
  switch (mode) {
    case undefined:
    case 'draft-10': {
      // The policy is the same on every response: one pair, made once and shared (pairs are never mutated).
      let policy: [string, string] | undefined;
      let prefix = '';
      return (v, out) => {
        if (policy === undefined) {
          prefix = `${sfString(v.name)};r=`;
          policy = ['ratelimit-policy', `${sfString(v.name)};q=${v.limit};w=${ceilSeconds(v.windowMs)}`];
        }
        out.push(policy, ['ratelimit', `${prefix}${v.remaining};t=${ceilSeconds(v.resetMs)}`]);
      };
    }
    case 'draft-7': {
      let policy: string | undefined;
      return (v, out) => {
        policy ??= `${v.limit};w=${ceilSeconds(v.windowMs)}`;
        out.push(['ratelimit-policy', policy], ['ratelimit', `limit=${v.limit}, remaining=${v.remaining}, reset=${ceilSeconds(v.resetMs)}`]);
      };
    }
    case 'legacy':
      return (v, out) => {
        out.push(
          ['x-ratelimit-limit', String(v.limit)],
          ['x-ratelimit-remaining', String(v.remaining)],
          ['x-ratelimit-reset', String(Math.ceil((Date.now() + v.resetMs) / 1000))],
        );
      };
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
