import type { MemoryStoreOptions } from './index.js';

/** Placeholder until the idempotency issue lands. */
export class MemoryIdempotencyStore {
  constructor(readonly options: Readonly<Required<MemoryStoreOptions>>) {}
}
