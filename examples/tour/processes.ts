/**
 * Two processes of the demo API on one Redis (for `REDIS_URL` mode): forked from api-process.ts and
 * run with tsx's loader. Each child also exits by itself when its parent dies (its IPC channel closes).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The running processes. */
export interface ApiProcesses {
  /** Their base URLs, A then B. */
  urls: [string, string];
  /** Sends SIGTERM to each and waits for them to exit. */
  stop(): Promise<void>;
  /** Kills them at once, synchronously (for `process.on('exit')`). */
  kill(): void;
}

/** Options of {@link startApiProcesses}. */
export interface ApiProcessOptions {
  redisUrl: string;
  /** Key prefix of their shared store (a fresh one gives a fresh state). */
  prefix: string;
  /** Port of process A (B takes a free one). If busy, A takes a free one too. @default 0 */
  port?: number;
  /** How long to wait for each to listen. @default 20000 */
  startTimeoutMs?: number;
}

const ENTRY = fileURLToPath(new URL('./api-process.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * Forks two API processes that share one Redis store and resolves once both listen.
 *
 * @example
 * ```ts
 * const api = await startApiProcesses({ redisUrl: 'redis://127.0.0.1:6379', prefix: 'demo:1:' });
 * process.on('exit', () => api.kill());
 * ```
 */
export async function startApiProcesses(options: ApiProcessOptions): Promise<ApiProcesses> {
  const children: ChildProcess[] = [];
  const kill = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const stop = () =>
    Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    ).then(() => undefined);
  try {
    const ports: number[] = [];
    for (const port of [options.port ?? 0, 0]) {
      const child = fork(ENTRY, [], {
        execArgv: ['--import', TSX],
        env: { ...process.env, REDIS_URL: options.redisUrl, BULWARK_DEMO_PREFIX: options.prefix, PORT: String(port) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      ports.push(await listening(child, options.startTimeoutMs ?? 20_000));
    }
    return { urls: [`http://127.0.0.1:${ports[0]}`, `http://127.0.0.1:${ports[1]}`], stop, kill };
  } catch (err) {
    await stop();
    throw err;
  }
}

function listening(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`the demo API process did not start within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    const onMessage = (message: unknown) => {
      const port = (message as { port?: unknown } | null)?.port;
      if (typeof port === 'number') done(undefined, port);
    };
    const onExit = (code: number | null) => done(new Error(`the demo API process exited at start (code ${code})`));
    function done(err: Error | undefined, port?: number) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(port!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
