/**
 * The error catalog: every code of the API error page, with its HTTP status, a default human message,
 * and whether a client may retry the same request.
 *
 * Codes are stable and machine-readable; messages are for humans and may change.
 */

/** One entry of an error catalog. */
export interface ErrorCodeSpec {
  /** HTTP status sent with this code (400-599). */
  readonly status: number;
  /** Default human-readable message, used when an error does not carry its own. */
  readonly message: string;
  /**
   * Whether retrying the same request may succeed.
   * @default true for 5xx and 429, false otherwise
   */
  readonly retryable?: boolean;
}

/** A catalog: error code to its specification. */
export type ErrorCatalog = Readonly<Record<string, ErrorCodeSpec>>;

/**
 * Every error code bulwark knows: the codes of the API error page plus the library's own
 * (`unauthorized`, `forbidden`, `idempotency_key_mismatch`, `payload_too_large`, `internal_error`,
 * `service_unavailable`).
 *
 * @example
 * ```ts
 * import { ERROR_CODES } from 'bulwark';
 * ERROR_CODES.throttled.status; // 429
 * ```
 */
export const ERROR_CODES = {
  insufficient_balance: {
    status: 402,
    message: 'Your wallet cannot cover this request. Top up your wallet, then retry.',
    retryable: false,
  },
  spend_limit_exceeded: {
    status: 403,
    message: 'This request would exceed your spend limit.',
    retryable: false,
  },
  ip_not_allowed: {
    status: 403,
    message: 'Your source IP is not on the account allowlist.',
    retryable: false,
  },
  traffic_not_routable: {
    status: 422,
    message: 'No route is configured for this traffic type.',
    retryable: false,
  },
  sender_not_approved: {
    status: 422,
    message: 'Use an approved sender ID, or submit one for approval.',
    retryable: false,
  },
  no_valid_recipients: {
    status: 422,
    message: 'None of the supplied numbers were valid.',
    retryable: false,
  },
  no_valid_numbers: {
    status: 422,
    message: 'None of the supplied lookup numbers were valid.',
    retryable: false,
  },
  invalid_recipient: {
    status: 422,
    message: 'The destination number was not in a usable format.',
    retryable: false,
  },
  invalid_request: {
    status: 422,
    message: 'The request was malformed for this endpoint.',
    retryable: false,
  },
  audio_error: {
    status: 422,
    message: 'The voice text could not be synthesized, or audio_url could not be fetched.',
    retryable: false,
  },
  throttled: {
    status: 429,
    message: 'Too many requests. Wait for Retry-After seconds.',
    retryable: true,
  },
  idempotency_conflict: {
    status: 409,
    message: 'A request with the same Idempotency-Key is still processing.',
    retryable: true,
  },
  not_found: {
    status: 404,
    message: 'The resource does not exist or is not yours.',
    retryable: false,
  },
  unauthorized: {
    status: 401,
    message: 'Missing or invalid bearer token.',
    retryable: false,
  },
  forbidden: {
    status: 403,
    message: 'This token does not have the scope for this request.',
    retryable: false,
  },
  idempotency_key_mismatch: {
    status: 422,
    message: 'This Idempotency-Key was already used with a different request.',
    retryable: false,
  },
  payload_too_large: {
    status: 413,
    message: 'The request body is too large.',
    retryable: false,
  },
  internal_error: {
    status: 500,
    message: 'An internal error occurred. Retry with backoff.',
    retryable: true,
  },
  service_unavailable: {
    status: 503,
    message: 'The service is temporarily unavailable. Retry with backoff.',
    retryable: true,
  },
  idempotency_key_used: {
    status: 422,
    message: 'This Idempotency-Key already completed, but its response was not kept for replay. It will not run again: use a new key for a new request.',
    retryable: false,
  },
} as const satisfies ErrorCatalog;

/** A code of the built-in catalog. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Generic HTTP codes for an API that is not a messaging API: `new ApiError('conflict')` answers 409 with
 * `{"message":"…","error":"conflict"}`. Kept apart from {@link ERROR_CODES} (the documented page's codes,
 * which stay exactly as they are); a code of the page wins where both have one (422 is `invalid_request`
 * there, `unprocessable` here).
 *
 * @example
 * ```ts
 * throw new ApiError('gone', { message: 'This message was deleted.' }); // 410
 * ```
 */
export const GENERIC_CODES = {
  bad_request: { status: 400, message: 'The request could not be understood.', retryable: false },
  payment_required: { status: 402, message: 'Payment is required for this request.', retryable: false },
  method_not_allowed: { status: 405, message: 'This method is not allowed on this resource.', retryable: false },
  not_acceptable: { status: 406, message: 'No representation of this resource is acceptable to the client.', retryable: false },
  request_timeout: { status: 408, message: 'The request took too long to arrive. Retry it.', retryable: true },
  conflict: { status: 409, message: 'The request conflicts with the current state of the resource.', retryable: false },
  gone: { status: 410, message: 'The resource is gone.', retryable: false },
  length_required: { status: 411, message: 'The request needs a Content-Length.', retryable: false },
  precondition_failed: { status: 412, message: 'A precondition of the request failed.', retryable: false },
  unsupported_media_type: { status: 415, message: 'The request body is of a type this endpoint does not take.', retryable: false },
  unprocessable: { status: 422, message: 'The request could not be processed.', retryable: false },
  precondition_required: { status: 428, message: 'This request must be conditional.', retryable: false },
  too_many_requests: { status: 429, message: 'Too many requests. Wait for Retry-After seconds.', retryable: true },
  not_implemented: { status: 501, message: 'This endpoint is not implemented.', retryable: true },
  bad_gateway: { status: 502, message: 'An upstream service answered badly. Retry with backoff.', retryable: true },
  gateway_timeout: { status: 504, message: 'An upstream service did not answer in time. Retry with backoff.', retryable: true },
} as const satisfies ErrorCatalog;

/** A generic HTTP code ({@link GENERIC_CODES}). */
export type GenericCode = keyof typeof GENERIC_CODES;

/**
 * Codes used for statuses that reach bulwark without a code of their own (an `http-errors` object,
 * a non-JSON response seen by a client). Statuses without an entry get `client_error` or `server_error`.
 */
const STATUS_CODES: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  402: 'payment_required',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  410: 'gone',
  411: 'length_required',
  412: 'precondition_failed',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  422: 'invalid_request',
  428: 'precondition_required',
  429: 'throttled',
  431: 'request_header_fields_too_large',
  500: 'internal_error',
  501: 'not_implemented',
  502: 'bad_gateway',
  503: 'service_unavailable',
  504: 'gateway_timeout',
};

/**
 * The code bulwark uses for a bare HTTP status.
 *
 * @example
 * ```ts
 * codeForStatus(503); // 'service_unavailable'
 * codeForStatus(418); // 'client_error'
 * ```
 */
export function codeForStatus(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'server_error' : 'client_error');
}

/**
 * Whether a status is worth retrying when its code says nothing more: 5xx, 408 and 429.
 *
 * @example
 * ```ts
 * isRetryableStatus(502); // true
 * isRetryableStatus(403); // false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** Generic message for a bare status (never the text of the thrown value). */
export function messageForStatus(status: number): string {
  if (status >= 500) return ERROR_CODES.internal_error.message;
  return 'The request could not be completed.';
}
