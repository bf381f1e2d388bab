import type { StoreFactory } from './store-contract.js';

/** Placeholder until the idempotency issue lands. */
export function idempotencyStoreContract(_factory: StoreFactory): void {}
