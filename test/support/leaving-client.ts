/**
 * A client that leaves mid-request: it sends a request and aborts it once the server shows it has the
 * request (the test resolves a signal from inside the application), then reports that it left.
 */

/** A promise and the function that settles it, for an application to say "the request is here". */
export function signal(): { reached: () => void; reachedYet: Promise<void> } {
  let reached!: () => void;
  const reachedYet = new Promise<void>((resolve) => {
    reached = resolve;
  });
  return { reached, reachedYet };
}

/**
 * Sends `init` to `url`, aborts it as soon as `reachedYet` settles, and resolves to `'left'` (or to
 * `'answered'` if the answer came first, which a test then rejects).
 */
export async function leaveOnceReached(url: string, init: RequestInit, reachedYet: Promise<void>): Promise<'left' | 'answered'> {
  const leaving = new AbortController();
  const outcome = fetch(url, { ...init, signal: leaving.signal }).then(
    async (response) => {
      await response.arrayBuffer();
      return 'answered' as const;
    },
    () => 'left' as const,
  );
  await reachedYet;
  leaving.abort();
  return outcome;
}
