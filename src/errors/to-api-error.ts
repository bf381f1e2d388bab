import { ApiError, isApiError } from './api-error.js';
import { codeForStatus, messageForStatus } from './catalog.js';

/** Messages for body-parser / raw-body error types. */
export const BODY_ERRORS = {
  'entity.parse.failed': { code: 'invalid_request', message: 'The request body could not be parsed (malformed JSON or form data).' },
  'encoding.unsupported': { code: 'invalid_request', message: 'The request body uses an unsupported content encoding.' },
  'encoding.undecodable': { code: 'invalid_request', message: 'The request body could not be decoded with its content encoding.' },
  'charset.unsupported': { code: 'invalid_request', message: 'The request body uses an unsupported charset.' },
  'entity.verify.failed': { code: 'invalid_request', message: 'The request body failed verification.' },
  'request.size.invalid': { code: 'invalid_request', message: 'The request body did not match its Content-Length.' },
  'request.aborted': { code: 'invalid_request', message: 'The request body was not received completely.' },
  'entity.too.large': { code: 'payload_too_large', message: 'The request body is too large.' },
  'parameters.too.many': { code: 'payload_too_large', message: 'The request body has too many parameters.' },
} as const satisfies Record<string, { code: 'invalid_request' | 'payload_too_large'; message: string }>;

/** The message for each body-parser error type (shared with `readJson`, so every adapter says the same). */
export const BODY_ERROR_MESSAGES = Object.fromEntries(
  Object.entries(BODY_ERRORS).map(([type, entry]) => [type, entry.message]),
) as Readonly<Record<keyof typeof BODY_ERRORS, string>>;

/**
 * zlib's codes for input it cannot decompress: a request body whose `Content-Encoding` lies. Koa's body
 * parsers let these through as they are; Express's wrap them with status 400.
 */
const UNDECODABLE_BODY = new Set(['Z_DATA_ERROR', 'Z_BUF_ERROR']);

/** Headers of a foreign error that may reach the client. */
const FORWARDED_HEADERS = new Set(['retry-after', 'www-authenticate', 'allow', 'location', 'ratelimit', 'ratelimit-policy']);

/**
 * Turns any thrown value into an {@link ApiError}:
 * - an ApiError (from any copy of bulwark) is kept;
 * - body-parser / raw-body errors map by `type`: bad bodies to 422 `invalid_request`, too large to 413;
 * - zlib's errors for input it cannot decompress (a body whose `Content-Encoding` lies) to 422 `invalid_request`;
 * - `http-errors`-style objects keep their status and their `Retry-After`/`WWW-Authenticate` headers,
 *   and their message only for 4xx that are not marked `expose: false`;
 * - anything else is a 500 `internal_error` with a generic message. Nothing of the thrown value is sent.
 *
 * @example
 * ```ts
 * toApiError(new SyntaxError('Unexpected token')).code; // 'internal_error'
 * ```
 */
export function toApiError(value: unknown): ApiError<string> {
  if (isApiError(value)) return value;
  if (typeof value !== 'object' || value === null) return internal(value);
  const err = value as {
    type?: unknown;
    status?: unknown;
    statusCode?: unknown;
    expose?: unknown;
    message?: unknown;
    headers?: unknown;
    code?: unknown;
  };
  if (typeof err.type === 'string' && Object.hasOwn(BODY_ERRORS, err.type)) {
    const mapped = BODY_ERRORS[err.type as keyof typeof BODY_ERRORS];
    return new ApiError<string>(mapped.code, { message: mapped.message, cause: value });
  }
  if (typeof err.code === 'string' && UNDECODABLE_BODY.has(err.code)) {
    return new ApiError<string>('invalid_request', { message: BODY_ERRORS['encoding.undecodable'].message, cause: value });
  }
  const status = typeof err.status === 'number' ? err.status : typeof err.statusCode === 'number' ? err.statusCode : undefined;
  // co-body (Koa's body parsers) marks a JSON SyntaxError with status 400 instead of a type.
  if (value instanceof SyntaxError && status === 400) {
    return new ApiError<string>('invalid_request', { message: BODY_ERRORS['entity.parse.failed'].message, cause: value });
  }
  // inflation (Koa's body parsers) refuses an unknown Content-Encoding with a bare 415, where body-parser
  // gives it a type: both answer the same.
  if (status === 415 && typeof err.message === 'string' && err.message.startsWith('Unsupported Content-Encoding')) {
    return new ApiError<string>('invalid_request', { message: BODY_ERRORS['encoding.unsupported'].message, cause: value });
  }
  if (status === undefined || !Number.isInteger(status) || status < 400 || status > 599) return internal(value);
  const headers: Record<string, string> = {};
  if (typeof err.headers === 'object' && err.headers !== null) {
    for (const [name, header] of Object.entries(err.headers as Record<string, unknown>)) {
      const lower = name.toLowerCase();
      if (FORWARDED_HEADERS.has(lower) && (typeof header === 'string' || typeof header === 'number')) {
        headers[lower] = String(header);
      }
    }
  }
  const exposeMessage = status < 500 && err.expose !== false && typeof err.message === 'string' && err.message.length > 0;
  return new ApiError<string>(codeForStatus(status), {
    status,
    message: exposeMessage ? (err.message as string) : messageForStatus(status),
    headers,
    cause: value,
  });
}

function internal(cause: unknown): ApiError<string> {
  return new ApiError<string>('internal_error', { cause });
}
