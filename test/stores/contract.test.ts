/**
 * The store contract, run on every store bulwark ships. Adding a store is adding one line.
 */
import { afterAll, beforeAll } from 'vitest';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { storeContract } from '../../src/testing/store-contract.js';
import { closeNodeRedis, connectNodeRedis, connectNodeRedisCluster } from '../support/node-redis.js';
import { testStore } from '../postgres/support.js';
import { connectRedis, type OwnRedisCluster, startCluster, testPrefix } from '../support/redis.js';
import { type PrivateRedis, startPrivateRedis } from '../support/redis-server.js';

let cluster: OwnRedisCluster | undefined;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster?.stop();
  await (await valkey?.catch(() => undefined))?.stop();
});

/** A valkey-server of this file's own, started by the first Valkey test (only those fail without Valkey). */
let valkey: Promise<PrivateRedis> | undefined;
function valkeyServer(): Promise<PrivateRedis> {
  valkey ??= startPrivateRedis({ binary: 'valkey-server' }).catch((err: unknown) => {
    throw new Error(
      `valkey-server could not be started (${(err as Error).message}): on Debian 12 install it from bookworm-backports (apt-get install -t bookworm-backports valkey-server); .ci/run does under CI=true`,
    );
  });
  return valkey;
}

storeContract('MemoryStore', () => ({ store: new MemoryStore() }));
storeContract('RedisStore (single node)', async () => {
  const redis = await connectRedis();
  return { store: new RedisStore(redis, { prefix: testPrefix('contract') }), cleanup: () => void redis.disconnect() };
});
storeContract('RedisStore (Cluster)', () => {
  if (!cluster) throw new Error('the Redis Cluster did not start');
  const client = cluster.connect();
  return { store: new RedisStore(client, { prefix: testPrefix('contract-cluster') }), cleanup: () => void client.disconnect() };
});
storeContract('RedisStore (node-redis 5)', async () => {
  const client = await connectNodeRedis(5);
  return { store: new RedisStore(client, { prefix: testPrefix('contract-nr5') }), cleanup: () => closeNodeRedis(client) };
});
storeContract('RedisStore (node-redis 4)', async () => {
  const client = await connectNodeRedis(4);
  return { store: new RedisStore(client, { prefix: testPrefix('contract-nr4') }), cleanup: () => closeNodeRedis(client) };
});
storeContract('RedisStore (node-redis 5 Cluster)', async () => {
  if (!cluster) throw new Error('the Redis Cluster did not start');
  const client = await connectNodeRedisCluster(5, cluster.nodes);
  return { store: new RedisStore(client, { prefix: testPrefix('contract-nr5-cluster') }), cleanup: () => closeNodeRedis(client) };
});
storeContract('PostgresStore', async () => ({ store: (await testStore('contract_')).store }));
storeContract('RedisStore (Valkey, ioredis)', async () => {
  const client = (await valkeyServer()).client();
  return { store: new RedisStore(client, { prefix: testPrefix('contract-valkey') }), cleanup: () => void client.disconnect() };
});
storeContract('RedisStore (Valkey, node-redis 5)', async () => {
  const client = await connectNodeRedis(5, (await valkeyServer()).url);
  return { store: new RedisStore(client, { prefix: testPrefix('contract-valkey-nr5') }), cleanup: () => closeNodeRedis(client) };
});
