/**
 * A real node:http server on 127.0.0.1 that answers each request according to a plan of faults:
 * statuses, headers (Retry-After), delays, connections reset after the request was read, or no answer.
 * It records every request it received, so tests count what reached the server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// Captured before any test installs fake timers: the server's own delays run on real time.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** How the server answers one request. */
export interface Fault {
  /** Status to answer with. @default 200 */
  status?: number;
  /** Response headers. */
  headers?: Record<string, string>;
  /** Response body; an object is sent as JSON. @default `{"ok":true,"hit":n}` */
  body?: string | Record<string, unknown>;
  /** Wait this long (real time) after reading the request before answering. */
  delayMs?: number;
  /** Read the whole request, then reset the connection instead of answering. */
  reset?: boolean;
  /** Never answer (the socket stays open until the client gives up or the server closes). */
  hang?: boolean;
}

/** One request as the server received it. */
export interface Hit {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type Plan = Fault[] | ((hit: Hit, index: number) => Fault | Promise<Fault>);

export interface FaultServer {
  /** Base URL, for example `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly hits: Hit[];
  /** Sets how the following requests are answered: a list (its last entry repeats) or a function. */
  plan(plan: Plan): void;
  /** Resolves once `count` requests have been received. */
  waitForHits(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultServer(plan: Plan = [{}]): Promise<FaultServer> {
  let current: Plan = plan;
  const hits: Hit[] = [];
  const waiters = new Set<() => void>();
  const pending = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const hit: Hit = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      const index = hits.push(hit) - 1;
      for (const wake of waiters) wake();
      const fault = typeof current === 'function' ? await current(hit, index) : (current[Math.min(index, current.length - 1)] ?? {});
      const answer = () => {
        if (fault.reset) {
          req.socket.resetAndDestroy();
          return;
        }
        if (fault.hang) return;
        const body =
          fault.body === undefined
            ? JSON.stringify({ ok: true, hit: index })
            : typeof fault.body === 'string'
              ? fault.body
              : JSON.stringify(fault.body);
        const headers: Record<string, string> = { 'content-type': 'application/json', ...fault.headers };
        res.writeHead(fault.status ?? 200, headers);
        res.end(body);
      };
      if (fault.delayMs) {
        const timer = realSetTimeout(() => {
          pending.delete(timer);
          answer();
        }, fault.delayMs);
        pending.add(timer);
      } else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    plan(next) {
      current = next;
    },
    waitForHits(count, timeoutMs = 5_000) {
      if (hits.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = realSetTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`fault server: expected ${count} requests, got ${hits.length}`));
        }, timeoutMs);
        const wake = () => {
          if (hits.length < count) return;
          realClearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
      });
    },
    async close() {
      for (const timer of pending) realClearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
