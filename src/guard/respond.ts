import { type FormatOptions, formatError } from '../errors/format.js';
import type { Decision, HeaderPairs } from './types.js';

/**
 * A `respond` decision carrying the documented error body for `err`. Its headers are added to those
 * earlier middleware set (`appendHeaders`). A 5xx, or an error whose headers had to be dropped, keeps
 * `err` as the decision's `error`, for the adapter to hand to the error handler, which reports it.
 * Never throws, whatever `err` is.
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
  const decision: Decision = { type: 'respond', status: formatted.status, headers, body: formatted.body, appendHeaders: true };
  // A falsy thrown value (`0`, `''`, `null`) is answered here and never handed on: to Express, `next(0)`
  // means "continue", which would run the application unguarded.
  if (err && (formatted.status >= 500 || formatted.droppedHeaders.length > 0)) decision.error = err;
  return decision;
}

/** The shared `next` decision with no headers. */
export const NEXT: Decision = Object.freeze({ type: 'next' }) as Decision;
