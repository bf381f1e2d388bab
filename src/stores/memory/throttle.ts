import type { MemoryStoreOptions } from './index.js';

/** Placeholder until the throttle issue lands. */
export class MemoryThrottleStore {
  constructor(readonly options: Readonly<Required<MemoryStoreOptions>>) {}
}
