/** Real servers on free ports for the capture tests, each closed after use. */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  port: number;
  close: () => void;
}

/** Waits for `server` to listen and gives its port and a closer that drops kept-alive connections. */
export async function listening(server: http.Server): Promise<Listening> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Runs `use` with a server from `start`, closed afterwards. */
export async function withServer<T>(start: () => Promise<Listening>, use: (port: number) => Promise<T>): Promise<T> {
  const server = await start();
  try {
    return await use(server.port);
  } finally {
    server.close();
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A keyed POST for {@link exchange}. */
export const keyedPost = (path: string, key: string) => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json', 'idempotency-key': key },
  body: '{}',
});
