/**
 * `AttemptTimer`: the time limit of one attempt (the smaller of `timeoutMs` and what is left of the
 * deadline), enforced through the signal that the attempt's `fetch` gets.
 *
 * The limit covers the response body too. Node's fetch (undici) ties a response's body to the signal of
 * its request: aborting that signal errors the body stream, and every way of reading it (`text()`,
 * `json()`, `arrayBuffer()`, `blob()`, `formData()`, a reader of `body`) rejects with the signal's
 * reason. So the timer of the attempt that ends the call is not cleared when the headers arrive: it
 * stays armed, and when it fires, a body still being read fails with `deadline_exceeded` or
 * `attempt_timeout`. The body is never wrapped, and nothing is done per chunk.
 *
 * The timer is cleared as soon as nothing is left to cover ({@link AttemptTimer.cover}): at once for a
 * response without a body (a 204, a HEAD), and when one of the response's own readers (`text()`,
 * `json()`, `arrayBuffer()`, `blob()`, `bytes()`, `formData()`) settles. A body read through its
 * stream keeps the timer until it fires; the abort then finds nothing to abort and changes nothing (the
 * connection stays in the pool). Clearing matters: a timer left armed holds its controller and signal
 * for the whole timeout, and at a few thousand calls a second that is a heap of live objects that the
 * collector must walk again and again (a timed call costs about a fifth more instructions that way).
 */
import { FetchTimeoutError } from './errors.js';

export class AttemptTimer {
  readonly controller = new AbortController();
  /** The error the attempt was aborted with, once the timer fired. */
  fired: FetchTimeoutError | undefined;
  #handle: NodeJS.Timeout | undefined;
  #code: 'attempt_timeout' | 'deadline_exceeded';
  #limitMs: number;

  /**
   * @param ms when the timer fires, from now
   * @param code the error it aborts with: `deadline_exceeded` when the deadline comes first
   * @param limitMs the limit that error names (`timeoutMs` or `deadlineMs`)
   */
  constructor(ms: number, code: 'attempt_timeout' | 'deadline_exceeded', limitMs: number) {
    this.#code = code;
    this.#limitMs = limitMs;
    this.#arm(ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Clears the timer: the attempt's response is discarded, or the attempt failed without a body. */
  stop(): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  /** Arms a stopped timer again, to fire `ms` from now with `code` (a kept response returned late). */
  rearm(ms: number, code: 'attempt_timeout' | 'deadline_exceeded', limitMs: number): void {
    this.stop();
    if (this.fired !== undefined) return;
    this.#code = code;
    this.#limitMs = limitMs;
    this.#arm(ms);
  }

  /**
   * The attempt's response goes to the caller: the timer keeps covering its body and is cleared once the
   * body is done, immediately when there is none, else when one of the response's readers settles. Only
   * a plain `Response` (the global class's own, extensible) is touched; any other keeps the timer.
   */
  cover(response: Response): Response {
    if (Object.getPrototypeOf(response) !== PLAIN || !Object.isExtensible(response)) {
      // A response of another class (a subclass, another fetch's own) or one made read-only keeps its
      // own readers untouched, and the timer until it fires.
      return response;
    }
    if (response.body === null) {
      this.stop();
      return response;
    }
    const covered = response as CoveredResponse;
    covered[TIMER] = this;
    covered.arrayBuffer = arrayBuffer;
    covered.blob = blob;
    if (bytes !== undefined) covered.bytes = bytes;
    covered.formData = formData;
    covered.json = json;
    covered.text = text;
    return response;
  }

  /** The timer fired: aborts the attempt (its request, or its body) with the error naming the limit. */
  expire(): void {
    this.#handle = undefined;
    const error = new FetchTimeoutError(this.#code, this.#limitMs);
    this.fired = error;
    this.controller.abort(error);
  }

  #arm(ms: number): void {
    const handle = setTimeout(expire, Math.max(0, ms), this);
    handle.unref();
    this.#handle = handle;
  }
}

function expire(timer: AttemptTimer): void {
  timer.expire();
}

const TIMER = Symbol('bulwark.attemptTimer');

/**
 * The prototype whose readers the covering readers call, taken once: a `Response` installed later
 * (a polyfill replacing the global) is another class, and its responses keep their own readers.
 */
const PLAIN: Response = Response.prototype;

/** A response whose body a still-armed {@link AttemptTimer} covers. */
interface CoveredResponse extends Response {
  [TIMER]: AttemptTimer;
}

type Reader = 'arrayBuffer' | 'blob' | 'bytes' | 'formData' | 'json' | 'text';

/**
 * A reader of `Response.prototype` that clears the covering timer once the body is read (or failed):
 * one function per reader, shared by every response, so covering a response allocates nothing.
 */
function releasing<K extends Reader>(name: K): CoveredResponse[K] {
  const read = (PLAIN as unknown as Record<Reader, ((this: Response) => Promise<unknown>) | undefined>)[name];
  if (read === undefined) return undefined as unknown as CoveredResponse[K];
  return function (this: CoveredResponse): Promise<unknown> {
    // The reader first: called on something other than a response, it throws as the original does.
    const reading = read.call(this);
    const timer = this[TIMER];
    if (timer === undefined) return reading;
    return reading.then(
      (value) => {
        timer.stop();
        return value;
      },
      (error: unknown) => {
        timer.stop();
        throw error;
      },
    );
  } as CoveredResponse[K];
}

const arrayBuffer = releasing('arrayBuffer');
const blob = releasing('blob');
/** Undefined where `Response.prototype.bytes` is missing (older Node.js releases). */
const bytes = releasing('bytes') as CoveredResponse['bytes'] | undefined;
const formData = releasing('formData');
const json = releasing('json');
const text = releasing('text');
