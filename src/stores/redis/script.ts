import { createHash } from 'node:crypto';
import { withTimeout } from '../store-error.js';
import { type RedisClient as UserClient, type StoreClient, storeClient } from './client.js';

/**
 * The client a script runs on: the store's {@link StoreClient}, or a user's ioredis or node-redis client
 * (given its StoreClient, made once). The name the throttle and idempotency stores use.
 */
export type RedisClient = StoreClient | UserClient;

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
    // `numberOfKeys` says where the keys end, as EVALSHA's numkeys did.
    const words = [...keys, ...args.map(String)];
    const deadline = new AbortController();
    const reply = withTimeout(
      this.call(storeClient(redis), words.slice(0, this.numberOfKeys), words.slice(this.numberOfKeys), deadline.signal),
      timeoutMs,
      what,
    );
    // Past the deadline, a command the client still holds in its offline queue is dropped (node-redis 5).
    reply.catch(() => deadline.abort());
    return reply;
  }

  private async call(redis: StoreClient, keys: string[], args: string[], signal: AbortSignal): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys, args, signal);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT') && !signal.aborted) {
        return redis.eval(this.source, keys, args, signal);
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
