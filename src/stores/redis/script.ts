import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { withTimeout } from '../store-error.js';

/** An ioredis client: a single node or a Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * A Lua script run with EVALSHA, falling back to EVAL only when Redis answers NOSCRIPT (after
 * `SCRIPT FLUSH`, a restart, or a failover to a replica that never saw it). One round trip in the
 * steady state.
 */
export class RedisScript {
  readonly sha: string;

  constructor(
    readonly source: string,
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * Runs the script with a deadline; rejects with `StoreUnavailableError` on timeout or failure.
   *
   * @example
   * ```ts
   * const reply = await script.run(redis, [key], [limit, windowMs], 500, 'rate limit');
   * ```
   */
  run(redis: RedisClient, keys: string[], args: Array<string | number>, timeoutMs: number, what: string): Promise<unknown> {
    return withTimeout(this.call(redis, keys, args), timeoutMs, what);
  }

  private async call(redis: RedisClient, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, this.numberOfKeys, ...keys, ...args);
      }
      throw err;
    }
  }
}

/**
 * A Redis Cluster hash tag that keeps every key of one decision in one slot, whatever the user's key
 * holds: the user part is hashed, so braces in it cannot change the slot.
 *
 * @example
 * ```ts
 * const tag = hashTag('tenant-{42}'); // '{3f2a…}'
 * ```
 */
export function hashTag(userKey: string): string {
  return `{${createHash('sha1').update(userKey).digest('base64url').slice(0, 22)}}`;
}
