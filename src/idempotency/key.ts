import { sha256 } from './hash.js';

/** Longest accepted idempotency key, in characters. */
export const MAX_KEY_LENGTH = 255;

/** Why a key was refused, as a human message (never echoing the key). */
export type KeyProblem = string;

/**
 * Checks the header lines of an idempotency key. Returns the key, `undefined` when there is none,
 * or a problem message: empty, longer than 255 characters, control characters, or sent twice.
 */
export function readKey(lines: readonly string[], header: string): { key: string } | { missing: true } | { problem: KeyProblem } {
  if (lines.length === 0) return { missing: true };
  if (lines.length > 1) return { problem: `Send exactly one ${header} header.` };
  const key = lines[0]!;
  if (key.length === 0 || key.trim().length === 0) return { problem: `The ${header} header is empty.` };
  if (key.length > MAX_KEY_LENGTH) return { problem: `The ${header} header is longer than ${MAX_KEY_LENGTH} characters.` };
  if (/[\u0000-\u001f\u007f]/.test(key)) return { problem: `The ${header} header contains control characters.` };
  return { key };
}

/**
 * The stored key: a hash of the scope and the client's key, so one scope can never reach another's
 * record and the raw header never reaches the store.
 *
 * @example
 * ```ts
 * scopedKey('acct_42', 'order-7'); // 'o3Fx…' (43 base64url characters: SHA-256)
 * ```
 */
export function scopedKey(scope: string, key: string): string {
  // The key has no control characters (see readKey), so the NUL separator is unambiguous.
  return sha256(`${scope}\u0000${key}`);
}
