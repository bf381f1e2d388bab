import createHttpError from 'http-errors';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors/api-error.js';
import { toApiError } from '../../src/errors/to-api-error.js';

describe('toApiError', () => {
  it('maps body-parser errors by type', () => {
    const cases: Array<[string, number, string]> = [
      ['entity.parse.failed', 422, 'invalid_request'],
      ['encoding.unsupported', 422, 'invalid_request'],
      ['charset.unsupported', 422, 'invalid_request'],
      ['request.size.invalid', 422, 'invalid_request'],
      ['entity.too.large', 413, 'payload_too_large'],
      ['parameters.too.many', 413, 'payload_too_large'],
    ];
    for (const [type, status, code] of cases) {
      const err = toApiError(Object.assign(new Error('raw text from the parser'), { type, status: 400 }));
      expect([err.status, err.code], type).toEqual([status, code]);
      expect(err.message).not.toContain('raw text');
    }
  });

  it("maps zlib's errors for a body that does not decompress to invalid_request, wrapped with a status or not", () => {
    for (const code of ['Z_DATA_ERROR', 'Z_BUF_ERROR']) {
      for (const status of [undefined, 400]) {
        const err = toApiError(Object.assign(new Error('incorrect header check'), { code, errno: -3, ...(status ? { status } : {}) }));
        expect([err.status, err.code]).toEqual([422, 'invalid_request']);
        expect(err.message).not.toContain('header check');
      }
    }
  });

  it("maps inflation's bare 415 for an unknown Content-Encoding (Koa) as body-parser's typed one", () => {
    const err = toApiError(createHttpError(415, 'Unsupported Content-Encoding: compress'));
    expect([err.status, err.code]).toEqual([422, 'invalid_request']);
    expect(err.message).toBe('The request body uses an unsupported content encoding.');
  });

  it('maps a JSON SyntaxError marked 400 (co-body) to invalid_request', () => {
    const err = toApiError(Object.assign(new SyntaxError('Unexpected token } in JSON'), { status: 400 }));
    expect(err.code).toBe('invalid_request');
    expect(err.message).not.toContain('Unexpected');
  });

  it('keeps http-errors status, safe headers and 4xx messages', () => {
    const err = toApiError(createHttpError(401, 'Token expired', { headers: { 'WWW-Authenticate': 'Bearer', 'Set-Cookie': 'a=b' } }));
    expect(err.status).toBe(401);
    expect(err.code).toBe('unauthorized');
    expect(err.message).toBe('Token expired');
    expect(err.headers).toEqual({ 'www-authenticate': 'Bearer' });
  });

  it('hides 5xx messages and messages marked expose: false', () => {
    expect(toApiError(createHttpError(503, 'db 10.0.0.3 down')).message).not.toContain('10.0.0.3');
    const hidden = toApiError(Object.assign(new Error('internal detail'), { status: 400, expose: false }));
    expect(hidden.status).toBe(400);
    expect(hidden.message).not.toContain('internal detail');
  });

  it('turns statuses outside 400-599 and anything unknown into internal_error', () => {
    for (const value of [
      Object.assign(new Error('x'), { status: 200 }),
      Object.assign(new Error('x'), { statusCode: 302 }),
      Object.assign(new Error('x'), { status: 'not a number' }),
      new TypeError('secret'),
      'string',
      42,
      undefined,
      null,
      Symbol('s'),
    ]) {
      const err = toApiError(value);
      expect(err.status).toBe(500);
      expect(err.code).toBe('internal_error');
      expect(err.message).toBe('An internal error occurred. Retry with backoff.');
    }
  });

  it('keeps an ApiError as it is', () => {
    const original = new ApiError('throttled');
    expect(toApiError(original)).toBe(original);
  });
});
