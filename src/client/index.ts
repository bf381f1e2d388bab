/**
 * `bulwark/client`: an outgoing `fetch` wrapper that retries, waits out Retry-After, and breaks circuits.
 * @module
 */
export { ApiError, isApiError } from '../errors/api-error.js';
