/**
 * Worker processes for the cross-process tests: a fixture spawned under tsx that prints `{"port":N}` (one
 * JSON object a line) once it listens, requests to it over real sockets, and SIGKILL. The store a worker
 * talks to is whatever its fixture and environment say; nothing here knows of one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';

/** One started worker: its process and the port it listens on (127.0.0.1). */
export interface Worker {
  child: ChildProcess;
  port: number;
}

/** A reply as the client saw it. */
export interface Reply {
  status: number;
  replayed: boolean;
  body: string;
}

/** Options of a {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /**
   * Environment given to every worker of the pool (over `process.env`, under each start's own).
   * @default {}
   */
  env?: Record<string, string>;
  /**
   * How long a worker may take to print its port; longer is a failed start.
   * @default 20_000
   */
  startMs?: number;
}

/**
 * Starts workers of one fixture and remembers every one, so that `killAll` (in `afterAll`) leaves no
 * process behind, whether or not its start succeeded.
 *
 * @example
 * ```ts
 * const pool = new WorkerPool(fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url)), { env: { REDIS_URL: redisUrl() } });
 * const worker = await pool.start({ LEASE_MS: '400' });
 * afterAll(() => pool.killAll());
 * ```
 */
export class WorkerPool {
  readonly #children: ChildProcess[] = [];
  readonly #env: Record<string, string>;
  readonly #startMs: number;

  constructor(
    readonly script: string,
    options: WorkerPoolOptions = {},
  ) {
    this.#env = options.env ?? {};
    this.#startMs = options.startMs ?? 20_000;
  }

  /**
   * Spawns one worker with `env` over the pool's; resolves once it printed its port. `onLine` sees every
   * line the worker prints, parsed, the port's too, before and after the start.
   */
  start(env: Record<string, string> = {}, onLine?: (line: Record<string, unknown>) => void): Promise<Worker> {
    const child = spawn(process.execPath, ['--import', 'tsx', this.script], {
      env: { ...process.env, ...this.#env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#children.push(child);
    const startMs = this.#startMs;
    return new Promise((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => reject(new Error(`a worker did not start within ${startMs / 1000} s`)), startMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let newline = buffered.indexOf('\n');
        while (newline !== -1) {
          const line = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>;
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
          if (typeof line.port === 'number') {
            clearTimeout(timer);
            resolve({ child, port: line.port });
          }
          onLine?.(line);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`a worker exited early (${code})`));
      });
    });
  }

  /** SIGKILLs every worker this pool started that still runs; resolves once all exited. */
  killAll(): Promise<void> {
    return Promise.all(this.#children.map(kill)).then(() => {});
  }
}

/** Whether the process still runs (no crash, no unhandled rejection, not killed). */
export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Resolves once `child` exited (at once when it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (!alive(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGKILLs `child` (when it still runs); resolves once it exited. */
export function kill(child: ChildProcess): Promise<void> {
  const done = exited(child);
  if (alive(child)) child.kill('SIGKILL');
  return done;
}

/** One request of {@link request}. */
export interface RequestInit {
  method: string;
  path: string;
  agent: http.Agent;
  /** Sent as they are, with a `content-length` for the body. */
  headers?: Record<string, string>;
  /** @default '' */
  body?: string;
  /**
   * Idle time after which the request fails with `request timed out`.
   * @default 15_000
   */
  timeoutMs?: number;
}

/**
 * One HTTP request to a worker on 127.0.0.1: its status, whether it was marked `Idempotent-Replayed`,
 * and its body. Rejects only when the connection is lost (or idles past `timeoutMs`).
 *
 * @example
 * ```ts
 * const { status } = await request(worker.port, { method: 'GET', path: '/limited', agent, headers: { 'x-cost': '2' } });
 * ```
 */
export function request(port: number, init: RequestInit): Promise<Reply> {
  const body = init.body ?? '';
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: init.path,
        method: init.method,
        agent: init.agent,
        headers: { 'content-length': Buffer.byteLength(body), ...init.headers },
        timeout: init.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, replayed: res.headers['idempotent-replayed'] === 'true', body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A JSON POST with an `Idempotency-Key` (and `headers` besides), by {@link request}.
 *
 * @example
 * ```ts
 * const reply = await postKeyed(worker.port, '/v1/messages', 'key-1', '{"to":"+15550100"}', { agent });
 * ```
 */
export function postKeyed(
  port: number,
  path: string,
  key: string,
  body: string,
  options: { agent: http.Agent; headers?: Record<string, string>; timeoutMs?: number },
): Promise<Reply> {
  return request(port, {
    method: 'POST',
    path,
    agent: options.agent,
    body,
    headers: { 'content-type': 'application/json', 'idempotency-key': key, ...options.headers },
    timeoutMs: options.timeoutMs,
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
