import { withTimeout } from '../store-error.js';
import type { StoreClient } from './client.js';

/** What {@link checkEvictionPolicy} found. */
export type PolicyOutcome =
  /** The policy may evict keys with a TTL (every `allkeys-*` and `volatile-*` policy). */
  | { type: 'evicts'; policy: string }
  /** `noeviction`, or a policy this library does not know. */
  | { type: 'keeps'; policy: string }
  /** The server refused both questions (CONFIG and INFO disabled or renamed): nothing to say. */
  | { type: 'refused' }
  /** No answer at all (down, or slower than the deadline): worth asking again later. */
  | { type: 'unreachable' };

/**
 * Asks Redis for its `maxmemory-policy`: `CONFIG GET`, or, where CONFIG is disabled or renamed (as
 * many managed services do), the `maxmemory_policy` line of `INFO memory`. Never rejects.
 *
 * @example
 * ```ts
 * const outcome = await checkEvictionPolicy(redis, 500); // { type: 'evicts', policy: 'allkeys-lru' }
 * ```
 */
export async function checkEvictionPolicy(redis: StoreClient, timeoutMs: number): Promise<PolicyOutcome> {
  let replied = false;
  let policy: string | undefined;
  try {
    policy = await withTimeout(redis.configGet('maxmemory-policy'), timeoutMs, 'CONFIG GET');
    replied = true;
  } catch (err) {
    replied ||= isReplyError(redis, err);
  }
  if (policy === undefined) {
    try {
      const info = await withTimeout(redis.info('memory'), timeoutMs, 'INFO memory');
      policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
      replied = true;
    } catch (err) {
      replied ||= isReplyError(redis, err);
    }
  }
  if (policy === undefined) return replied ? { type: 'refused' } : { type: 'unreachable' };
  return /^(allkeys|volatile)-/.test(policy) ? { type: 'evicts', policy } : { type: 'keeps', policy };
}

/** An error the server answered with (as opposed to no answer). */
function isReplyError(redis: StoreClient, err: unknown): boolean {
  return redis.isReplyError((err as { cause?: unknown } | null)?.cause ?? err);
}
