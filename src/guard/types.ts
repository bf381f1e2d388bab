/**
 * The seam between adapters and the core. An adapter turns a framework request into a
 * {@link RequestView}, asks a {@link Guard} for a {@link Decision}, and applies it.
 */

/** Response headers as an ordered list of name/value pairs (lower-case names; a name may repeat). */
export type HeaderPairs = Array<[name: string, value: string]>;

/** A framework-neutral view of one request. */
export interface RequestView<Req = unknown> {
  /** Upper-case method. */
  readonly method: string;
  /** Path without the query string, as received (not decoded). */
  readonly path: string;
  /** Raw query string without the leading `?`; empty when there is none. */
  readonly query: string;
  /** A header's value; several header lines are joined with `, `. Lower-case name. */
  header(name: string): string | undefined;
  /** A header's separate lines as received (used where two lines must be told apart). Lower-case name. */
  headerLines(name: string): string[];
  /** The address of the connected peer (the socket's remote address), if the runtime knows it. */
  readonly peer: string | undefined;
  /**
   * The request body: bytes as received, or the value a body parser already produced.
   * Only read by guards that need it (idempotency fingerprints). Answers synchronously when the body
   * is already at hand (a body parser ran), so that a guard can decide without a promise.
   * Bytes are read up to `maxBytes` (default 1048576); a longer body rejects with 413 `payload_too_large`.
   * Reading leaves the body for the application (a body parser mounted later reads the same bytes).
   */
  body(maxBytes?: number): RequestBody | Promise<RequestBody>;
  /** The framework's own request object (Express `req`, Koa `ctx`, a Web `Request`), passed to user callbacks. */
  readonly request: Req;
}

/** A request body as a guard sees it. */
export type RequestBody =
  | { kind: 'none' }
  | { kind: 'bytes'; bytes: Uint8Array; contentType: string | undefined }
  | { kind: 'parsed'; value: unknown; contentType: string | undefined };

/** A full response as sent by the application, captured for storage (idempotent replay). */
export interface CapturedResponse {
  status: number;
  /** The reason phrase the application chose, when it is not the standard one for `status`. */
  statusText?: string;
  headers: HeaderPairs;
  body: Uint8Array;
  /** True when the body was larger than the sink's `maxBytes` and was not kept whole. */
  truncated: boolean;
}

/**
 * Receives the application's response when a guard asked to see it. The adapter buffers the response,
 * awaits `complete` and only then sends it, so a stored result exists before the client can retry.
 */
export interface ResponseSink {
  /** Largest body kept in memory; beyond it `complete` gets `truncated: true` and an empty body. */
  readonly maxBytes: number;
  /**
   * The application produced this response. Gives (or resolves to) headers to add to the response
   * sent now; answers synchronously when the store did (never throws; a storage failure is the sink's
   * to handle).
   */
  complete(response: CapturedResponse): HeaderPairs | undefined | Promise<HeaderPairs | undefined>;
  /** The application threw, or the response never completed. Never throws. */
  abort(error: unknown): Promise<void>;
}

/**
 * How a request that a guard let through ended, as the adapter saw its response go out (see the `next`
 * Decision's `onOutcome`). The same on Express, Koa and fetch.
 */
export interface Outcome {
  /**
   * The status of the response sent: the application's, a later guard's (a 409 or a replay of the
   * idempotency guard), or the error handler's for a thrown error. For a response that closed before it
   * ended, the status it had then; 0 when the request was not handed on.
   */
  status: number;
  /** The response is an idempotent replay (`Idempotent-Replayed: true`): nothing ran this time. */
  replayed: boolean;
  /**
   * The application (or a guard after this one) threw or rejected, a body stream failed, or the
   * response was destroyed with an error.
   */
  thrown: boolean;
  /**
   * Whether the request was handed on past this guard. False when the client left before it could be
   * (the application never ran).
   */
  ran: boolean;
  /** Whether the response was sent whole. False when it closed first (the client left, a stream failed). */
  completed: boolean;
}

/** What a guard decided for one request. */
export type Decision =
  | {
      /** Continue to the application. */
      type: 'next';
      /** Headers to add to whatever response the application sends (for example `RateLimit`). */
      headers?: HeaderPairs;
      /** Capture the application's response and hand it to this sink before sending. */
      sink?: ResponseSink;
      /**
       * Tell this guard how the request ended: called exactly once by the adapter when the response
       * finished, closed before it ended, or the application threw; never called for a decision without
       * it (an adapter adds no listener, closure or promise for those). Never throws (an adapter ignores
       * a throw).
       */
      onOutcome?: (outcome: Outcome) => void;
    }
  | {
      /** Answer now; the application does not run. */
      type: 'respond';
      status: number;
      /** A reason phrase other than the standard one for `status` (a replay of a response that had one). */
      statusText?: string;
      headers: HeaderPairs;
      body: string | Uint8Array;
      /**
       * How the headers meet those that earlier middleware already set on this response. Without it (a
       * replayed response, which is whole), the first pair of each name replaces the header of that name,
       * so the replay carries the stored `Access-Control-Allow-Origin` once, not beside the one cors set
       * again. With it (an error decision), they are added, so two limiters give two `RateLimit` members.
       */
      appendHeaders?: boolean;
      /**
       * The thrown value behind an error decision that must be reported (a 5xx: a `key`, `cost` or
       * `scope` callback that failed, a store that is down), or whose headers were dropped. An adapter
       * hands it to the framework's error path (Express `next(err)`, a Koa rejection, `guard()`'s own
       * error handling) instead of writing the body itself, so that `errorHandler` reports it to
       * `onError` and formats it as it formats every other error (`format: 'problem'` included).
       */
      error?: unknown;
    };

/** A compiled, validated policy that decides on requests. Build one per middleware, not per request. */
export interface Guard<Req = unknown> {
  /** Name used in error messages and logs, for example `rateLimit`. */
  readonly name: string;
  /** Decides for one request. Never rejects: failures become a decision (an error response). */
  check(view: RequestView<Req>): Decision | Promise<Decision>;
}
