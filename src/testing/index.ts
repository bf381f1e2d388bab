/**
 * `bulwark/testing`: conformance suites that any store (bulwark's or a third party's) can run in vitest.
 * @module
 */
export { storeContract, type StoreFactory } from './store-contract.js';
