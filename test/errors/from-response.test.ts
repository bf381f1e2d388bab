import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors/api-error.js';

describe('ApiError.fromResponse', () => {
  it('reads a documented body', async () => {
    const res = new Response(
      JSON.stringify({ message: 'This send would exceed your daily spend limit.', error: 'spend_limit_exceeded', period: 'daily' }),
      { status: 403, headers: { 'content-type': 'application/json' } },
    );
    const err = await ApiError.fromResponse(res);
    expect(err.code).toBe('spend_limit_exceeded');
    expect(err.status).toBe(403);
    expect(err.message).toBe('This send would exceed your daily spend limit.');
    expect(err.details).toEqual({ period: 'daily' });
    expect(err.retryable).toBe(false);
  });

  it('reads a problem+json body', async () => {
    const res = new Response(
      JSON.stringify({ type: 'urn:x', title: 't', status: 429, detail: 'Slow down.', error: 'throttled' }),
      { status: 429, headers: { 'retry-after': '4' } },
    );
    const err = await ApiError.fromResponse(res);
    expect([err.code, err.message, err.retryable, err.headers['retry-after']]).toEqual(['throttled', 'Slow down.', true, '4']);
  });

  it('derives a code from the status for non-JSON, truncated or foreign bodies', async () => {
    const cases: Array<[BodyInit | null, number, string, boolean]> = [
      ['<html>Bad Gateway</html>', 502, 'bad_gateway', true],
      ['{"message":"cut', 500, 'internal_error', true],
      ['', 404, 'not_found', false],
      [null, 429, 'throttled', true],
      ['{"error":{"nested":true}}', 400, 'bad_request', false],
      ['[1,2]', 409, 'conflict', false],
      ['{"error":"Not A Code"}', 418, 'client_error', false],
    ];
    for (const [body, status, code, retryable] of cases) {
      const err = await ApiError.fromResponse(new Response(body, { status }));
      expect([err.code, err.status, err.retryable], `${status} ${String(body)}`).toEqual([code, status, retryable]);
    }
  });

  it('does not throw when the body stream fails', async () => {
    const body = new ReadableStream({
      pull(controller) {
        controller.error(new Error('socket hang up'));
      },
    });
    const err = await ApiError.fromResponse(new Response(body, { status: 503 }));
    expect(err.code).toBe('service_unavailable');
  });

  it('refuses a status below 400 with a TypeError, leaving the body unread', async () => {
    const res = new Response('ok', { status: 200 });
    await expect(ApiError.fromResponse(res)).rejects.toThrow(new TypeError('ApiError.fromResponse: status 200 is not an error status (400-599); check res.ok first'));
    expect(await res.text()).toBe('ok');
  });
});
