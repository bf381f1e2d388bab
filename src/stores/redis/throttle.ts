import type { RedisStoreOptions } from './index.js';
import type { RedisClient } from './script.js';

/** Placeholder until the throttle issue lands. */
export class RedisThrottleStore {
  constructor(
    readonly redis: RedisClient,
    readonly options: Readonly<Required<RedisStoreOptions>>,
  ) {}
}
