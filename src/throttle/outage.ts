import { ApiError } from '../errors/api-error.js';
import { channels, type StoreEvent } from '../events/channels.js';
import { CONSOLE_LOGGER, type Logger, logLine } from '../events/logger.js';
import { MemoryStore } from '../stores/memory/index.js';
import type { MemoryThrottleStore } from '../stores/memory/throttle.js';
import { callHook } from '../events/call-hook.js';

/**
 * What a limiter or spend cap does while its store is unavailable (down, slow beyond its deadline):
 * - `'fallback'`: decide with a per-process memory limiter, and go back to the store when it answers again;
 * - `'open'`: admit every request (no headers);
 * - `'closed'`: refuse every request with 503 `service_unavailable`.
 */
export type OutageMode = 'fallback' | 'open' | 'closed';

/** What the `onStoreSwitch` hook receives. */
export interface StoreSwitchEvent {
  /** The middleware's `name`. */
  name: string;
  /** `'degraded'`: the store failed and the outage mode took over; `'recovered'`: the store answers again. */
  state: 'degraded' | 'recovered';
  /** The configured outage mode. */
  mode: OutageMode;
  /** The failure that caused the switch (for `'degraded'`). */
  error?: unknown;
}

/** What the `onRefundError` hook receives: a refund that could not reach the store (the charge stays). */
export interface RefundErrorEvent {
  /** The middleware's `name`. */
  name: string;
  /** Why the refund failed (the store is down, slower than its deadline). */
  error: unknown;
}

/** Validates the `onRefundError` option. @internal */
export function validateRefundHook(what: string, hook: unknown): ((event: RefundErrorEvent) => void) | undefined {
  if (hook !== undefined && typeof hook !== 'function') throw new TypeError(`${what}: options.onRefundError must be a function`);
  return hook as ((event: RefundErrorEvent) => void) | undefined;
}

/** Validates the outage options. @internal */
export function validateOutage(
  what: string,
  mode: unknown,
  hook: unknown,
): { mode: OutageMode; hook: ((event: StoreSwitchEvent) => void) | undefined } {
  const resolved = mode ?? 'fallback';
  if (resolved !== 'fallback' && resolved !== 'open' && resolved !== 'closed') {
    throw new TypeError(`${what}: options.onStoreError must be 'fallback', 'open' or 'closed'`);
  }
  if (hook !== undefined && typeof hook !== 'function') {
    throw new TypeError(`${what}: options.onStoreSwitch must be a function`);
  }
  return { mode: resolved, hook: hook as ((event: StoreSwitchEvent) => void) | undefined };
}

/** Who a {@link StoreHealth} belongs to, and where it reports. @internal */
export interface HealthOptions {
  /** The guard whose store it watches. */
  guard: StoreEvent['guard'];
  /** The guard's policy name (its `name` option). */
  policy: string;
  mode: OutageMode;
  /** `onStoreSwitch`: replaces the log line of a switch (the `bulwark:store` event is published either way). */
  hook?: ((event: StoreSwitchEvent) => void) | undefined;
  /** `onRefundError`: replaces the lost-refund log line. */
  refundHook?: ((event: RefundErrorEvent) => void) | undefined;
  /** Where the default lines go. @default console */
  logger?: Logger;
  /** @default 1000 */
  probeIntervalMs?: number;
}

/**
 * The health of one middleware's store. While the store is healthy every decision goes to it; after a
 * failure the outage mode decides, and one decision per `probeIntervalMs` goes to the store again to
 * find out whether it is back (so a dead store costs one bounded wait per interval, not one per request).
 * Each switch is published on `bulwark:store` and given to the `onStoreSwitch` hook (or, without one,
 * logged as one line).
 * @internal
 */
export class StoreHealth {
  #degraded = false;
  #probing = false;
  #lastProbe = 0;
  #fallback: MemoryThrottleStore | undefined;
  #lostRefunds = 0;
  #lastRefundLog = Number.NEGATIVE_INFINITY;
  /** `rateLimit "name"`: how lines and hook events name the middleware. */
  readonly name: string;
  readonly guard: StoreEvent['guard'];
  readonly policy: string;
  readonly mode: OutageMode;
  readonly hook: ((event: StoreSwitchEvent) => void) | undefined;
  readonly refundHook: ((event: RefundErrorEvent) => void) | undefined;
  readonly logger: Logger;
  readonly probeIntervalMs: number;

  constructor(options: HealthOptions) {
    this.guard = options.guard;
    this.policy = options.policy;
    this.name = `${options.guard} "${options.policy}"`;
    this.mode = options.mode;
    this.hook = options.hook;
    this.refundHook = options.refundHook;
    this.logger = options.logger ?? CONSOLE_LOGGER;
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
  }

  /**
   * A refund could not reach the store: reported to `refundHook` (each one), or by default in one
   * logger line a minute at most (with the count lost since the last line). The store counts as
   * failed, as after a failed decision. Never throws.
   */
  refundFailed(error: unknown): void {
    this.failed(error);
    try {
      if (this.refundHook) {
        callHook(this.refundHook, { name: this.name, error });
        return;
      }
      this.#lostRefunds += 1;
      const now = Date.now();
      if (now - this.#lastRefundLog < 60_000) return;
      this.#lastRefundLog = now;
      logLine(this.logger, 'warn', `bulwark: ${this.name}: ${this.#lostRefunds} refund(s) could not reach the store and were not given back (${causeOf(error)})`);
      this.#lostRefunds = 0;
    } catch {
      // a failing hook changes nothing
    }
  }

  /** Whether the store is currently considered down. */
  get degraded(): boolean {
    return this.#degraded;
  }

  /**
   * The per-process memory store that decides in `'fallback'` mode, made on the first degraded decision
   * (a middleware whose store never fails never holds one). Bounded: 10,000 keys.
   */
  get fallback(): MemoryThrottleStore {
    this.#fallback ??= new MemoryStore({ max: 10_000 }).throttle;
    return this.#fallback;
  }

  /** Whether this decision should ask the store. Marks a probe in flight while degraded. */
  useStore(): boolean {
    if (!this.#degraded) return true;
    if (this.#probing) return false;
    const now = Date.now();
    if (now - this.#lastProbe < this.probeIntervalMs) return false;
    this.#lastProbe = now;
    this.#probing = true;
    return true;
  }

  /** The store answered. */
  succeeded(): void {
    this.#probing = false;
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#emit({ name: this.name, state: 'recovered', mode: this.mode });
  }

  /** The store failed (rejected, threw, or missed its deadline). */
  failed(error: unknown): void {
    this.#probing = false;
    if (this.#degraded) return;
    this.#degraded = true;
    this.#lastProbe = Date.now();
    this.#emit({ name: this.name, state: 'degraded', mode: this.mode, error });
  }

  #emit(event: StoreSwitchEvent): void {
    if (channels.store.hasSubscribers) {
      const message: StoreEvent = { guard: this.guard, decision: event.state, policy: this.policy, outage: this.mode };
      channels.store.publish(message);
    }
    if (this.hook) callHook(this.hook, event);
    else this.#log(event);
  }

  #log(event: StoreSwitchEvent): void {
    if (event.state === 'recovered') {
      logLine(this.logger, 'warn', `bulwark: ${event.name}: store available again`);
      return;
    }
    const action =
      event.mode === 'fallback' ? 'deciding with a per-process limiter' : event.mode === 'open' ? 'admitting every request' : 'refusing requests with 503';
    logLine(this.logger, 'warn', `bulwark: ${event.name}: store unavailable, ${action} (${causeOf(event.error)})`);
  }
}

/** The first line of a failure, as a log line shows it (never a stack). */
function causeOf(error: unknown): string {
  let cause: string;
  try {
    cause = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    cause = 'unknown error';
  }
  return cause.split('\n')[0]!;
}

/** The 503 sent in `'closed'` mode. @internal */
export function unavailableError(): ApiError {
  return new ApiError('service_unavailable', { headers: { 'retry-after': '1' } });
}
