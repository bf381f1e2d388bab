import { type FormatOptions, formatError } from '../errors/format.js';
import type { Decision, HeaderPairs } from './types.js';

/**
 * A `respond` decision carrying the documented error body for `err`. Its headers are added to those
 * earlier middleware set (`appendHeaders`). Never throws, whatever `err` is.
 *
 * @example
 * ```ts
 * return errorDecision(new ApiError('ip_not_allowed'));
 * ```
 */
export function errorDecision(err: unknown, extraHeaders: HeaderPairs = [], options?: FormatOptions): Decision {
  const formatted = formatError(err, options);
  const headers: HeaderPairs = [...extraHeaders];
  for (const [name, value] of Object.entries(formatted.headers)) headers.push([name, value]);
  return { type: 'respond', status: formatted.status, headers, body: formatted.body, appendHeaders: true };
}

/** The shared `next` decision with no headers. */
export const NEXT: Decision = Object.freeze({ type: 'next' }) as Decision;
