/** Small helpers shared by the client tests. */
import { type BulwarkFetch, createFetch, type RetryEvent } from '../../src/client/index.js';
import { type FaultServer, startFaultServer, type Plan } from './fault-server.js';

const realSetTimeout = globalThis.setTimeout;

/** Waits on real time, also while fake timers are installed. */
export function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}

/** Starts fault servers and closes them all at the end of the test file. */
export function serverPool() {
  const servers: FaultServer[] = [];
  return {
    async start(plan?: Plan): Promise<FaultServer> {
      const server = await startFaultServer(plan);
      servers.push(server);
      return server;
    },
    async closeAll(): Promise<void> {
      await Promise.all(servers.splice(0).map((server) => server.close()));
    },
  };
}

/** Settles a promise into a value or its rejection, without an unhandled rejection in between. */
export async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Polls on real time until `condition` holds (vi.waitFor would advance fake timers). */
export async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error('condition not met in time');
    await realDelay(2);
  }
}

/**
 * A `createFetch` with fast backoff and no retry budget that records its retries; `options` override
 * those defaults.
 */
export function recordingClient(options: Parameters<typeof createFetch>[0] = {}): { fetch: BulwarkFetch; retries: RetryEvent[] } {
  const retries: RetryEvent[] = [];
  const fetch = createFetch({ baseDelayMs: 1, maxDelayMs: 5, retryBudget: false, onRetry: (event) => retries.push(event), ...options });
  return { fetch, retries };
}
