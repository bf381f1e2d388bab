import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors/api-error.js';
import { ERROR_CODES, GENERIC_CODES, isRetryableStatus } from '../../src/errors/catalog.js';
import { formatError } from '../../src/errors/format.js';

describe('generic HTTP codes', () => {
  it('can be thrown, typed, with their status and the documented body', () => {
    const conflict = new ApiError('conflict', { message: 'This order was already paid.' });
    expect([conflict.status, conflict.code, conflict.retryable]).toEqual([409, 'conflict', false]);
    expect(JSON.parse(formatError(conflict).body)).toEqual({ message: 'This order was already paid.', error: 'conflict' });
    for (const [code, status] of [
      ['bad_request', 400],
      ['gone', 410],
      ['unprocessable', 422],
      ['too_many_requests', 429],
      ['bad_gateway', 502],
    ] as const) {
      expect(new ApiError(code).status).toBe(status);
      expect(formatError(new ApiError(code)).status).toBe(status);
    }
  });

  it('leave the documented catalog as it is, and agree with the status rule a client applies', () => {
    for (const code of Object.keys(GENERIC_CODES)) expect(Object.hasOwn(ERROR_CODES, code), code).toBe(false);
    for (const [code, spec] of Object.entries(GENERIC_CODES)) expect(spec.retryable, code).toBe(isRetryableStatus(spec.status));
  });

  it('an unknown code is still a type error and a TypeError', () => {
    // @ts-expect-error not a code of the catalog nor a generic one
    expect(() => new ApiError('conflicted')).toThrow(TypeError);
  });
});
