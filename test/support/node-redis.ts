/**
 * node-redis clients for tests, version 5 (`redis`) and 4 (`redis4`): a connected client on a URL and a
 * cluster client on the nodes of test/support/redis.ts's `startCluster()`. Every client's 'error' events are
 * listened to (node-redis throws an unheard 'error'), and connecting has a deadline: a Redis that does not
 * answer is a failure with one line, never a hang.
 */
import { createClient as createClient5, createCluster as createCluster5 } from 'redis';
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4';
import { redisUrl } from './redis.js';

/** The node-redis major versions bulwark supports. */
export type NodeRedisVersion = 4 | 5;

/** A connected node-redis client of either version, as the tests use it. */
export type AnyNodeRedis = ReturnType<typeof createClient5> | ReturnType<typeof createClient4>;
/** A connected node-redis cluster client of either version. */
export type AnyNodeRedisCluster = ReturnType<typeof createCluster5> | ReturnType<typeof createCluster4>;

/** Options both versions take alike. */
export interface NodeRedisTestOptions {
  /** Refuse commands at once while disconnected instead of queueing them. @default false (node-redis's default) */
  disableOfflineQueue?: boolean;
  /** Milliseconds between reconnection attempts. @default 100 */
  reconnectMs?: number;
}

/**
 * A node-redis client on `url` (default: the shared test server) after a successful connect.
 *
 * @example
 * ```ts
 * const client = await connectNodeRedis(5);
 * afterAll(() => closeNodeRedis(client));
 * ```
 */
export async function connectNodeRedis(version: NodeRedisVersion, url = redisUrl(), options: NodeRedisTestOptions = {}): Promise<AnyNodeRedis> {
  const reconnectMs = options.reconnectMs ?? 100;
  const settings = {
    url,
    disableOfflineQueue: options.disableOfflineQueue ?? false,
    socket: { connectTimeout: 2_000, reconnectStrategy: () => reconnectMs },
  };
  const client = version === 5 ? createClient5(settings) : createClient4(settings);
  client.on('error', () => {});
  await connect(client, `node-redis ${version} could not connect to ${url}`);
  return client;
}

/**
 * A node-redis cluster client on the given nodes after a successful connect (slots discovered).
 *
 * @example
 * ```ts
 * const cluster = await startCluster();
 * const client = await connectNodeRedisCluster(5, cluster.nodes);
 * ```
 */
export async function connectNodeRedisCluster(version: NodeRedisVersion, nodes: Array<{ host: string; port: number }>): Promise<AnyNodeRedisCluster> {
  const settings = {
    rootNodes: nodes.map((node) => ({ url: `redis://${node.host}:${node.port}` })),
    defaults: { socket: { connectTimeout: 2_000, reconnectStrategy: () => 100 } },
  };
  const client = version === 5 ? createCluster5(settings) : createCluster4(settings);
  client.on('error', () => {});
  await connect(client, `node-redis ${version} could not connect to the Redis Cluster`);
  return client;
}

/** Closes a node-redis client or cluster of either version; never rejects. */
export async function closeNodeRedis(client: AnyNodeRedis | AnyNodeRedisCluster): Promise<void> {
  try {
    const closable = client as { destroy?: () => unknown; disconnect?: () => unknown };
    // node-redis 5 names it destroy(), 4 disconnect(): both close at once, without waiting for replies.
    await (typeof closable.destroy === 'function' ? closable.destroy() : closable.disconnect?.());
  } catch {
    // already closed
  }
}

async function connect(client: AnyNodeRedis | AnyNodeRedisCluster, failure: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (client as { connect(): Promise<unknown> }).connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), 5_000);
      }),
    ]);
  } catch (err) {
    await closeNodeRedis(client);
    throw new Error(`${failure}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
