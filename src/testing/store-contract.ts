import { describe } from 'vitest';
import { idempotencyStoreContract } from './idempotency-contract.js';
import { throttleStoreContract } from './throttle-contract.js';

/** Makes a fresh store for one test; `cleanup` runs after it (close connections, flush keys). */
export type StoreFactory<Store = unknown> = () =>
  | { store: Store; cleanup?: () => void | Promise<void> }
  | Promise<{ store: Store; cleanup?: () => void | Promise<void> }>;

/**
 * The conformance suite every bulwark store must pass: the throttle side (exact admission under
 * concurrency, Retry-After, costs) and the idempotency side (claim, lease, complete, replay).
 * Call it inside a vitest test file. Every test title starts with `name` (`MemoryStore: idempotency: ...`),
 * so that a line about one test (a slow one, a failure) says which store it ran on.
 *
 * @example
 * ```ts
 * import { storeContract } from 'bulwark/testing';
 * import { MemoryStore } from 'bulwark';
 * storeContract('MemoryStore', () => ({ store: new MemoryStore() }));
 * ```
 */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`store contract: ${name}`, () => {
    throttleStoreContract(factory, name);
    idempotencyStoreContract(factory, name);
  });
}
