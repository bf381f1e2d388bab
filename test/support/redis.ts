/**
 * Real Redis for tests: the shared server at REDIS_URL, servers of a test's own (to kill and restart),
 * and a 3-primary Redis Cluster started from the `redis-server` binary. Nothing here skips: a Redis that
 * cannot be reached or started is a failure with one line saying how to provide one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

const HOW = 'start one with redis-server --daemonize yes --save "" --appendonly no, or set REDIS_URL';

/** The shared test server: REDIS_URL, or redis://127.0.0.1:6379. */
export function redisUrl(): string {
  return process.env.REDIS_URL || 'redis://127.0.0.1:6379';
}

/** Client options suited to tests: fail fast instead of queueing forever while the server is away. */
export const TEST_CLIENT_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 1,
  enableOfflineQueue: true,
  connectTimeout: 2_000,
  retryStrategy: (times) => Math.min(times * 50, 500),
};

/**
 * An ioredis client on {@link redisUrl} after a successful PING. Throws one line saying how to provide a
 * Redis when none answers. The client's 'error' events are listened to (never an unhandled error).
 *
 * @example
 * ```ts
 * const redis = await connectRedis();
 * afterAll(() => redis.quit());
 * ```
 */
export async function connectRedis(options: RedisOptions = {}): Promise<Redis> {
  const url = redisUrl();
  const redis = new Redis(url, { ...TEST_CLIENT_OPTIONS, lazyConnect: true, ...options });
  redis.on('error', () => {});
  try {
    await withDeadline(redis.connect().then(() => redis.ping()), 3_000);
  } catch {
    redis.disconnect();
    throw new Error(`Redis is not reachable at ${url}: ${HOW}`);
  }
  return redis;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of a test's own. */
export interface OwnRedisServer {
  port: number;
  url: string;
  /** Stops it gracefully (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would; waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after stop or kill) and waits until it answers PING. */
  restart(): Promise<void>;
}

/**
 * Spawns `redis-server --port <free> --save "" --appendonly no` and waits until it answers PING.
 * Always `stop()` it in afterAll.
 *
 * @example
 * ```ts
 * const server = await startRedisServer();
 * afterAll(() => server.stop());
 * await server.kill(); ...; await server.restart();
 * ```
 */
export async function startRedisServer(): Promise<OwnRedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawnRedis(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    await waitForPing(port, child);
  };
  const end = async (signal: NodeJS.Signals) => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGKILL');
      await start();
    },
  };
}

/** A Redis Cluster of a test's own. */
export interface OwnRedisCluster {
  nodes: Array<{ host: string; port: number }>;
  /** An ioredis Cluster client on it (its 'error' events listened to). */
  connect(options?: ConstructorParameters<typeof Cluster>[1]): Cluster;
  /** Stops every node and removes the temporary directory. */
  stop(): Promise<void>;
}

/**
 * Starts a 3-primary Redis Cluster from `redis-server --cluster-enabled yes` on free ports, assigns the
 * slots (`redis-cli --cluster create`), and waits for `cluster_state:ok` on every node.
 *
 * @example
 * ```ts
 * const cluster = await startCluster();
 * afterAll(() => cluster.stop());
 * const client = cluster.connect();
 * ```
 */
export async function startCluster(): Promise<OwnRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-cluster-'));
  const children: ChildProcess[] = [];
  const clients: Cluster[] = [];
  const nodes: Array<{ host: string; port: number }> = [];
  const stop = async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await Promise.all(
      children.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const child = spawnRedis([
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000', '--dir', dir,
      ]);
      children.push(child);
      nodes.push({ host: '127.0.0.1', port });
      await waitForPing(port, child);
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 20_000;
    for (const node of nodes) {
      for (;;) {
        const info = await run('redis-cli', ['-p', String(node.port), 'cluster', 'info']).catch(() => '');
        if (info.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`Redis Cluster did not reach cluster_state:ok on port ${node.port}`);
        await sleep(100);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodes,
    connect(options) {
      const client = new Cluster(nodes, {
        redisOptions: { ...TEST_CLIENT_OPTIONS },
        clusterRetryStrategy: (times) => Math.min(times * 100, 1_000),
        ...options,
      });
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    stop,
  };
}

function spawnRedis(args: string[]): ChildProcess {
  let child: ChildProcess;
  try {
    child = spawn('redis-server', args, { stdio: 'ignore' });
  } catch {
    throw new Error(`redis-server could not be started: ${HOW}`);
  }
  child.on('error', () => {});
  return child;
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited at start: ${HOW}`);
    const reply = await run('redis-cli', ['-p', String(port), 'ping']).catch(() => '');
    if (reply.trim() === 'PONG') return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING: ${HOW}`);
    await sleep(50);
  }
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${out.trim()}`))));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * Calls per command since the last `CONFIG RESETSTAT`, read from `INFO commandstats` (`evalsha`, `eval`,
 * and the commands scripts ran inside).
 */
export async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2]);
  return calls;
}

/** A key prefix of a test's own on the shared server. */
export function testPrefix(name: string): string {
  return `bulwark-test:${name}:${process.pid}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}:`;
}
