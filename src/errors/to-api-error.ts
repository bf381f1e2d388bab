import { ApiError, isApiError } from './api-error.js';
import { copyRecord, entriesOf, isInstance, read, THREW } from './safe-read.js';
import { codeForStatus, messageForStatus } from './catalog.js';

/** The message of a path that cannot be decoded (the path itself is never repeated). @internal */
export const MALFORMED_PATH = 'The request path holds a malformed percent-encoding.';

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
 * - an ApiError (from any copy of bulwark) is kept, unless its fields were tampered with (a code, status
 *   or message of the wrong type, a getter that throws): it is then rebuilt from what can be read;
 * - body-parser / raw-body errors map by `type`: bad bodies to 422 `invalid_request`, too large to 413;
 * - zlib's errors for input it cannot decompress (a body whose `Content-Encoding` lies) to 422 `invalid_request`;
 * - `http-errors`-style objects keep their status and their `Retry-After`/`WWW-Authenticate` headers
 *   (`headers` a record, a `Map`, a `Headers` or an array of pairs; or the headers of the response in
 *   `res`, as Hono's `HTTPException` carries them), and their message only for 4xx that
 *   are not marked `expose: false`;
 * - anything else is a 500 `internal_error` with a generic message. Nothing of the thrown value is sent.
 *
 * Never throws, whatever the value: a property whose getter throws counts as absent (an `expose` that
 * throws as `false`); a Proxy whose every trap throws, a revoked Proxy or an object without a prototype
 * is an unknown value.
 *
 * @example
 * ```ts
 * toApiError(new SyntaxError('Unexpected token')).code; // 'internal_error'
 * ```
 */
export function toApiError(value: unknown): ApiError<string> {
  if (typeof value !== 'object' || value === null) return internal(value);
  if (isApiError(value)) return checkedApiError(value);
  const type = read(value, 'type');
  if (typeof type === 'string' && Object.hasOwn(BODY_ERRORS, type)) {
    const mapped = BODY_ERRORS[type as keyof typeof BODY_ERRORS];
    return new ApiError<string>(mapped.code, { message: mapped.message, cause: value });
  }
  const code = read(value, 'code');
  if (typeof code === 'string' && UNDECODABLE_BODY.has(code)) {
    return new ApiError<string>('invalid_request', { message: BODY_ERRORS['encoding.undecodable'].message, cause: value });
  }
  const ownStatus = read(value, 'status');
  const statusCode = typeof ownStatus === 'number' ? undefined : read(value, 'statusCode');
  const status = typeof ownStatus === 'number' ? ownStatus : typeof statusCode === 'number' ? statusCode : undefined;
  // co-body (Koa's body parsers) marks a JSON SyntaxError with status 400 instead of a type.
  if (status === 400 && isInstance(value, SyntaxError)) {
    return new ApiError<string>('invalid_request', { message: BODY_ERRORS['entity.parse.failed'].message, cause: value });
  }
  // Express's router fails to decode a path parameter (`/m/%E0%A4%A`) with a 400 URIError whose message repeats
  // the parameter: answered with a message of bulwark's own.
  if (status === 400 && isInstance(value, URIError)) {
    return new ApiError<string>('bad_request', { message: MALFORMED_PATH, cause: value });
  }
  const message = read(value, 'message');
  // inflation (Koa's body parsers) refuses an unknown Content-Encoding with a bare 415, where body-parser
  // gives it a type: both answer the same.
  if (status === 415 && typeof message === 'string' && message.startsWith('Unsupported Content-Encoding')) {
    return new ApiError<string>('invalid_request', { message: BODY_ERRORS['encoding.unsupported'].message, cause: value });
  }
  if (!isErrorStatus(status)) return internal(value);
  const headers: Record<string, string> = {};
  for (const [name, header] of entriesOf(headersOf(value))) {
    if (typeof name !== 'string') continue;
    const lower = name.toLowerCase();
    if (FORWARDED_HEADERS.has(lower) && (typeof header === 'string' || (typeof header === 'number' && Number.isFinite(header)))) {
      headers[lower] = String(header);
    }
  }
  const expose = read(value, 'expose');
  const exposeMessage = status < 500 && expose !== false && expose !== THREW && typeof message === 'string' && message.length > 0;
  return new ApiError<string>(codeForStatus(status), {
    status,
    message: exposeMessage ? (message as string) : messageForStatus(status),
    headers,
    cause: value,
  });
}

/**
 * An ApiError whose fields are what they claim is kept as it is; one tampered with (or a forged marker)
 * is rebuilt from the fields that can still be read, or becomes an `internal_error`.
 */
function checkedApiError(value: ApiError<string>): ApiError<string> {
  const code = read(value, 'code');
  const status = read(value, 'status');
  const message = read(value, 'message');
  const details = read(value, 'details');
  const headers = read(value, 'headers');
  if (
    typeof code === 'string' &&
    code.length > 0 &&
    isErrorStatus(status) &&
    typeof message === 'string' &&
    isRecord(details) &&
    isRecord(headers)
  ) {
    return value;
  }
  if (typeof code !== 'string' || code.length === 0) return internal(value);
  const options = {
    message: typeof message === 'string' ? message : undefined,
    details: copyRecord(details),
    headers: copyRecord(headers) as Record<string, string>,
    cause: value,
  };
  try {
    // The catalog fixes the status of its codes; an application's own code keeps a status that is valid.
    return new ApiError<string>(code, { ...options, status: isErrorStatus(status) ? status : undefined });
  } catch {
    return internal(value);
  }
}

/**
 * A foreign error's headers: its own `headers`, or those of the response it carries in `res` (Hono's
 * `HTTPException`, whose `WWW-Authenticate` or `Retry-After` lives there).
 */
function headersOf(value: object): unknown {
  const own = read(value, 'headers');
  if (own !== undefined) return own;
  const res = read(value, 'res');
  return typeof res === 'object' && res !== null ? read(res, 'headers') : undefined;
}

function isRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

function isErrorStatus(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599;
}

function internal(cause: unknown): ApiError<string> {
  return new ApiError<string>('internal_error', { cause });
}
