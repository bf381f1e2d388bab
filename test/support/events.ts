/**
 * Shared by the event and shadow-mode tests: collecting what a `bulwark:*` channel publishes during a test, and
 * serving an Express app on a real socket for the length of a callback.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { afterEach } from 'vitest';

const subscribed: Array<[string, (message: unknown) => void]> = [];
afterEach(() => stopCollecting());

/** Stops every collection begun with {@link collectOn} (they stop by themselves when the test ends). */
export function stopCollecting(): void {
  for (const [name, listener] of subscribed.splice(0)) unsubscribe(name, listener);
}

/** Collects every message published on `channel` from now until the test ends. */
export function collectOn<E>(channel: string): E[] {
  const seen: E[] = [];
  const listener = (message: unknown) => seen.push(message as E);
  subscribe(channel, listener);
  subscribed.push([channel, listener]);
  return seen;
}

/** Serves `app` on 127.0.0.1 while `use` runs with its base URL, then closes it and its connections. */
export async function serving<T>(app: Express, use: (url: string) => Promise<T>): Promise<T> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}
