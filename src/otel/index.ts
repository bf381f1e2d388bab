/**
 * `bulwark/otel`: OpenTelemetry metrics fed from bulwark's `bulwark:*` diagnostics channels.
 *
 * `@opentelemetry/api` is an optional peer dependency of bulwark: only this entry point loads it.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Attributes, type MeterProvider, metrics, ValueType } from '@opentelemetry/api';
import { CHANNELS } from '../events/channels.js';
import { refuseUnknownOptions } from '../options/unknown-options.js';

/** Options of {@link recordMetrics}. */
export interface RecordMetricsOptions {
  /**
   * Where the instruments are created (`meterProvider.getMeter('bulwark')`). Without it, the global
   * provider of `@opentelemetry/api` at the time of the call: register yours first
   * (`metrics.setGlobalMeterProvider`, or the SDK's `NodeSDK.start()`); before that the global provider
   * is a no-op one and nothing is recorded.
   * @default metrics.getMeterProvider()
   * @example `meterProvider: new MeterProvider({ readers: [new PrometheusExporter()] })`
   */
  meterProvider?: MeterProvider;
  /**
   * Origins (`https://api.example.com`) to name in an `origin` attribute of the `bulwark.client.*`
   * instruments. Without it the client's instruments carry no origin at all, because the origins a client
   * calls need not be bounded; with it, an origin on the list is named and any other is `_OTHER`.
   * @default [] (no `origin` attribute)
   * @example `origins: ['https://api.stripe.com', 'https://hooks.slack.com']`
   */
  origins?: readonly string[];
}

/** Stops recording: unsubscribes from every channel. Calling it again does nothing. */
export type StopRecording = () => void;

/** The meter's instrumentation scope name. */
export const METER_NAME = 'bulwark';

/**
 * The instruments {@link recordMetrics} creates, by name: their kind, unit, and the attributes they can
 * carry. This list is the stable contract; names and attributes are not renamed within a major version.
 */
export const INSTRUMENTS = {
  'bulwark.decisions': {
    kind: 'counter',
    unit: '{decision}',
    attributes: ['guard', 'decision', 'policy', 'mode', 'reason', 'source', 'period', 'status_class'],
    description: 'Decisions of ipAllowlist, rateLimit, spendCap and idempotency (one per request a guard decides; idempotency: one per step).',
  },
  'bulwark.refunds': {
    kind: 'counter',
    unit: '{refund}',
    attributes: ['guard', 'policy', 'mode'],
    description: 'Units given back by a rate limit or a spend cap, one per refund.',
  },
  'bulwark.cost': {
    kind: 'counter',
    unit: '{unit}',
    attributes: ['guard', 'decision', 'policy', 'mode'],
    description: 'The cost of every rate-limit and spend-cap decision and refund, summed (units as the guard counts them).',
  },
  'bulwark.store.transitions': {
    kind: 'counter',
    unit: '{transition}',
    attributes: ['guard', 'decision', 'policy', 'outage'],
    description: "A guard's store stopped (degraded) or started (recovered) answering.",
  },
  'bulwark.client.attempts': {
    kind: 'counter',
    unit: '{attempt}',
    attributes: ['method', 'status_class', 'code', 'origin'],
    description: 'Attempts sent by createFetch that answered or failed.',
  },
  'bulwark.client.attempt.duration': {
    kind: 'histogram',
    unit: 'ms',
    attributes: ['method', 'status_class', 'code', 'origin'],
    description: 'How long each attempt of createFetch took, until its response headers or its failure.',
  },
  'bulwark.client.calls': {
    kind: 'counter',
    unit: '{call}',
    attributes: ['method', 'status_class', 'code', 'origin'],
    description: 'Calls of a createFetch function that returned or threw, whatever the attempts they took.',
  },
  'bulwark.client.call.duration': {
    kind: 'histogram',
    unit: 'ms',
    attributes: ['method', 'status_class', 'code', 'origin'],
    description: 'How long each call of a createFetch function took, its retries and waits included.',
  },
  'bulwark.client.retries': {
    kind: 'counter',
    unit: '{retry}',
    attributes: ['method', 'status_class', 'code', 'origin'],
    description: 'Retries decided by createFetch, with what the attempt being retried answered.',
  },
  'bulwark.client.refusals': {
    kind: 'counter',
    unit: '{refusal}',
    attributes: ['method', 'reason', 'origin'],
    description: 'Sends refused locally: a retry the retry budget refused (budget), a call adaptive throttling shed (shed).',
  },
  'bulwark.client.paced': {
    kind: 'counter',
    unit: '{wait}',
    attributes: ['method', 'origin'],
    description: "Calls that waited for an origin's quota before they were sent.",
  },
  'bulwark.client.breaker.transitions': {
    kind: 'counter',
    unit: '{transition}',
    attributes: ['state', 'origin'],
    description: 'Circuit breakers of createFetch that opened, half-opened or closed.',
  },
} as const;

/** The name of one of bulwark's instruments. */
export type InstrumentName = keyof typeof INSTRUMENTS;

/** Bucket boundaries of both duration histograms, in milliseconds. */
export const DURATION_BOUNDARIES_MS: readonly number[] = [5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10_000, 30_000, 60_000];

/** The value of an attribute that would pass its bound: an origin not listed, a method not standard, a name past the cap. */
export const OTHER = '_OTHER';
/** Distinct policy names recorded before further ones become {@link OTHER} (names are configuration). */
export const MAX_POLICIES = 256;
/** Distinct error codes recorded before further ones become {@link OTHER} (an origin's codes reach the client's). */
export const MAX_CODES = 64;

const OPTION_NAMES: ReadonlySet<string> = new Set(['meterProvider', 'origins']);
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']);
const CODE_SHAPE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

const DECISIONS = {
  allowlist: new Set(['allow', 'deny']),
  rateLimit: new Set(['allow', 'throttle', 'too-costly']),
  spendCap: new Set(['allow', 'deny']),
  idempotency: new Set(['claim', 'conflict', 'replay', 'mismatch', 'complete', 'release', 'store-failure']),
} as const;
const REASONS: ReadonlySet<string> = new Set(['not-listed', 'no-address', 'refused', 'error']);
const SOURCES: ReadonlySet<string> = new Set(['store', 'fallback', 'open', 'closed']);
const PERIODS: ReadonlySet<string> = new Set(['daily', 'monthly']);
const STORE_GUARDS: ReadonlySet<string> = new Set(['rateLimit', 'spendCap', 'idempotency']);
const STORE_DECISIONS: ReadonlySet<string> = new Set(['degraded', 'recovered']);
const BREAKER_STATES: Readonly<Record<string, string>> = {
  'breaker-open': 'open',
  'breaker-half-open': 'half-open',
  'breaker-close': 'closed',
};

/** Providers being recorded into, so that a second call cannot double every count. */
const recording = new WeakSet<object>();

type Event = Record<string, unknown>;

/**
 * Starts recording bulwark's decisions as OpenTelemetry metrics: subscribes to every `bulwark:*`
 * diagnostics channel (allowlist, rate limit, spend cap, idempotency, store, client) and turns each event
 * into the instruments of {@link INSTRUMENTS}. Attributes are bounded: a key, path, address, scope or
 * origin is never one (origins only when listed in `origins`), and policy names and error codes are
 * capped ({@link MAX_POLICIES}, {@link MAX_CODES}).
 *
 * Call it once per meter provider (a second call while the first records throws: every count would be
 * doubled). Returns a function that stops recording; the instruments keep the counts recorded so far.
 *
 * @param options See {@link RecordMetricsOptions}. @default {}
 * @returns The function that unsubscribes (idempotent).
 * @throws TypeError for an unknown option, a `meterProvider` without `getMeter`, a bad origin, or a provider already recorded into.
 * @example
 * ```ts
 * import { MeterProvider } from '@opentelemetry/sdk-metrics';
 * import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
 * import { recordMetrics } from 'bulwark/otel';
 *
 * const exporter = new PrometheusExporter({ preventServerStart: true });
 * const stop = recordMetrics({ meterProvider: new MeterProvider({ readers: [exporter] }) });
 * app.get('/metrics', (req, res) => exporter.getMetricsRequestHandler(req, res));
 * // later: stop();
 * ```
 */
export function recordMetrics(options: RecordMetricsOptions = {}): StopRecording {
  if (typeof options !== 'object' || options === null) throw new TypeError('recordMetrics: options must be an object');
  refuseUnknownOptions('recordMetrics', options, OPTION_NAMES);
  const provider = options.meterProvider ?? metrics.getMeterProvider();
  if (typeof provider !== 'object' || provider === null || typeof (provider as MeterProvider).getMeter !== 'function') {
    throw new TypeError('recordMetrics: options.meterProvider must be an OpenTelemetry MeterProvider (with getMeter)');
  }
  const origins = validateOrigins(options.origins);
  if (recording.has(provider)) {
    throw new TypeError('recordMetrics: already recording into this meterProvider (call the stop function it returned first)');
  }

  const meter = provider.getMeter(METER_NAME);
  const counter = (name: InstrumentName) =>
    meter.createCounter(name, { unit: INSTRUMENTS[name].unit, description: INSTRUMENTS[name].description, valueType: ValueType.INT });
  const histogram = (name: InstrumentName) =>
    meter.createHistogram(name, {
      unit: INSTRUMENTS[name].unit,
      description: INSTRUMENTS[name].description,
      valueType: ValueType.DOUBLE,
      advice: { explicitBucketBoundaries: [...DURATION_BOUNDARIES_MS] },
    });
  const decisions = counter('bulwark.decisions');
  const refunds = counter('bulwark.refunds');
  const cost = meter.createCounter('bulwark.cost', {
    unit: INSTRUMENTS['bulwark.cost'].unit,
    description: INSTRUMENTS['bulwark.cost'].description,
    valueType: ValueType.DOUBLE,
  });
  const storeTransitions = counter('bulwark.store.transitions');
  const attempts = counter('bulwark.client.attempts');
  const attemptDuration = histogram('bulwark.client.attempt.duration');
  const calls = counter('bulwark.client.calls');
  const callDuration = histogram('bulwark.client.call.duration');
  const retries = counter('bulwark.client.retries');
  const refusals = counter('bulwark.client.refusals');
  const paced = counter('bulwark.client.paced');
  const breakerTransitions = counter('bulwark.client.breaker.transitions');

  const policyOf = capped(MAX_POLICIES, (value) => value.length <= 100);
  const codeOf = capped(MAX_CODES, (value) => CODE_SHAPE.test(value));
  const modeOf = (event: Event) => (event.mode === 'shadow' ? 'shadow' : 'enforce');

  /** rateLimit and spendCap: a decision, a refund, and their cost. */
  const metered = (guard: 'rateLimit' | 'spendCap', allowed: ReadonlySet<string>) => (event: Event) => {
    const decision = event.decision;
    const policy = policyOf(event.policy);
    const mode = modeOf(event);
    const attributes: Attributes = { guard, decision: decision as string, mode };
    if (policy !== undefined) attributes.policy = policy;
    if (decision === 'refund') {
      refunds.add(1, { guard, mode, ...(policy === undefined ? {} : { policy }) });
    } else if (typeof decision === 'string' && allowed.has(decision)) {
      const outcome: Attributes = { ...attributes };
      if (typeof event.source === 'string' && SOURCES.has(event.source)) outcome.source = event.source;
      if (guard === 'spendCap' && decision === 'deny' && typeof event.period === 'string' && PERIODS.has(event.period)) {
        outcome.period = event.period;
      }
      decisions.add(1, outcome);
    } else {
      return;
    }
    if (typeof event.cost === 'number' && Number.isFinite(event.cost) && event.cost > 0) cost.add(event.cost, attributes);
  };

  const handlers: Record<(typeof CHANNELS)[keyof typeof CHANNELS], (event: Event) => void> = {
    [CHANNELS.allowlist]: (event) => {
      if (typeof event.decision !== 'string' || !DECISIONS.allowlist.has(event.decision)) return;
      const attributes: Attributes = { guard: 'ipAllowlist', decision: event.decision, mode: modeOf(event) };
      if (event.decision === 'deny' && typeof event.reason === 'string' && REASONS.has(event.reason)) attributes.reason = event.reason;
      decisions.add(1, attributes);
    },
    [CHANNELS.rateLimit]: metered('rateLimit', DECISIONS.rateLimit),
    [CHANNELS.spendCap]: metered('spendCap', DECISIONS.spendCap),
    [CHANNELS.idempotency]: (event) => {
      if (typeof event.decision !== 'string' || !DECISIONS.idempotency.has(event.decision)) return;
      const attributes: Attributes = { guard: 'idempotency', decision: event.decision };
      const statusClass = statusClassOf(event.status);
      if (statusClass !== undefined) attributes.status_class = statusClass;
      decisions.add(1, attributes);
    },
    [CHANNELS.store]: (event) => {
      if (typeof event.guard !== 'string' || !STORE_GUARDS.has(event.guard)) return;
      if (typeof event.decision !== 'string' || !STORE_DECISIONS.has(event.decision)) return;
      const attributes: Attributes = { guard: event.guard, decision: event.decision };
      const policy = policyOf(event.policy);
      if (policy !== undefined) attributes.policy = policy;
      if (typeof event.outage === 'string' && SOURCES.has(event.outage) && event.outage !== 'store') attributes.outage = event.outage;
      storeTransitions.add(1, attributes);
    },
    [CHANNELS.client]: (event) => {
      const decision = event.decision;
      if (typeof decision !== 'string') return;
      const state = Object.hasOwn(BREAKER_STATES, decision) ? BREAKER_STATES[decision] : undefined;
      if (state !== undefined) {
        breakerTransitions.add(1, withOrigin({ state }, event, origins));
        return;
      }
      const attributes: Attributes = {};
      const method = methodOf(event.method);
      if (method !== undefined) attributes.method = method;
      withOrigin(attributes, event, origins);
      switch (decision) {
        case 'attempt-end':
        case 'call-end':
        case 'retry': {
          const statusClass = statusClassOf(event.status);
          if (statusClass !== undefined) attributes.status_class = statusClass;
          const code = codeOf(event.code);
          if (code !== undefined) attributes.code = code;
          if (decision === 'retry') {
            retries.add(1, attributes);
            return;
          }
          (decision === 'attempt-end' ? attempts : calls).add(1, attributes);
          const duration = event.durationMs;
          if (typeof duration === 'number' && Number.isFinite(duration) && duration >= 0) {
            (decision === 'attempt-end' ? attemptDuration : callDuration).record(duration, attributes);
          }
          return;
        }
        case 'budget-refused':
        case 'shed':
          attributes.reason = decision === 'shed' ? 'shed' : 'budget';
          refusals.add(1, attributes);
          return;
        case 'paced':
          paced.add(1, attributes);
          return;
        default:
          // 'attempt' (counted when it ends) and decisions of a later bulwark
          return;
      }
    },
  };

  // A subscriber that throws would surface as an uncaught exception in the request that published:
  // a broken event or meter loses the data point, never the request.
  const subscribed = Object.entries(handlers).map(([name, handle]) => {
    const listener = (message: unknown) => {
      if (typeof message !== 'object' || message === null) return;
      try {
        handle(message as Event);
      } catch {
        // dropped: metrics never fail a request
      }
    };
    subscribe(name, listener);
    return [name, listener] as const;
  });
  recording.add(provider);

  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    for (const [name, listener] of subscribed) unsubscribe(name, listener);
    recording.delete(provider);
  };
}

/** `2xx` for 200-299, ... ; undefined for anything that is not an HTTP status. */
function statusClassOf(status: unknown): string | undefined {
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return undefined;
  return `${Math.floor(status / 100)}xx`;
}

/** A standard method as given, any other as {@link OTHER} (as OpenTelemetry's HTTP conventions do). */
function methodOf(method: unknown): string | undefined {
  if (typeof method !== 'string') return undefined;
  const upper = method.toUpperCase();
  return METHODS.has(upper) ? upper : OTHER;
}

/**
 * A string attribute bounded in distinct values: the first `max` accepted values pass as they are, later
 * new ones become {@link OTHER}; values `accept` refuses become {@link OTHER} too. Non-strings give undefined.
 */
function capped(max: number, accept: (value: string) => boolean): (value: unknown) => string | undefined {
  const seen = new Set<string>();
  return (value) => {
    if (typeof value !== 'string' || value === '') return undefined;
    if (seen.has(value)) return value;
    if (!accept(value) || seen.size >= max) return OTHER;
    seen.add(value);
    return value;
  };
}

function withOrigin(attributes: Attributes, event: Event, origins: ReadonlySet<string> | undefined): Attributes {
  if (origins !== undefined) attributes.origin = typeof event.origin === 'string' && origins.has(event.origin) ? event.origin : OTHER;
  return attributes;
}

function validateOrigins(value: unknown): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new TypeError('recordMetrics: options.origins must be an array of origins (https://api.example.com)');
  const origins = new Set<string>();
  for (const entry of value) {
    let origin: string | undefined;
    try {
      origin = typeof entry === 'string' ? new URL(entry).origin : undefined;
    } catch {
      origin = undefined;
    }
    if (origin === undefined || origin === 'null') {
      throw new TypeError(`recordMetrics: options.origins has an entry that is not an origin: ${JSON.stringify(String(entry)).slice(0, 80)}`);
    }
    origins.add(origin);
  }
  return origins.size === 0 ? undefined : origins;
}
