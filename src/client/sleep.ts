/**
 * `sleep`: the wait before a retry, cut short when the caller aborts.
 */

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts (the timer is cleared). */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    // Not unref'd: the caller awaits this wait like it awaits the request, and the process must not
    // exit in the middle of a retry. It is always bounded (maxDelayMs, maxRetryAfterMs, the deadline).
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
