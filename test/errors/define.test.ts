import { describe, expect, it } from 'vitest';
import { isApiError } from '../../src/errors/api-error.js';
import { defineErrorCodes } from '../../src/errors/define.js';
import { formatError } from '../../src/errors/format.js';

describe('defineErrorCodes', () => {
  const { ApiError: AppError, catalog } = defineErrorCodes({
    template_not_found: { status: 404, message: 'No template has this id.' },
    quota_exhausted: { status: 429, message: 'Monthly quota used up.', retryable: false },
  });

  it('formats application codes like built-in ones', () => {
    const err = new AppError('template_not_found', { details: { template_id: 't_1' } });
    expect(isApiError(err)).toBe(true);
    expect(err.status).toBe(404);
    expect(err.retryable).toBe(false);
    expect(JSON.parse(formatError(err).body)).toEqual({
      message: 'No template has this id.',
      error: 'template_not_found',
      template_id: 't_1',
    });
    expect(new AppError('quota_exhausted').retryable).toBe(false);
    expect(new AppError('throttled').status).toBe(429);
    expect(catalog.template_not_found?.status).toBe(404);
  });

  it('makes a misspelt code a compile error', () => {
    // @ts-expect-error: 'template_not_fund' is not a defined code
    expect(() => new AppError('template_not_fund')).toThrow(TypeError);
  });

  it('refuses bad definitions with a TypeError naming the code', () => {
    expect(() => defineErrorCodes({ throttled: { status: 429, message: 'x' } })).toThrow(/"throttled" is built in/);
    expect(() => defineErrorCodes({ 'Bad-Code': { status: 400, message: 'x' } })).toThrow(TypeError);
    expect(() => defineErrorCodes({ odd: { status: 302, message: 'x' } })).toThrow(/codes\.odd\.status/);
    expect(() => defineErrorCodes({ odd: { status: 400, message: '' } })).toThrow(/codes\.odd\.message/);
  });
});
