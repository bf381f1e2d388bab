import type { StoreFactory } from './store-contract.js';

/** Placeholder until the throttle issue lands. */
export function throttleStoreContract(_factory: StoreFactory): void {}
