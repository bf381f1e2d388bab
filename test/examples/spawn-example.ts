/**
 * Runs one of the example servers (`examples/*-server.ts`) as its own process, as a user runs it with
 * `npx tsx`, on a free port, and resolves once it printed the address it listens on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface RunningExample {
  /** Base URL from the line it printed. */
  url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then resolves with its exit code once it exited. */
  stop(): Promise<number | null>;
}

/** How to run it. */
export interface RunOptions {
  /** A tsconfig for tsx, relative to examples/ (as `npx tsx --tsconfig` takes it). @default the root one */
  tsconfig?: string;
  /** How long it may take to print its URL. @default 30000 */
  timeoutMs?: number;
}

/** Starts `examples/<file>` with PORT=0; rejects when it exits or prints no URL in time. */
export function runExample(file: string, options: RunOptions = {}): Promise<RunningExample> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const entry = fileURLToPath(new URL(`../../examples/${file}`, import.meta.url));
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' };
  // tsx's loader reads TSX_TSCONFIG_PATH where its command line takes --tsconfig.
  if (options.tsconfig) env.TSX_TSCONFIG_PATH = fileURLToPath(new URL(`../../examples/${options.tsconfig}`, import.meta.url));
  const child: ChildProcess = spawn(process.execPath, ['--import', TSX, entry], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`printed no URL within ${timeoutMs} ms`), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({
          url,
          output: () => output,
          stop: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    function fail(why: string) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`examples/${file} ${why}:\n${output}`));
    }
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => fail(`exited (code ${code}) before listening`));
  });
}
