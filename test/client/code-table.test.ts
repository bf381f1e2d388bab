/**
 * Server and client agree on every code: for each code of the catalog (at its status, with its documented
 * body) and each bare status that the guards and the error handler can send (any body, or none), the
 * wrapper retries exactly when the catalog says the code is retryable, and `ApiError.fromResponse` gives
 * the same `retryable` flag. One table, over a real server.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/client/index.js';
import { codeForStatus, ERROR_CODES, type ErrorCodeSpec, isRetryableStatus } from '../../src/errors/catalog.js';
import { recordingClient, serverPool } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

const CATALOG = ERROR_CODES as Readonly<Record<string, ErrorCodeSpec>>;

/** What the catalog promises for a code sent with a status. */
function promised(code: string, status: number): boolean {
  const spec = Object.hasOwn(CATALOG, code) ? CATALOG[code] : undefined;
  if (spec !== undefined && spec.status === status) return spec.retryable ?? isRetryableStatus(status);
  return isRetryableStatus(status);
}

/** Sends one keyed POST (replay-safe, so only the response decides) with one retry allowed. */
async function exchange(status: number, body: string | Record<string, unknown>) {
  // Retry-After 0 lets a 429 or 409 be retried at once; it changes no decision.
  const server = await servers.start([{ status, body, headers: { 'retry-after': '0' } }]);
  const { fetch } = recordingClient({ breaker: false, retries: 1 });
  const res = await fetch(server.url, { method: 'POST', body: '{}' });
  const error = await ApiError.fromResponse(res);
  return { retried: server.hits.length === 2, hits: server.hits.length, error };
}

const codes = Object.entries(CATALOG).map(([code, spec]) => [code, spec.status] as const);
const BARE_STATUSES = [
  400, 401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416, 422, 428, 429, 431, 500, 501, 502,
  503, 504,
];

describe('the code table: the client does what the catalog says', () => {
  it('covers the code of a completed key whose response was not kept: 422, never retried', () => {
    expect(CATALOG.idempotency_key_used).toMatchObject({ status: 422, retryable: false });
    expect(codes.map(([code]) => code)).toContain('idempotency_key_used');
  });

  it.each(codes)('%s (%i): retried exactly when retryable, and fromResponse agrees', async (code, status) => {
    const { retried, hits, error } = await exchange(status, { message: 'From the server.', error: code });
    const retryable = promised(code, status);
    expect(retryable).toBe(CATALOG[code]!.retryable);
    expect({ code, retried, hits }).toEqual({ code, retried: retryable, hits: retryable ? 2 : 1 });
    expect([error.code, error.status, error.retryable]).toEqual([code, status, retryable]);
  });

  it.each(BARE_STATUSES)('bare %i without a documented body: retried exactly when retryable, and fromResponse agrees', async (status) => {
    const { retried, error } = await exchange(status, 'upstream said no');
    const retryable = promised(codeForStatus(status), status);
    expect({ status, retried }).toEqual({ status, retried: retryable });
    expect([error.code, error.status, error.retryable]).toEqual([codeForStatus(status), status, retryable]);
  });
});
