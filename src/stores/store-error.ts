/**
 * A store did not answer in time or failed. Guards turn it into their configured outage behaviour;
 * it never reaches a client as is.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Settles with `promise`, or rejects with {@link StoreUnavailableError} after `ms` milliseconds.
 * The timer is cleared when the promise settles and never keeps the process alive.
 *
 * @example
 * ```ts
 * const reply = await withTimeout(redis.evalsha(sha, 1, key), 500, 'rate limit decision');
 * ```
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new StoreUnavailableError(`${what} took longer than ${ms} ms`));
    }, ms);
    timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`${what} failed`, { cause: err }));
      },
    );
  });
}
