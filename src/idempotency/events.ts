import { channels, hashKey, type IdempotencyEvent } from '../events/channels.js';

/**
 * Publishes one step of a keyed request on `bulwark:idempotency` (nothing is built without a subscriber).
 * `stored` is the stored key (a SHA-256 of scope and key); the event names it by {@link hashKey} of that.
 * @internal
 */
export function publishIdempotency(decision: IdempotencyEvent['decision'], stored: string, status?: number, replayable?: boolean): void {
  if (!channels.idempotency.hasSubscribers) return;
  const event: IdempotencyEvent = { guard: 'idempotency', decision, key: hashKey(stored) };
  if (status !== undefined) event.status = status;
  if (replayable === false) event.replayable = false;
  channels.idempotency.publish(event);
}

