import { ApiError } from '../errors/api-error.js';
import { refuseUnknownOptions } from '../options/unknown-options.js';
import { DEFAULT_MAX_BODY_BYTES } from '../guard/read-limited.js';
import { errorDecision, NEXT } from '../guard/respond.js';
import type { Decision, Guard, RequestBody, RequestView } from '../guard/types.js';
import { MemoryStore } from '../stores/memory/index.js';
import { StoreUnavailableError } from '../stores/store-error.js';
import { publishIdempotency } from './events.js';
import { type Logger, validateLogger } from '../events/logger.js';
import { type BeginResult, IdempotencyEngine } from './engine.js';
import { fingerprint } from './fingerprint.js';
import { readKey, scopedKey } from './key.js';
import type { RecordErrorEvent } from './record-error.js';
import { replayDecision } from './replay.js';
import { defaultScope } from './scope.js';
import { type HasIdempotencyStore, type IdempotencyStore, isIdempotencyStore } from './store.js';

/** Options of {@link createIdempotency} (and of `idempotency()` on every adapter). */
export interface IdempotencyOptions<Req = unknown> {
  /**
   * Where claims and completed responses live: a `MemoryStore` (one process), a `RedisStore` (many
   * processes or hosts), or any object with an `idempotency` side (see `bulwark/testing`).
   * @default a new MemoryStore()
   * @example
   * ```ts
   * idempotency({ store: new RedisStore(new Redis(process.env.REDIS_URL)) })
   * ```
   */
  store?: HasIdempotencyStore | IdempotencyStore;
  /**
   * The account a request belongs to (an account id, a token). Keys are stored per scope (hashed with
   * it), so one account can never replay another's response. Returning `undefined` puts the request in
   * the shared scope; throwing (for example an `ApiError('unauthorized')`) answers with that error.
   * Set it whenever the API knows its caller: the default changes when any cookie does (a retry with
   * changed cookies runs again), and misses credentials carried elsewhere (query, client certificate).
   * @default the request's `Authorization`, `Cookie` and `X-API-Key` headers together (requests with
   * none of them share a scope)
   * @example
   * ```ts
   * idempotency({ scope: (req) => req.user?.accountId })
   * ```
   */
  scope?: (request: Req) => string | undefined | null | Promise<string | undefined | null>;
  /**
   * Refuse requests of the guarded methods that carry no key (422 `invalid_request`).
   * @default false
   * @example
   * ```ts
   * idempotency({ required: true })
   * ```
   */
  required?: boolean;
  /**
   * Methods that keys apply to. Safe methods (GET, HEAD, OPTIONS) are always passed through and are
   * refused here.
   * @default ['POST', 'PATCH']
   * @example
   * ```ts
   * idempotency({ methods: ['POST', 'PUT', 'PATCH', 'DELETE'] })
   * ```
   */
  methods?: readonly string[];
  /**
   * How long a completed response is kept for replay, in milliseconds (from completion).
   * @default 86400000 (24 hours)
   * @example
   * ```ts
   * idempotency({ ttlMs: 60 * 60 * 1000 })
   * ```
   */
  ttlMs?: number;
  /**
   * Lease of a claim, in milliseconds, renewed every third of it while the handler runs. A process that
   * dies while it holds a key blocks that key for one lease, not for `ttlMs`.
   * @default 10000
   * @example
   * ```ts
   * idempotency({ leaseMs: 5000 })
   * ```
   */
  leaseMs?: number;
  /**
   * A duplicate that arrives while the first request runs waits up to this many milliseconds for it to
   * finish, then gets the replay (or runs, if the first released the key). `false` or `0`: answer
   * 409 `idempotency_conflict` at once.
   * @default false
   * @example
   * ```ts
   * idempotency({ wait: 2000 })
   * ```
   */
  wait?: number | false;
  /**
   * Largest response body kept for replay, in bytes. A larger response is still sent (streamed), and
   * once its body has ended its key is recorded as completed but not replayable: a retry gets 422
   * `idempotency_key_used` (with `replayable: false`) and the handler never runs twice.
   * @default 1048576 (1 MiB)
   * @example
   * ```ts
   * idempotency({ maxResponseBytes: 64 * 1024 })
   * ```
   */
  maxResponseBytes?: number;
  /**
   * Largest request body read for the fingerprint of a keyed request when no body parser ran before
   * the guard, in bytes; a longer keyed body gets 413 `payload_too_large` (the handler does not run).
   * Reading leaves the body in the request: a body parser mounted after the guard still reads it, with its
   * own limit (so set this at least as high as that limit). When a body parser ran first, its limit
   * applies and the guard reads nothing. On the fetch adapter, a clone of the body is read.
   * @default 1048576 (1 MiB)
   * @example
   * ```ts
   * app.use(idempotency({ maxBodyBytes: 10 * 1024 * 1024 })); // uploads of up to 10 MiB
   * ```
   */
  maxBodyBytes?: number;
  /**
   * Which statuses are stored for replay; any other releases the key (a retry runs again). A thrown
   * error always releases the key.
   * @default (status) => status < 500
   * @example
   * ```ts
   * idempotency({ shouldStore: (status) => status < 500 || status === 503 })
   * ```
   */
  shouldStore?: (status: number) => boolean;
  /**
   * Request header that carries the key (case-insensitive).
   * @default 'Idempotency-Key'
   * @example
   * ```ts
   * idempotency({ header: 'X-Request-Id' })
   * ```
   */
  header?: string;
  /**
   * Longest wait for any store operation, in milliseconds. A store that is down or slower answers
   * 503 `service_unavailable`; the handler never runs unprotected.
   * @default 1000
   * @example
   * ```ts
   * idempotency({ storeTimeoutMs: 300 })
   * ```
   */
  storeTimeoutMs?: number;
  /**
   * Told when the store could not keep the promise that a completed request never runs again: its
   * response could not be stored (`'not_replayable'`: a retry gets 422 `idempotency_key_used`), not even that (`'not_recorded'`),
   * or the claim was lost while the handler ran (`'claim_lost'`). Events carry a digest of the key, never
   * the key or the scope.
   * @default one `console.error` line: `bulwark: idempotency: <what happened> [key #<digest>]`
   * @example
   * ```ts
   * idempotency({ onRecordError: ({ kind, id, error }) => logger.error({ kind, id, err: error }) })
   * ```
   */
  onRecordError?: (event: RecordErrorEvent) => void;
  /**
   * Where the default `onRecordError` line (`bulwark: idempotency: ...`) is written: anything with
   * `warn(message)` and `error(message)` (console, a pino or winston logger); the line goes to `error`.
   * Unused when `onRecordError` is given. A logger that throws loses the line, never the request.
   * @default console
   * @example
   * ```ts
   * idempotency({ store, logger: pino() })
   * ```
   */
  logger?: Logger;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NAME = 'idempotency';
const OPTION_NAMES: ReadonlySet<string> = new Set([
  'store',
  'scope',
  'required',
  'methods',
  'ttlMs',
  'leaseMs',
  'wait',
  'maxResponseBytes',
  'maxBodyBytes',
  'shouldStore',
  'header',
  'storeTimeoutMs',
  'onRecordError',
  'logger',
]);

/**
 * Builds the idempotency guard shared by every adapter: the first request with a key runs, a
 * duplicate while it runs gets 409 `idempotency_conflict` (with `Retry-After`), a duplicate after it
 * completed gets the stored status, headers and body with `Idempotent-Replayed: true`, and the same key
 * with another method, path, query or body gets 422 `idempotency_key_mismatch`.
 *
 * @example
 * ```ts
 * import { createIdempotency, MemoryStore } from 'bulwark';
 * const guard = createIdempotency({ store: new MemoryStore(), required: true });
 * ```
 */
export function createIdempotency<Req = unknown>(options: IdempotencyOptions<Req> = {}): Guard<Req> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${NAME}: options must be an object`);
  refuseUnknownOptions(NAME, options, OPTION_NAMES);
  const store = resolveStore(options.store);
  const scope = options.scope;
  if (scope !== undefined && typeof scope !== 'function') {
    throw new TypeError(`${NAME}: options.scope must be a function (request) => string | undefined`);
  }
  const required = options.required ?? false;
  if (typeof required !== 'boolean') throw new TypeError(`${NAME}: options.required must be a boolean`);
  const methods = resolveMethods(options.methods);
  const ttlMs = positiveInteger(options.ttlMs ?? 86_400_000, 'ttlMs');
  const leaseMs = positiveInteger(options.leaseMs ?? 10_000, 'leaseMs');
  if (leaseMs < 3) throw new TypeError(`${NAME}: options.leaseMs must be at least 3 milliseconds`);
  if (ttlMs < leaseMs) throw new TypeError(`${NAME}: options.ttlMs must not be shorter than options.leaseMs`);
  const wait = options.wait ?? false;
  if (wait !== false && (!Number.isInteger(wait) || (wait as number) < 0)) {
    throw new TypeError(`${NAME}: options.wait must be false or a non-negative integer number of milliseconds`);
  }
  const maxResponseBytes = options.maxResponseBytes ?? 1_048_576;
  if (!Number.isInteger(maxResponseBytes) || maxResponseBytes < 0) {
    throw new TypeError(`${NAME}: options.maxResponseBytes must be a non-negative integer`);
  }
  const maxBodyBytes = options.maxBodyBytes === undefined ? DEFAULT_MAX_BODY_BYTES : options.maxBodyBytes;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new TypeError(`${NAME}: options.maxBodyBytes must be a non-negative integer number of bytes`);
  }
  const shouldStore = options.shouldStore ?? ((status: number) => status < 500);
  if (typeof shouldStore !== 'function') throw new TypeError(`${NAME}: options.shouldStore must be a function (status) => boolean`);
  const headerOption = options.header ?? 'Idempotency-Key';
  if (typeof headerOption !== 'string' || !TOKEN.test(headerOption)) {
    throw new TypeError(`${NAME}: options.header must be a header name`);
  }
  const header = headerOption.toLowerCase();
  const storeTimeoutMs = positiveInteger(options.storeTimeoutMs ?? 1000, 'storeTimeoutMs');
  const onRecordError = options.onRecordError;
  if (onRecordError !== undefined && typeof onRecordError !== 'function') throw new TypeError(`${NAME}: options.onRecordError must be a function`);
  const logger = validateLogger(NAME, options.logger);

  const engine = new IdempotencyEngine({
    store,
    ttlMs,
    leaseMs,
    waitMs: wait === false ? 0 : wait,
    maxResponseBytes,
    shouldStore,
    storeTimeoutMs,
    onRecordError,
    logger,
  });

  /** The scope of a request: the `scope` option's answer, or the credential headers (see defaultScope). */
  function account(view: RequestView<Req>): string | Promise<string> {
    if (!scope) return defaultScope(view);
    const answer = scope(view.request);
    return isThenable(answer) ? Promise.resolve(answer).then((value) => `u:${value ?? ''}`) : `u:${answer ?? ''}`;
  }

  /**
   * Scope, body, claim. Synchronous from start to end when each step is (no `scope` promise, a body a
   * parser already read, the memory store): a fresh key then costs no promise at all.
   */
  function decide(view: RequestView<Req>, key: string): Decision | Promise<Decision> {
    const scoped = account(view);
    // The scope is settled before the body is read: a request its scope refuses is not read at all.
    if (isThenable(scoped)) return Promise.resolve(scoped).then((who) => withBody(view, who, key)).catch(errorDecision);
    return withBody(view, scoped, key);
  }

  function withBody(view: RequestView<Req>, who: string, key: string): Decision | Promise<Decision> {
    const body = view.body(maxBodyBytes);
    if (isThenable(body)) return Promise.resolve(body).then((read) => claim(view, who, key, read), errorDecision);
    return claim(view, who, key, body);
  }

  function claim(view: RequestView<Req>, who: string, key: string, body: RequestBody): Decision | Promise<Decision> {
    let fp: string;
    let begun: BeginResult | Promise<BeginResult>;
    try {
      fp = fingerprint(view.method, view.path, view.query, body);
    } catch (err) {
      return errorDecision(err);
    }
    const stored = scopedKey(who, key);
    try {
      begun = engine.begin(stored, fp);
    } catch (err) {
      return unavailable(err, stored);
    }
    if (isThenable(begun)) {
      return begun.then(
        (result) => outcome(result, fp, stored),
        (err: unknown) => unavailable(err, stored),
      );
    }
    return outcome(begun, fp, stored);
  }

  return {
    name: NAME,
    check(view) {
      if (!methods.has(view.method)) return NEXT;
      try {
        const read = readKey(view.headerLines(header), headerOption);
        if ('missing' in read) {
          if (!required) return NEXT;
          return errorDecision(new ApiError('invalid_request', { message: `This request requires an ${headerOption} header.` }));
        }
        if ('problem' in read) return errorDecision(new ApiError('invalid_request', { message: read.problem }));
        return decide(view, read.key);
      } catch (err) {
        return errorDecision(err);
      }
    },
  };
}

/** What a claim came to: run the application (and capture its response), or answer for it. */
function outcome(result: BeginResult, fp: string, stored: string): Decision {
  if (result.type === 'run') {
    publishIdempotency('claim', stored);
    return { type: 'next', sink: result.sink };
  }
  return answer(result, fp, stored);
}

/** The store failed or did not answer in time: 503, never the application unprotected. */
function unavailable(err: unknown, stored: string): Decision {
  publishIdempotency('store-failure', stored);
  const cause = err instanceof StoreUnavailableError ? err : new StoreUnavailableError('idempotency store failed', { cause: err });
  return errorDecision(new ApiError('service_unavailable', { cause }));
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** The answer to a key that another request holds or completed. */
function answer(result: Exclude<BeginResult, { type: 'run' }>, fp: string, stored: string): Decision {
  if (result.fingerprint !== fp) {
    publishIdempotency('mismatch', stored);
    return errorDecision(new ApiError('idempotency_key_mismatch'));
  }
  if (result.type === 'in_flight') {
    publishIdempotency('conflict', stored);
    return errorDecision(new ApiError('idempotency_conflict', { headers: { 'retry-after': '1' } }));
  }
  const response = result.response;
  if (response === null) {
    publishIdempotency('replay', stored, undefined, false);
    return errorDecision(
      new ApiError('idempotency_key_used', {
        message:
          'A request with this Idempotency-Key already completed, but its response was too large to keep for replay. It will not run again.',
        details: { replayable: false },
      }),
    );
  }
  publishIdempotency('replay', stored, response.status);
  return replayDecision(response);
}

function resolveStore(store: IdempotencyOptions['store']): IdempotencyStore {
  if (store === undefined) return new MemoryStore().idempotency as IdempotencyStore;
  if (isIdempotencyStore(store)) return store;
  const side = typeof store === 'object' && store !== null ? (store as { idempotency?: unknown }).idempotency : undefined;
  if (isIdempotencyStore(side)) return side;
  throw new TypeError(`${NAME}: options.store must be a MemoryStore, a RedisStore, or a store with an idempotency side`);
}

function resolveMethods(methods: readonly string[] | undefined): Set<string> {
  if (methods === undefined) return new Set(['POST', 'PATCH']);
  if (!Array.isArray(methods) || methods.length === 0) {
    throw new TypeError(`${NAME}: options.methods must be a non-empty array of method names`);
  }
  const out = new Set<string>();
  for (const method of methods) {
    if (typeof method !== 'string' || !TOKEN.test(method)) throw new TypeError(`${NAME}: options.methods must hold method names`);
    const upper = method.toUpperCase();
    if (SAFE_METHODS.has(upper)) throw new TypeError(`${NAME}: options.methods must not include ${upper} (safe methods pass untouched)`);
    out.add(upper);
  }
  return out;
}

function positiveInteger(value: unknown, name: string): number {
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new TypeError(`${NAME}: options.${name} must be a positive integer number of milliseconds`);
  }
  return value as number;
}
