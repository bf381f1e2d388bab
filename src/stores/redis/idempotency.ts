import type { RedisStoreOptions } from './index.js';
import type { RedisClient } from './script.js';

/** Placeholder until the idempotency issue lands. */
export class RedisIdempotencyStore {
  constructor(
    readonly redis: RedisClient,
    readonly options: Readonly<Required<RedisStoreOptions>>,
  ) {}
}
