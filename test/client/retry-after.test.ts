import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../src/client/retry-after.js';
import { classifyNetworkError, statusVerdict } from '../../src/client/retry.js';

describe('parseRetryAfter', () => {
  const now = Date.UTC(1994, 10, 6, 8, 49, 0);

  it('reads whole seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('7', now)).toBe(7_000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
  });

  it('reads delay-seconds of any length (RFC 9110 sets no bound) as a delay, capped at MAX_SAFE_INTEGER ms', () => {
    expect(parseRetryAfter('9007199254740', now)).toBe(9_007_199_254_740_000);
    expect(parseRetryAfter('9999999999999999', now)).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseRetryAfter('9'.repeat(400), now)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('reads the three HTTP-date forms as GMT', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now)).toBe(37_000);
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(37_000);
    expect(parseRetryAfter('Sun Nov  6 08:49:37 1994', now)).toBe(37_000);
  });

  it('gives 0 for a date in the past', () => {
    expect(parseRetryAfter('Sat, 05 Nov 1994 08:49:37 GMT', now)).toBe(0);
  });

  it.each([null, undefined, '', 'soon', '-1', '1.5', '1e3', '0x10', '12abc', 'Sun, 31 Feb 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 25:49:37 GMT', '06 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 08:49:37 PST', '2015-10-21T07:28:00Z'])(
    'gives undefined for %j',
    (value) => {
      expect(parseRetryAfter(value as string | null | undefined, now)).toBeUndefined();
    },
  );
});

describe('classification', () => {
  it('retries 5xx, 408 and 429; looks into 409; never retries other 4xx', () => {
    expect([500, 502, 503, 504, 408, 429].map(statusVerdict)).toEqual(Array(6).fill('retry'));
    expect(statusVerdict(409)).toBe('conflict');
    expect([200, 301, 400, 401, 402, 403, 404, 422].map(statusVerdict)).toEqual(Array(8).fill('final'));
  });

  it('tells failures before the connection from failures after it', () => {
    const failed = (cause: unknown) => new TypeError('fetch failed', { cause });
    expect(classifyNetworkError(failed({ code: 'ECONNREFUSED' }))).toBe('before-connect');
    expect(classifyNetworkError(failed({ code: 'EAI_AGAIN' }))).toBe('before-connect');
    expect(classifyNetworkError(failed(new AggregateError([{ code: 'ECONNREFUSED' }, { code: 'ECONNREFUSED' }])))).toBe(
      'before-connect',
    );
    expect(classifyNetworkError(failed({ code: 'ECONNRESET' }))).toBe('network');
    expect(classifyNetworkError(failed({ code: 'UND_ERR_SOCKET' }))).toBe('network');
    expect(classifyNetworkError(failed({ code: 'UND_ERR_HEADERS_TIMEOUT' }))).toBe('network');
    expect(classifyNetworkError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe('network');
    expect(classifyNetworkError(new TypeError('Request with GET/HEAD method cannot have body.'))).toBeUndefined();
    expect(classifyNetworkError(new DOMException('aborted', 'AbortError'))).toBeUndefined();
    expect(classifyNetworkError('nope')).toBeUndefined();
  });

  it('never retries what repeating cannot fix (shapes seen from Node 20 fetch against real servers)', () => {
    const failed = (cause: unknown) => new TypeError('fetch failed', { cause });
    const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
    const permanent = [
      failed(new Error('redirect count exceeded')),
      failed(new Error('unexpected redirect')),
      failed(withCode('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT')),
      failed(withCode('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')),
      failed(withCode('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')),
      failed(withCode('certificate has expired', 'CERT_HAS_EXPIRED')),
      failed(withCode("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID')),
      failed(withCode('wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER')),
      failed(withCode('getaddrinfo ENOTFOUND nonexistent.invalid', 'ENOTFOUND')),
      failed(withCode('Response does not match the HTTP/1.1 protocol', 'HPE_INVALID_CONSTANT')),
      failed(new Error('unknown scheme')),
      failed(new Error('bad port')),
      failed(new Error('other')),
      new TypeError('fetch failed'),
      new TypeError('Failed to parse URL from http://exa mple.com/', { cause: withCode('Invalid URL', 'ERR_INVALID_URL') }),
      new TypeError('Headers.append: "a\nb" is an invalid header value.'),
    ];
    for (const error of permanent) expect(classifyNetworkError(error), String(error.cause ?? error)).toBeUndefined();
  });
});
