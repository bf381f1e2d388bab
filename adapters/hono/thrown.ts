/**
 * Hono hands only `Error` instances to `app.onError`; any other thrown value (a string, a plain object, a
 * Proxy) escapes `app.fetch`, and the server answers it with no body of bulwark's. bulwark's middleware
 * carries such a value on in an `Error` of its own, which `errorHandler()` opens again: the value is
 * formatted and reported as it was thrown. @internal
 */
const CARRIED = Symbol.for('bulwark.hono.thrownValue');

/** An `Error` carrying a thrown value that is not one. @internal */
class ThrownValue extends Error {
  readonly [CARRIED]: unknown;
  constructor(value: unknown) {
    super('a value that is not an Error was thrown');
    this.name = 'ThrownValue';
    this[CARRIED] = value;
  }
}

/** `value` itself when it is an `Error` (Hono's error handler gets it), else an `Error` carrying it. @internal */
export function asError(value: unknown): Error {
  let isError = false;
  try {
    isError = value instanceof Error;
  } catch {
    // a Proxy whose getPrototypeOf trap throws: carried
  }
  return isError ? (value as Error) : new ThrownValue(value);
}

/** The value thrown: what {@link asError} carried, or `err` itself. @internal */
export function thrownValueOf(err: unknown): unknown {
  try {
    if (err instanceof Error && CARRIED in err) return (err as ThrownValue)[CARRIED];
  } catch {
    // not ours
  }
  return err;
}
