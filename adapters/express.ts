/**
 * bulwark for Express 4 and 5: `errorHandler`, `notFound`, `ipAllowlist`, `rateLimit`, `spendCap`
 * and `idempotency`. Translation only: every decision is made in the framework-neutral core.
 * @module
 */
export { errorHandler, notFound } from './express/errors.js';
export type { ErrorEvent, ErrorHandlerOptions } from '../src/errors/error-responder.js';
