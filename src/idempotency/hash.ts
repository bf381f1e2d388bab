import * as crypto from 'node:crypto';

/**
 * SHA-256 of a string (its UTF-8 bytes), base64url: `crypto.hash` where Node.js has it (20.12 and
 * later: one call, no Hash object), `createHash` otherwise.
 *
 * @example
 * ```ts
 * sha256('abc'); // 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0'
 * ```
 */
export const sha256: (text: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'base64url')
    : (text) => crypto.createHash('sha256').update(text).digest('base64url');
