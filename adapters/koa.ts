/**
 * bulwark for Koa 2 and 3: `errorHandler`, `ipAllowlist`, `rateLimit`, `spendCap` and `idempotency`.
 * Translation only: every decision is made in the framework-neutral core.
 * @module
 */
export { errorHandler } from './koa/errors.js';
export type { ErrorEvent, ErrorHandlerOptions } from '../src/errors/error-responder.js';
