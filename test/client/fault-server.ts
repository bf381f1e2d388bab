/**
 * A real node:http server on 127.0.0.1 that answers each request according to a plan of faults:
 * statuses, headers (Retry-After), delays, connections reset after the request was read, no answer,
 * a redirect loop, a body that stalls after the headers or trickles in byte by byte. It records every
 * request it received, so tests count what reached the server. `startTlsServer` is an HTTPS server with
 * a self-signed certificate made for the test, which counts the connections that reach it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  /** Answer 302 to another path of this server (with every request planned so: a redirect loop). */
  redirectLoop?: boolean;
  /** Send the headers and the first byte of the body (its length announced), then nothing more. */
  stallBody?: boolean;
  /** Send the body one byte every `trickleMs` milliseconds (real time), its length announced. */
  trickleMs?: number;
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
  /** TCP connections accepted so far. */
  readonly connections: number;
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
        if (fault.redirectLoop) {
          res.writeHead(fault.status ?? 302, { location: `/loop/${index}`, ...fault.headers });
          res.end();
          return;
        }
        const body =
          fault.body === undefined
            ? JSON.stringify({ ok: true, hit: index })
            : typeof fault.body === 'string'
              ? fault.body
              : JSON.stringify(fault.body);
        const headers: Record<string, string> = { 'content-type': 'application/json', ...fault.headers };
        if (fault.stallBody || fault.trickleMs !== undefined) {
          const bytes = Buffer.from(body);
          res.writeHead(fault.status ?? 200, { ...headers, 'content-length': String(bytes.length) });
          res.write(bytes.subarray(0, 1));
          if (fault.stallBody) return;
          let sent = 1;
          const drip = () => {
            if (res.destroyed) return;
            if (sent >= bytes.length) {
              res.end();
              return;
            }
            res.write(bytes.subarray(sent, sent + 1));
            sent += 1;
            const timer = realSetTimeout(() => {
              pending.delete(timer);
              drip();
            }, fault.trickleMs);
            pending.add(timer);
          };
          drip();
          return;
        }
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
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    get connections() {
      return connections;
    },
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

/** An HTTPS server whose certificate is self-signed, made for this test run (by `openssl`). */
export interface TlsServer {
  /** Base URL, for example `https://127.0.0.1:40123`. */
  readonly url: string;
  /** TCP connections that reached the server (each failed handshake is one). */
  readonly connections: number;
  /** Requests that got past the handshake (none, for a client that checks certificates). */
  readonly requests: number;
  close(): Promise<void>;
}

export async function startTlsServer(): Promise<TlsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-tls-'));
  let key: Buffer;
  let cert: Buffer;
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      { stdio: 'ignore' },
    );
    key = readFileSync(join(dir, 'key.pem'));
    cert = readFileSync(join(dir, 'cert.pem'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  let connections = 0;
  let requests = 0;
  const server = https.createServer({ key, cert }, (_req, res) => {
    requests++;
    res.end('{"ok":true}');
  });
  server.on('connection', () => connections++);
  // A client that refuses the certificate closes the connection mid-handshake.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
