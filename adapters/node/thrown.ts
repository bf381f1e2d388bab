/**
 * Marks a response that `errorHandler` is writing for a thrown error, so that a guard capturing the
 * response (idempotency) treats it as a thrown error (the key is released) rather than as a response
 * the application chose to send. @internal
 */
export const THROWN_ERROR = Symbol.for('bulwark.express.thrownError');

/** The thrown error a response is being written for, if any. @internal */
export function thrownErrorOf(res: object): unknown {
  return (res as { [THROWN_ERROR]?: unknown })[THROWN_ERROR];
}

/** Records that `res` answers a thrown error. @internal */
export function markThrown(res: object, err: unknown): void {
  (res as { [THROWN_ERROR]?: unknown })[THROWN_ERROR] = err ?? new Error('thrown');
}
