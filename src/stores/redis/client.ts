import type { Cluster, Redis } from 'ioredis';

/**
 * A node-redis client or cluster, version 4 or 5: `createClient()` or `createCluster()` from `redis`, connected
 * (`await client.connect()`). Described by its shape only, so that bulwark's types never need `redis` installed.
 */
export interface NodeRedisClient {
  evalSha(...args: never[]): unknown;
  sendCommand(...args: never[]): unknown;
}

/**
 * What `RedisStore` runs on: an ioredis `Redis` or `Cluster`, or a node-redis 4/5 client or cluster.
 *
 * @example
 * ```ts
 * const client: RedisClient = await createClient({ url: process.env.REDIS_URL }).connect();
 * ```
 */
export type RedisClient = Redis | Cluster | NodeRedisClient;

/**
 * The few commands the store needs, the same over every library: arguments as strings, replies as ioredis
 * gives them for RESP2 (integers as numbers, bulk strings as strings, nil as null, arrays as arrays), and
 * errors the server answered recognisable by {@link StoreClient.isReplyError}.
 */
export interface StoreClient {
  /** `EVALSHA sha numkeys ...keys ...args`, routed by its first key on a cluster. */
  evalsha(sha: string, keys: string[], args: string[], signal?: AbortSignal): Promise<unknown>;
  /** `EVAL source numkeys ...keys ...args`, routed by its first key on a cluster. */
  eval(source: string, keys: string[], args: string[], signal?: AbortSignal): Promise<unknown>;
  /** The value of `CONFIG GET parameter` (on any node of a cluster); undefined when the server has none. */
  configGet(parameter: string): Promise<string | undefined>;
  /** `INFO section` as text (on any node of a cluster). */
  info(section: string): Promise<string>;
  /** Whether `err` is an error the server answered with (as opposed to no answer). */
  isReplyError(err: unknown): boolean;
}

/** Each user's client's {@link StoreClient}, and each StoreClient itself: made once per client. */
const made = new WeakMap<object, StoreClient>();

/**
 * The {@link StoreClient} of a user's client (made once, then the same), chosen by its shape (no library
 * is loaded here): node-redis clients have `evalSha` and `sendCommand`, ioredis ones `evalsha`. A
 * StoreClient is returned as it is. Throws a `TypeError` for anything else.
 *
 * @example
 * ```ts
 * const client = storeClient(new Redis()); // or createClient(), createCluster(...)
 * await client.evalsha(sha, ['key'], ['1']);
 * ```
 */
export function storeClient(redis: RedisClient | StoreClient): StoreClient {
  if (typeof redis !== 'object' || redis === null) return recognise(redis);
  let client = made.get(redis);
  if (client === undefined) {
    client = recognise(redis);
    made.set(redis, client);
    made.set(client, client);
  }
  return client;
}

function recognise(redis: unknown): StoreClient {
  if (typeof redis === 'object' && redis !== null) {
    const candidate = redis as Record<string, unknown>;
    if (typeof candidate.evalSha === 'function' && typeof candidate.sendCommand === 'function') {
      return typeof candidate.getSlotMaster === 'function'
        ? nodeRedis((args, firstKey, options) => (redis as NodeRedisCluster).sendCommand(firstKey, false, args, options))
        : nodeRedis((args, _firstKey, options) => (redis as NodeRedisSingle).sendCommand(args, options));
    }
    if (typeof candidate.evalsha === 'function') return ioredis(redis as Redis | Cluster);
  }
  throw new TypeError(
    'RedisStore: redis must be an ioredis Redis or Cluster, or a node-redis client or cluster (createClient() or createCluster() from redis)',
  );
}

function ioredis(redis: Redis | Cluster): StoreClient {
  return {
    evalsha: (sha, keys, args) => redis.evalsha(sha, keys.length, ...keys, ...args),
    eval: (source, keys, args) => redis.eval(source, keys.length, ...keys, ...args),
    async configGet(parameter) {
      const reply: unknown = await redis.config('GET', parameter);
      return Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined;
    },
    info: async (section) => String(await redis.info(section)),
    isReplyError: (err) => err instanceof Error && err.name === 'ReplyError',
  };
}

/** The options of node-redis's `sendCommand` that the store sets (others' names are ignored by each version). */
interface CommandOptions {
  /** node-redis 5: a command still queued (not written) when this aborts is dropped and rejects. */
  abortSignal?: AbortSignal;
  /** node-redis 5: replies in the default types (strings, numbers, null, arrays), whatever the client maps. */
  typeMapping?: Record<string, never>;
}

interface NodeRedisSingle {
  sendCommand(args: string[], options?: CommandOptions): Promise<unknown>;
}

interface NodeRedisCluster {
  sendCommand(firstKey: string | undefined, isReadonly: boolean, args: string[], options?: CommandOptions): Promise<unknown>;
}

type Send = (args: string[], firstKey: string | undefined, options: CommandOptions) => Promise<unknown>;

/*
 * Only node-redis 5's `abortSignal` is given: it drops a command still waiting in the offline queue at the
 * deadline, so it never runs late; once written, aborting does nothing. node-redis 4's `signal` is not: aborting
 * a command it has already written unlinks it a second time from a list it left (its queue's length goes
 * wrong) and rejects a command that will still run. node-redis 4 ignores `abortSignal`: a command it queued
 * while disconnected still rejects at the deadline (RedisScript's timer), and runs when the client reconnects
 * unless `disableOfflineQueue` is set.
 */
function nodeRedis(send: Send): StoreClient {
  const script = async (command: string, body: string, keys: string[], args: string[], signal?: AbortSignal) =>
    normalise(await send([command, body, String(keys.length), ...keys, ...args], keys[0], { abortSignal: signal, typeMapping: {} }));
  return {
    evalsha: (sha, keys, args, signal) => script('EVALSHA', sha, keys, args, signal),
    eval: (source, keys, args, signal) => script('EVAL', source, keys, args, signal),
    async configGet(parameter) {
      const reply = normalise(await send(['CONFIG', 'GET', parameter], undefined, { typeMapping: {} }));
      if (Array.isArray(reply)) return typeof reply[1] === 'string' ? reply[1] : undefined;
      // RESP3 answers a map (an object by default)
      if (reply instanceof Map) return stringOrUndefined(reply.get(parameter));
      if (typeof reply === 'object' && reply !== null) return stringOrUndefined((reply as Record<string, unknown>)[parameter]);
      return undefined;
    },
    info: async (section) => String(normalise(await send(['INFO', section], undefined, { typeMapping: {} }))),
    isReplyError,
  };
}

/** ioredis's RESP2 shapes: bytes as UTF-8 strings, bigints as numbers, nested arrays likewise. */
function normalise(reply: unknown): unknown {
  if (Array.isArray(reply)) return reply.map(normalise);
  if (reply instanceof Uint8Array) return Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength).toString('utf8');
  if (typeof reply === 'bigint') return Number(reply);
  if (reply instanceof Map) return new Map([...reply].map(([k, v]) => [normalise(k), normalise(v)]));
  return reply === undefined ? null : reply;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** node-redis 4's `ErrorReply` and node-redis 5's `SimpleError`/`BlobError` (subclasses of its `ErrorReply`). */
function isReplyError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  for (let proto = Object.getPrototypeOf(err); proto !== null && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { constructor?: { name?: unknown } }).constructor?.name === 'ErrorReply') return true;
  }
  return false;
}
