/**
 * Reading ids out of request paths, the same way in every demo app: Express decodes route parameters
 * itself and answers a malformed escape with 400; the Koa and fetch apps match paths by hand.
 */
import { ApiError } from '../../src/index.js';

/**
 * Decodes one percent-encoded path segment. A malformed escape (`%E0%A4%A`) is the client's error: 400
 * `bad_request`, as Express answers, never a `URIError` that would surface as a 500.
 *
 * @example
 * ```ts
 * pathSegment('msg%5F1'); // 'msg_1'
 * ```
 */
export function pathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (err) {
    throw malformedPath(err);
  }
}

/**
 * The demo's answer to a path it cannot decode: 400 `bad_request` with a message that does not repeat the
 * path (Express's and Fastify's own messages do).
 *
 * @example
 * ```ts
 * throw malformedPath(uriError);
 * ```
 */
export function malformedPath(cause?: unknown): ApiError<string> {
  return new ApiError<string>('bad_request', { status: 400, message: 'The request path holds a malformed percent-encoding.', cause });
}
