/**
 * Thrown values of every hostile shape, each with the answer bulwark must give for it: whatever was
 * thrown, the client gets the documented JSON body with a stable code. Factories, so that every request
 * throws a fresh value.
 */
import createHttpError from 'http-errors';
import { ApiError } from '../../src/errors/api-error.js';

export interface WeirdCase {
  name: string;
  make: () => unknown;
  status: number;
  error: string;
  /** The exact message when it is known (else only its type is checked). */
  message?: string;
  /** Headers the answer must carry (value) or must not carry (undefined). */
  headers?: Record<string, string | undefined>;
  /** Header names dropped because Node or fetch would refuse them (reported through onError). */
  dropped?: string[];
}

const GENERIC_500 = 'An internal error occurred. Retry with backoff.';

function thrower(what: string): () => never {
  return () => {
    throw new Error(`${what} threw at /srv/app/secret.js:1`);
  };
}

/** A Proxy whose every trap throws. */
function hostileProxy(target: object = {}): object {
  const trap = () => {
    throw new Error('trap at /srv/app/secret.js:2');
  };
  return new Proxy(target, {
    get: trap,
    has: trap,
    getPrototypeOf: trap,
    ownKeys: trap,
    getOwnPropertyDescriptor: trap,
    set: trap,
    defineProperty: trap,
    deleteProperty: trap,
    isExtensible: trap,
    preventExtensions: trap,
    setPrototypeOf: trap,
    apply: trap,
    construct: trap,
  });
}

function withGetter(err: object, prop: string): object {
  Object.defineProperty(err, prop, { get: thrower(`getter ${prop}`), configurable: true });
  return err;
}

function cyclic(): Record<string, unknown> {
  const a: Record<string, unknown> = { x: 1 };
  a.self = a;
  return a;
}

export const WEIRD_CASES: WeirdCase[] = [
  {
    name: 'http-error with a non-Latin-1 WWW-Authenticate',
    make: () => createHttpError(401, 'Token expired', { headers: { 'WWW-Authenticate': 'Bearer realm="☃ api"' } }),
    status: 401,
    error: 'unauthorized',
    message: 'Token expired',
    headers: { 'www-authenticate': undefined },
    dropped: ['www-authenticate'],
  },
  {
    name: 'http-error with CRLF in Retry-After',
    make: () => createHttpError(429, 'Slow down', { headers: { 'Retry-After': '1\r\nX-Injected: 1' } }),
    status: 429,
    error: 'throttled',
    headers: { 'retry-after': undefined, 'x-injected': undefined },
    dropped: ['retry-after'],
  },
  {
    name: 'ApiError with an invalid header name beside a good header',
    make: () => new ApiError('unauthorized', { headers: { 'bad name': 'x', 'www-authenticate': 'Bearer realm="api"' } }),
    status: 401,
    error: 'unauthorized',
    headers: { 'www-authenticate': 'Bearer realm="api"' },
    dropped: ['bad name'],
  },
  {
    name: 'ApiError with a control character and a non-Latin-1 character in header values',
    make: () => new ApiError('not_found', { headers: { 'x-trace': 'a\u0001b', 'x-name': 'ok', 'x-snow': '☃' } }),
    status: 404,
    error: 'not_found',
    headers: { 'x-trace': undefined, 'x-name': 'ok', 'x-snow': undefined },
    dropped: ['x-trace', 'x-snow'],
  },
  {
    name: 'ApiError whose headers would change the framing (Content-Length, Transfer-Encoding)',
    make: () => new ApiError('not_found', { headers: { 'content-length': '99999', 'transfer-encoding': 'chunked' } }),
    status: 404,
    error: 'not_found',
    dropped: ['content-length', 'transfer-encoding'],
  },
  {
    name: 'ApiError with a non-string header value',
    make: () => new ApiError('throttled', { headers: { 'retry-after': 7 as unknown as string, 'x-obj': {} as unknown as string } }),
    status: 429,
    error: 'throttled',
    headers: { 'retry-after': '7', 'x-obj': undefined },
    dropped: ['x-obj'],
  },
  ...['status', 'statusCode'].map(
    (prop): WeirdCase => ({
      name: `an error whose ${prop} getter throws`,
      make: () => withGetter(new Error('boom /srv/app'), prop),
      status: 500,
      error: 'internal_error',
      message: GENERIC_500,
    }),
  ),
  {
    name: 'an http-error whose message getter throws',
    make: () => withGetter(createHttpError(404, 'Gone fishing'), 'message'),
    status: 404,
    error: 'not_found',
    message: 'The request could not be completed.',
  },
  {
    name: 'an http-error whose headers getter throws',
    make: () => withGetter(createHttpError(429, 'Slow down'), 'headers'),
    status: 429,
    error: 'throttled',
    message: 'Slow down',
  },
  {
    name: 'an http-error whose headers object has a throwing getter and throwing ownKeys',
    make: () => Object.assign(createHttpError(429, 'Slow down'), { headers: hostileProxy() }),
    status: 429,
    error: 'throttled',
  },
  {
    name: 'an http-error whose expose getter throws (the message is not exposed)',
    make: () => withGetter(createHttpError(400, 'db password is hunter2'), 'expose'),
    status: 400,
    error: 'bad_request',
    message: 'The request could not be completed.',
  },
  ...['type', 'code', 'name', 'stack'].map(
    (prop): WeirdCase => ({
      name: `an http-error whose ${prop} getter throws`,
      make: () => withGetter(createHttpError(404, 'Gone fishing'), prop),
      status: 404,
      error: 'not_found',
      message: 'Gone fishing',
    }),
  ),
  { name: 'a Proxy that throws on every trap', make: () => hostileProxy(), status: 500, error: 'internal_error', message: GENERIC_500 },
  {
    name: 'a Proxy of an Error that throws on every trap',
    make: () => hostileProxy(new Error('x')),
    status: 500,
    error: 'internal_error',
  },
  {
    name: 'a Proxy of an http-error that throws on getPrototypeOf and has only',
    make: () =>
      new Proxy(createHttpError(404, 'Gone fishing'), {
        getPrototypeOf: thrower('getPrototypeOf'),
        has: thrower('has'),
      }),
    status: 404,
    error: 'not_found',
    message: 'Gone fishing',
  },
  {
    name: 'a revoked Proxy',
    make: () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    },
    status: 500,
    error: 'internal_error',
  },
  { name: 'an object whose toString throws', make: () => ({ toString: thrower('toString') }), status: 500, error: 'internal_error' },
  {
    name: 'an object whose Symbol.toPrimitive and valueOf throw',
    make: () => ({ [Symbol.toPrimitive]: thrower('toPrimitive'), valueOf: thrower('valueOf') }),
    status: 500,
    error: 'internal_error',
  },
  { name: 'Object.create(null)', make: () => Object.create(null), status: 500, error: 'internal_error' },
  {
    name: 'Object.create(null) with a status',
    make: () => Object.assign(Object.create(null), { status: 403, message: 'Nope' }),
    status: 403,
    error: 'forbidden',
    message: 'Nope',
  },
  { name: 'a symbol', make: () => Symbol('secret /srv/app'), status: 500, error: 'internal_error' },
  { name: 'a bigint', make: () => 10n, status: 500, error: 'internal_error' },
  { name: 'a function with a status', make: () => Object.assign(() => {}, { status: 404 }), status: 500, error: 'internal_error' },
  {
    name: 'ApiError with a bigint in its details',
    make: () => new ApiError('invalid_request', { message: 'Bad n.', details: { n: 10n } }),
    status: 422,
    error: 'invalid_request',
    message: 'Bad n.',
  },
  {
    name: 'ApiError with a cycle in its details',
    make: () => new ApiError('invalid_request', { message: 'Bad cycle.', details: { c: cyclic() } }),
    status: 422,
    error: 'invalid_request',
    message: 'Bad cycle.',
  },
  {
    name: 'ApiError with a throwing toJSON in its details',
    make: () => new ApiError('invalid_request', { message: 'Bad json.', details: { j: { toJSON: thrower('toJSON') } } }),
    status: 422,
    error: 'invalid_request',
    message: 'Bad json.',
  },
  {
    name: 'ApiError whose message was replaced by a hostile object',
    make: () => Object.assign(new ApiError('not_found'), { message: { toJSON: thrower('toJSON'), toString: thrower('toString') } }),
    status: 404,
    error: 'not_found',
    message: 'The resource does not exist or is not yours.',
  },
  {
    name: 'ApiError whose details and headers getters throw',
    make: () => withGetter(withGetter(new ApiError('not_found'), 'details'), 'headers'),
    status: 404,
    error: 'not_found',
  },
  {
    name: 'ApiError whose status was replaced by a bad one',
    make: () => Object.assign(new ApiError('not_found'), { status: 1000 }),
    status: 404,
    error: 'not_found',
  },
  {
    name: 'a forged ApiError marker on a plain object',
    make: () => ({ [Symbol.for('bulwark.ApiError')]: true, code: 42, status: 'x', headers: 'no' }),
    status: 500,
    error: 'internal_error',
  },
  ...[1000, Number.NaN, '404', Number.POSITIVE_INFINITY, -1, 404.5].map(
    (status): WeirdCase => ({
      name: `an error with status ${String(typeof status === 'string' ? `'${status}'` : status)}`,
      make: () => Object.assign(new Error('odd'), { status }),
      status: 500,
      error: 'internal_error',
      message: GENERIC_500,
    }),
  ),
  {
    name: 'an http-error-like object whose headers are a Map',
    make: () => ({ status: 429, message: 'Slow down', headers: new Map([['Retry-After', '3']]) }),
    status: 429,
    error: 'throttled',
    headers: { 'retry-after': '3' },
  },
  {
    name: 'an http-error-like object whose headers are an array of pairs',
    make: () => ({ status: 429, message: 'Slow down', headers: [['Retry-After', '4']] }),
    status: 429,
    error: 'throttled',
    headers: { 'retry-after': '4' },
  },
  {
    name: 'an http-error-like object whose headers are a Headers object',
    make: () => ({ status: 401, message: 'Who?', headers: new Headers({ 'www-authenticate': 'Basic' }) }),
    status: 401,
    error: 'unauthorized',
    headers: { 'www-authenticate': 'Basic' },
  },
];
