/**
 * bulwark for Web `fetch` handlers: `guard(handler, options)` and `readJson(request)`.
 * Translation only: every decision is made in the framework-neutral core.
 * @module
 */
export { type FetchHandler, type GuardControlsOf, type GuardedControls, type GuardedHandler, type GuardOptions, guard } from './fetch/guard.js';
export { type ReadJsonOptions, readJson } from '../src/guard/read-json.js';
export type { ErrorEvent, ErrorHandlerOptions } from '../src/errors/error-responder.js';
