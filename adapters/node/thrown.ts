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

/**
 * Marks a response whose application ended it while a capture holds it back (the record is being
 * written): as far as the application and any error handler go, it is sent. @internal
 */
export const ENDED_BY_APPLICATION = Symbol.for('bulwark.node.endedByApplication');

/** Whether the application already ended `res` (see {@link ENDED_BY_APPLICATION}). @internal */
export function endedByApplication(res: object): boolean {
  return (res as { [ENDED_BY_APPLICATION]?: boolean })[ENDED_BY_APPLICATION] === true;
}

/**
 * Marks bulwark's error handler (an Express error middleware function, or a Koa context it runs for), so
 * that a guard hands its 5xx to it only when it is there to answer and report: without it, the guard
 * answers with the documented body itself rather than leave the error to a framework default that shows
 * a stack. @internal
 */
export const BULWARK_ERROR_HANDLER = Symbol.for('bulwark.errorHandler');
