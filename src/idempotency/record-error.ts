import { CONSOLE_LOGGER, type Logger, logLine } from '../events/logger.js';
import { callHook } from '../events/call-hook.js';

/**
 * What the `onRecordError` hook of `idempotency()` receives: a moment when the store could not keep the
 * promise "a completed request never runs again".
 *
 * - `'not_replayable'`: the response could not be stored within `storeTimeoutMs` (the store refused or
 *   did not answer, for example Redis at `maxmemory` with `noeviction`); the key was recorded as completed
 *   but not replayable instead, so a retry gets 422 `idempotency_key_used` (`replayable: false`) and
 *   never runs again.
 * - `'not_recorded'`: neither the response nor that smaller record could be written: after its lease a
 *   retry may run the handler again.
 * - `'claim_lost'`: while the handler ran (or when it finished) its claim turned out to belong to another
 *   request: the lease ran out unrenewed (an event-loop stall longer than the bound, a store that lost
 *   its data) and the same key may have run twice. The response is still sent; it was not stored.
 */
export interface RecordErrorEvent {
  kind: 'not_replayable' | 'not_recorded' | 'claim_lost';
  /**
   * The first 12 characters of the stored key (a SHA-256 of scope and key): the same key of the same
   * caller always has the same id, and neither the key nor the scope can be read from it.
   */
  id: string;
  /** One line for humans (never the key nor the scope). */
  message: string;
  /** The store's failure, when there was one. */
  error?: unknown;
}

/**
 * Calls `hook`, or writes the default line to `logger` (its `error`); a hook or a logger that throws
 * changes nothing. @internal
 */
export function reportRecordError(
  hook: ((event: RecordErrorEvent) => void) | undefined,
  event: RecordErrorEvent,
  logger: Logger = CONSOLE_LOGGER,
): void {
  try {
    if (hook) callHook(hook, event);
    else {
      const cause = event.error instanceof Error ? ` (${event.error.name}: ${event.error.message.split('\n')[0]})` : '';
      logLine(logger, 'error', `bulwark: idempotency: ${event.message} [key #${event.id}]${cause}`);
    }
  } catch {
    // a failing hook must not change what the client gets
  }
}
