/**
 * Benchmarks run each server in a child process of their own script, so that the load generator and the
 * server do not share an event loop. The child is the same file, started with an environment variable
 * naming the server to build.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Server } from 'node:http';

/** What a server child reports when asked (see {@link serverUsage}). */
export interface ServerUsage {
  /** CPU time this process used so far (user + system), in microseconds. */
  cpuMicros: number;
  /** Requests it received so far. */
  served: number;
}

/**
 * In the child: listen on a free port and tell the parent which; afterwards, answer every `'usage'`
 * message with the CPU time used and the requests received so far.
 */
export function listenAndReport(server: Server): void {
  let served = 0;
  server.on('request', () => {
    served++;
  });
  process.on('message', (message) => {
    if (message !== 'usage') return;
    const cpu = process.cpuUsage();
    process.send?.({ cpuMicros: cpu.user + cpu.system, served } satisfies ServerUsage);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
}

/** In the parent: start `script` as a child with `env[name] = kind` and wait for its port. */
export function forkServer(script: string, name: string, kind: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [], { env: { ...process.env, [name]: kind }, stdio: 'inherit' });
    child.once('message', (message: { port: number }) => resolve({ child, port: message.port }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the ${kind} server exited (${code})`)));
  });
}

/** In the parent: asks a child started with {@link forkServer} for its {@link ServerUsage}. */
export function serverUsage(child: ChildProcess): Promise<ServerUsage> {
  return new Promise((resolve) => {
    child.once('message', (message: ServerUsage) => resolve(message));
    child.send('usage');
  });
}
