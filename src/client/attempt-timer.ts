/**
 * `AttemptTimer`: the time limit of one attempt (the smaller of `timeoutMs` and what is left of the
 * deadline), enforced through the signal that the attempt's `fetch` gets.
 *
 * The limit covers the response body too. Node's fetch (undici) ties a response's body to the signal of
 * its request: aborting that signal errors the body stream, and every way of reading it (`text()`,
 * `json()`, `arrayBuffer()`, `blob()`, `formData()`, a reader of `body`) rejects with the signal's
 * reason. So the timer of the attempt that ends the call is not cleared when the headers arrive: it
 * stays armed, and when it fires, a body still being read fails with `deadline_exceeded` or
 * `attempt_timeout`. The body is never wrapped, and nothing is done per chunk. Once the body has been
 * read or cancelled, the abort finds nothing to abort and changes nothing (the connection stays in the
 * pool). The timer holds only its controller, never the request or the response, so a call that is
 * done costs an unref'd timer until it would have fired, and no memory worth mentioning.
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
