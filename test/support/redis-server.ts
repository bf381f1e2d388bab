/**
 * A private redis-server for fault tests: started on a free port with the settings a test asks for
 * (no persistence by default, or AOF), then paused, filled, reconfigured, killed and restarted with
 * the same settings and data directory. Never the shared server: nothing here touches REDIS_URL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, TEST_CLIENT_OPTIONS } from './redis.js';

/** Options of {@link startPrivateRedis}. */
export interface PrivateRedisOptions {
  /** Persist with AOF (`appendfsync always`), so a killed server restarts with every acknowledged write. */
  aof?: boolean;
  /** Further `redis-server` arguments, e.g. `['--maxmemory-policy', 'allkeys-lru']`. */
  args?: string[];
  /** The server binary: `'valkey-server'` for Valkey, which takes the same arguments. @default 'redis-server' */
  binary?: string;
}

/** A running private redis-server. */
export interface PrivateRedis {
  port: number;
  url: string;
  /** An admin connection (its 'error' events listened to), for CONFIG SET, CLIENT PAUSE, SCRIPT FLUSH... */
  admin: Redis;
  /** A new client on it with test options (no INFO ready check: INFO may be renamed); disconnected by `stop()`. */
  client(): Redis;
  /** `CLIENT PAUSE ms mode` on the server: commands of every client wait (WRITE: writes and scripts). */
  pause(ms: number, mode?: 'ALL' | 'WRITE'): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port, with the same settings and data directory. */
  restart(): Promise<void>;
  /** Kills it, disconnects every client, and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts a redis-server of the test's own and waits until it answers PING.
 *
 * @example
 * ```ts
 * const server = await startPrivateRedis({ args: ['--maxmemory-policy', 'noeviction'] });
 * afterAll(() => server.stop());
 * await server.admin.config('SET', 'maxmemory', '1');
 * ```
 */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-redis-'));
  const persistence = options.aof
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--save', '']
    : ['--appendonly', 'no', '--save', ''];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...persistence, ...(options.args ?? [])];
  const binary = options.binary ?? 'redis-server';
  const clients: Redis[] = [];
  let child: ChildProcess | undefined;

  const start = async () => {
    const spawned = spawn(binary, args, { stdio: 'ignore' });
    spawned.on('error', () => {});
    child = spawned;
    await waitForPing(port, spawned, binary);
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };
  const client = () => {
    const redis = new Redis(`redis://127.0.0.1:${port}`, { ...TEST_CLIENT_OPTIONS, enableReadyCheck: false });
    redis.on('error', () => {});
    clients.push(redis);
    return redis;
  };

  await start();
  const admin = client();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    admin,
    client,
    async pause(ms, mode = 'ALL') {
      await admin.call('CLIENT', 'PAUSE', String(ms), mode);
    },
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    stop: async () => {
      for (const redis of clients.splice(0)) redis.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(port: number, child: ChildProcess, binary: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  probe.on('error', () => {});
  try {
    for (;;) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${binary} on port ${port} exited at start (is ${binary} installed?)`);
      }
      try {
        if (probe.status !== 'ready') await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`${binary} on port ${port} did not answer PING within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  } finally {
    probe.disconnect();
  }
}
