import { describe, expect, it } from 'vitest';
import { ApiError, isApiError } from '../../src/errors/api-error.js';
import { codeForStatus, ERROR_CODES, type ErrorCode } from '../../src/errors/catalog.js';
import { formatError } from '../../src/errors/format.js';

/** The documented codes: renaming, removing or re-statusing one must fail here. */
const DOCUMENTED: Record<ErrorCode, { status: number; retryable: boolean }> = {
  insufficient_balance: { status: 402, retryable: false },
  spend_limit_exceeded: { status: 403, retryable: false },
  ip_not_allowed: { status: 403, retryable: false },
  traffic_not_routable: { status: 422, retryable: false },
  sender_not_approved: { status: 422, retryable: false },
  no_valid_recipients: { status: 422, retryable: false },
  no_valid_numbers: { status: 422, retryable: false },
  invalid_recipient: { status: 422, retryable: false },
  invalid_request: { status: 422, retryable: false },
  audio_error: { status: 422, retryable: false },
  throttled: { status: 429, retryable: true },
  idempotency_conflict: { status: 409, retryable: true },
  not_found: { status: 404, retryable: false },
  unauthorized: { status: 401, retryable: false },
  forbidden: { status: 403, retryable: false },
  idempotency_key_mismatch: { status: 422, retryable: false },
  payload_too_large: { status: 413, retryable: false },
  internal_error: { status: 500, retryable: true },
  service_unavailable: { status: 503, retryable: true },
  idempotency_key_used: { status: 422, retryable: false },
};

describe('the catalog', () => {
  it('holds exactly the documented codes with their statuses', () => {
    expect(Object.keys(ERROR_CODES).sort()).toEqual(Object.keys(DOCUMENTED).sort());
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(spec.status, code).toBe(DOCUMENTED[code as ErrorCode].status);
    }
  });

  it.each(Object.keys(DOCUMENTED) as ErrorCode[])('%s formats to its status, body and retryable flag', (code) => {
    const err = new ApiError(code);
    expect(err.status).toBe(DOCUMENTED[code].status);
    expect(err.retryable).toBe(DOCUMENTED[code].retryable);
    expect(isApiError(err)).toBe(true);
    const formatted = formatError(err);
    expect(formatted.status).toBe(DOCUMENTED[code].status);
    expect(formatted.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(formatted.body)).toEqual({ message: ERROR_CODES[code].message, error: code });
  });

  it('marks 5xx, 429 and idempotency_conflict retryable and 402/403 not', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      const expected = spec.status >= 500 || spec.status === 429 || code === 'idempotency_conflict';
      expect(new ApiError(code as ErrorCode).retryable, code).toBe(expected);
    }
  });

  it('puts message and error first, details beside them, and never lets details override them', () => {
    const err = new ApiError('traffic_not_routable', {
      details: { traffic_type: 'marketing', error: 'spoofed', message: 'spoofed' },
    });
    const { body } = formatError(err);
    expect(body).toBe(
      '{"message":"No route is configured for this traffic type.","error":"traffic_not_routable","traffic_type":"marketing"}',
    );
  });

  it('keeps headers given to the error', () => {
    const { headers } = formatError(new ApiError('throttled', { headers: { 'Retry-After': '3' } }));
    expect(headers['retry-after']).toBe('3');
  });

  it('refuses an unknown code at run time', () => {
    expect(() => new ApiError('not_a_code' as ErrorCode)).toThrow(TypeError);
    expect(() => new ApiError('not_a_code' as ErrorCode)).toThrow(/not_a_code/);
  });

  it('derives codes for bare statuses', () => {
    expect(codeForStatus(401)).toBe('unauthorized');
    expect(codeForStatus(418)).toBe('client_error');
    expect(codeForStatus(599)).toBe('server_error');
    expect(codeForStatus(503)).toBe('service_unavailable');
  });

  it('survives a detail that cannot be serialised', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    const { body } = formatError(new ApiError('invalid_request', { details: { loop } }));
    expect(JSON.parse(body)).toEqual({ message: ERROR_CODES.invalid_request.message, error: 'invalid_request' });
  });
});

describe('isApiError', () => {
  it('recognises errors by marker, not by class identity', () => {
    const foreign = new ApiError('throttled');
    Object.setPrototypeOf(foreign, Error.prototype);
    expect(isApiError(foreign)).toBe(true);
    expect(isApiError(new Error('x'))).toBe(false);
    expect(isApiError({ code: 'throttled', status: 429 })).toBe(false);
    expect(isApiError(null)).toBe(false);
    expect(isApiError('throttled')).toBe(false);
  });
});
