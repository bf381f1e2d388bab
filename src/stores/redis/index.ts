/**
 * `bulwark/redis`: the shared store for APIs that run on many processes or hosts.
 * @module
 */
import { refuseUnknownOptions } from '../../options/unknown-options.js';
import { type RedisClient, type StoreClient, storeClient } from './client.js';
import { RedisIdempotencyStore } from './idempotency.js';
import { RedisThrottleStore } from './throttle.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * Prefix of every key bulwark writes.
   * @default 'bulwark:'
   */
  prefix?: string;
  /**
   * Deadline of every Redis command, in milliseconds. A slower answer counts as an outage.
   * @default 500
   */
  commandTimeoutMs?: number;
  /**
   * Told (once per store) about a server setting that breaks a promise of bulwark: a `maxmemory-policy`
   * that may evict idempotency records, so that a retry of an evicted key runs again. Checked in the
   * background at the first idempotency claim (`CONFIG GET`, or `INFO memory` where CONFIG is disabled;
   * silent when neither answers).
   * @default one `console.warn` line starting `bulwark: RedisStore:`
   * @example
   * ```ts
   * new RedisStore(redis, { onWarning: (message) => logger.warn(message) })
   * ```
   */
  onWarning?: (message: string) => void;
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['prefix', 'commandTimeoutMs', 'onWarning']);

/**
 * A store on Redis, Valkey or a Redis Cluster through ioredis or node-redis (4 or 5): one round trip
 * (EVALSHA) per decision, time from Redis `TIME`, every command under a deadline. One instance can serve
 * every middleware at once. The client is recognised by its shape; bulwark loads neither library.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { RedisStore } from 'bulwark/redis';
 * const store = new RedisStore(new Redis(process.env.REDIS_URL));
 * // or: new RedisStore(await createClient({ url: process.env.REDIS_URL }).connect()) with node-redis
 * app.use(rateLimit({ limit: 100, windowMs: 60_000, store }));
 * ```
 */
export class RedisStore {
  /** The client it was given: ioredis `Redis` or `Cluster`, or a node-redis client or cluster. */
  readonly redis: RedisClient;
  /** The same client, through the commands the store needs. */
  readonly #client: StoreClient;
  /** Resolved options. */
  readonly options: Readonly<Required<RedisStoreOptions>>;
  #throttle: RedisThrottleStore | undefined;
  #idempotency: RedisIdempotencyStore | undefined;

  constructor(redis: RedisClient, options: RedisStoreOptions = {}) {
    const client = storeClient(redis);
    if (typeof options !== 'object' || options === null) throw new TypeError('RedisStore: options must be an object');
    refuseUnknownOptions('RedisStore', options, OPTION_NAMES);
    const prefix = options.prefix ?? 'bulwark:';
    if (typeof prefix !== 'string') throw new TypeError('RedisStore: options.prefix must be a string');
    const commandTimeoutMs = options.commandTimeoutMs ?? 500;
    if (!Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) {
      throw new TypeError('RedisStore: options.commandTimeoutMs must be a positive number of milliseconds');
    }
    const onWarning = options.onWarning ?? warn;
    if (typeof onWarning !== 'function') throw new TypeError('RedisStore: options.onWarning must be a function');
    this.redis = redis;
    this.#client = client;
    this.options = Object.freeze({ prefix, commandTimeoutMs, onWarning });
  }

  /** The rate-limit and spend-cap side of the store. */
  get throttle(): RedisThrottleStore {
    this.#throttle ??= new RedisThrottleStore(this.#client, this.options);
    return this.#throttle;
  }

  /** The idempotency side of the store. */
  get idempotency(): RedisIdempotencyStore {
    this.#idempotency ??= new RedisIdempotencyStore(this.#client, this.options);
    return this.#idempotency;
  }
}

function warn(message: string): void {
  console.warn(message);
}

export type { NodeRedisClient, RedisClient } from './client.js';
