/**
 * Serving the demo API for the tour: a listener with a fallback to a free port, and an error hook that
 * stays quiet about the 503s that the fault routes raise on purpose.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { ErrorEvent } from '../../src/index.js';
import { FAULTS_PATH } from '../messaging/faults.js';

/** A listening demo server. */
export interface Listening {
  server: Server;
  /** For example `http://127.0.0.1:3000`. */
  url: string;
  /** Stops accepting connections, ends open ones, and resolves once closed. */
  close(): Promise<void>;
}

/**
 * The demo's error hook: one line per 5xx, as bulwark's default, except for injected faults.
 *
 * @example
 * ```ts
 * createExpressApp({ faults: true, onError: logUnexpected });
 * ```
 */
export function logUnexpected(event: ErrorEvent): void {
  if (event.path.startsWith(FAULTS_PATH)) return;
  const cause = event.cause instanceof Error ? `${event.cause.name}: ${event.cause.message}` : String(event.cause);
  console.error(`bulwark: ${event.error.status} ${event.error.code} ${event.method} ${event.path}: ${cause.split('\n')[0]}`);
}

/**
 * Listens on 127.0.0.1:`port`; when that port is busy (and not 0), on a free one instead.
 *
 * @example
 * ```ts
 * const { url, close } = await listen(createExpressApp(), 3000);
 * ```
 */
export function listen(app: Express, port: number): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, '127.0.0.1');
    server.once('listening', () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve({
        server,
        url,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' && port !== 0) listen(app, 0).then(resolve, reject);
      else reject(err);
    });
  });
}

/** The port asked for in `PORT` (default 3000). */
export function requestedPort(value: string | undefined = process.env.PORT): number {
  const port = Number(value ?? 3000);
  return Number.isInteger(port) && port >= 0 && port < 65_536 ? port : 3000;
}
