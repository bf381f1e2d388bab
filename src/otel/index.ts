/**
 * `bulwark/otel`: OpenTelemetry metrics fed from bulwark's `bulwark:*` diagnostics channels.
 *
 * `@opentelemetry/api` is an optional peer dependency of bulwark: only this entry point loads it.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Attributes, type Histogram, type MeterProvider, metrics, type ObservableResult, ValueType } from '@opentelemetry/api';
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
 * Counters are monotonic sums (created as observable counters over totals kept in process, so an event
 * costs no attribute hashing); the durations are histograms with {@link DURATION_BOUNDARIES_MS}.
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
    description:
      "Sends refused locally: a retry the retry budget refused (budget), a call adaptive throttling shed (shed), a call or retry pacing refused because its turn would come too late (paced).",
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

  const {
    decisions,
    refunds,
    cost,
    storeTransitions,
    attempts,
    attemptDuration,
    calls,
    callDuration,
    retries,
    refusals,
    paced,
    breakerTransitions,
  } = instrumentsOf(provider);

  const policyOf = capped(MAX_POLICIES, (value) => value.length <= 100);
  const codeOf = capped(MAX_CODES, (value) => CODE_SHAPE.test(value));
  const modeOf = (event: Event) => (event.mode === 'shadow' ? 'shadow' : 'enforce');

  const decided = (
    guard: string,
    decision: string,
    mode: string | undefined,
    policy: string | undefined,
    extra: { reason?: string | undefined; source?: string | undefined; period?: string | undefined; statusClass?: string | undefined },
  ) => {
    const key = `${guard}\0${decision}\0${mode ?? ''}\0${policy ?? ''}\0${extra.reason ?? ''}\0${extra.source ?? ''}\0${extra.period ?? ''}\0${extra.statusClass ?? ''}`;
    if (decisions.add(key, 1)) return;
    decisions.create(key, 1, defined({ guard, decision, mode, policy, reason: extra.reason, source: extra.source, period: extra.period, status_class: extra.statusClass }));
  };
  const NONE = {};

  /** rateLimit and spendCap: a decision or a refund, and its cost. */
  const metered = (guard: 'rateLimit' | 'spendCap', allowed: ReadonlySet<string>) => (event: Event) => {
    const decision = event.decision;
    if (typeof decision !== 'string') return;
    const policy = policyOf(event.policy);
    const mode = modeOf(event);
    if (decision === 'refund') {
      const key = `${guard}\0${mode}\0${policy ?? ''}`;
      if (!refunds.add(key, 1)) refunds.create(key, 1, defined({ guard, mode, policy }));
    } else if (allowed.has(decision)) {
      const source = typeof event.source === 'string' && SOURCES.has(event.source) ? event.source : undefined;
      const period =
        guard === 'spendCap' && decision === 'deny' && typeof event.period === 'string' && PERIODS.has(event.period) ? event.period : undefined;
      decided(guard, decision, mode, policy, source === undefined && period === undefined ? NONE : { source, period });
    } else {
      return;
    }
    const amount = event.cost;
    if (typeof amount === 'number' && Number.isFinite(amount) && amount > 0) {
      const key = `${guard}\0${decision}\0${mode}\0${policy ?? ''}`;
      if (!cost.add(key, amount)) cost.create(key, amount, defined({ guard, decision, mode, policy }));
    }
  };

  /** The client's counters and histograms keyed by method, status class, code and origin. */
  const outcome = (totals: Totals, event: Event, histogram?: Histogram) => {
    const method = methodOf(event.method);
    const statusClass = statusClassOf(event.status);
    const code = codeOf(event.code);
    const origin = originOf(event, origins);
    const key = `${method ?? ''}\0${statusClass ?? ''}\0${code ?? ''}\0${origin ?? ''}`;
    let attributes = totals.add(key, 1);
    if (attributes === undefined) {
      attributes = defined({ method, status_class: statusClass, code, origin });
      totals.create(key, 1, attributes);
    }
    const duration = event.durationMs;
    if (histogram !== undefined && typeof duration === 'number' && Number.isFinite(duration) && duration >= 0) {
      histogram.record(duration, attributes);
    }
  };

  const handlers: Record<(typeof CHANNELS)[keyof typeof CHANNELS], (event: Event) => void> = {
    [CHANNELS.allowlist]: (event) => {
      const decision = event.decision;
      if (typeof decision !== 'string' || !DECISIONS.allowlist.has(decision)) return;
      const reason = decision === 'deny' && typeof event.reason === 'string' && REASONS.has(event.reason) ? event.reason : undefined;
      decided('ipAllowlist', decision, modeOf(event), undefined, reason === undefined ? NONE : { reason });
    },
    [CHANNELS.rateLimit]: metered('rateLimit', DECISIONS.rateLimit),
    [CHANNELS.spendCap]: metered('spendCap', DECISIONS.spendCap),
    [CHANNELS.idempotency]: (event) => {
      const decision = event.decision;
      if (typeof decision !== 'string' || !DECISIONS.idempotency.has(decision)) return;
      const statusClass = statusClassOf(event.status);
      decided('idempotency', decision, undefined, undefined, statusClass === undefined ? NONE : { statusClass });
    },
    [CHANNELS.store]: (event) => {
      const { guard, decision } = event;
      if (typeof guard !== 'string' || !STORE_GUARDS.has(guard)) return;
      if (typeof decision !== 'string' || !STORE_DECISIONS.has(decision)) return;
      const policy = policyOf(event.policy);
      const outage = typeof event.outage === 'string' && SOURCES.has(event.outage) && event.outage !== 'store' ? event.outage : undefined;
      const key = `${guard}\0${decision}\0${policy ?? ''}\0${outage ?? ''}`;
      if (!storeTransitions.add(key, 1)) storeTransitions.create(key, 1, defined({ guard, decision, policy, outage }));
    },
    [CHANNELS.client]: (event) => {
      const decision = event.decision;
      if (typeof decision !== 'string') return;
      switch (decision) {
        case 'attempt-end':
          return outcome(attempts, event, attemptDuration);
        case 'call-end':
          return outcome(calls, event, callDuration);
        case 'retry':
          return outcome(retries, event);
        case 'budget-refused':
        case 'shed':
        case 'paced': {
          const method = methodOf(event.method);
          const origin = originOf(event, origins);
          // A 'paced' event with code 'throttled' is a call (or retry) refused at once, never sent and
          // never waiting: a refusal, not a wait.
          const waited = decision === 'paced' && event.code !== 'throttled';
          const reason = waited ? undefined : decision === 'shed' ? 'shed' : decision === 'paced' ? 'paced' : 'budget';
          const totals = waited ? paced : refusals;
          const key = `${method ?? ''}\0${reason ?? ''}\0${origin ?? ''}`;
          if (!totals.add(key, 1)) totals.create(key, 1, defined({ method, reason, origin }));
          return;
        }
        default: {
          const state = Object.hasOwn(BREAKER_STATES, decision) ? BREAKER_STATES[decision] : undefined;
          // 'attempt' is counted when it ends; a decision of a later bulwark is not counted
          if (state === undefined) return;
          const origin = originOf(event, origins);
          const key = `${state}\0${origin ?? ''}`;
          if (!breakerTransitions.add(key, 1)) breakerTransitions.create(key, 1, defined({ state, origin }));
          return;
        }
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

/**
 * The totals behind one counter. An event adds to a total in this process (a string key and a number,
 * nothing the SDK has to hash); the SDK reads the totals when it collects, through an observable counter.
 * An OpenTelemetry synchronous counter would hash the attributes and look up its storage on every event,
 * which costs several times a rate-limit decision.
 */
class Totals {
  readonly #entries = new Map<string, { attributes: Attributes; value: number }>();

  /** Adds to the total of `key` and returns its attributes, or undefined when `key` has none yet. */
  add(key: string, value: number): Attributes | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    entry.value += value;
    return entry.attributes;
  }

  /** Starts the total of a new `key`. */
  create(key: string, value: number, attributes: Attributes): void {
    this.#entries.set(key, { attributes, value });
  }

  observe = (result: ObservableResult): void => {
    for (const { attributes, value } of this.#entries.values()) result.observe(value, attributes);
  };
}

interface Instruments {
  decisions: Totals;
  refunds: Totals;
  cost: Totals;
  storeTransitions: Totals;
  attempts: Totals;
  attemptDuration: Histogram;
  calls: Totals;
  callDuration: Histogram;
  retries: Totals;
  refusals: Totals;
  paced: Totals;
  breakerTransitions: Totals;
}

/**
 * The instruments of one provider, created once: a second recorder on the same provider (after the first
 * stopped) goes on adding to the same totals, so counts stay cumulative and are never reported twice.
 */
const byProvider = new WeakMap<object, Instruments>();

function instrumentsOf(provider: MeterProvider): Instruments {
  const known = byProvider.get(provider);
  if (known !== undefined) return known;
  const meter = provider.getMeter(METER_NAME);
  const counter = (name: InstrumentName, valueType = ValueType.INT): Totals => {
    const spec = INSTRUMENTS[name];
    const totals = new Totals();
    meter.createObservableCounter(name, { unit: spec.unit, description: spec.description, valueType }).addCallback(totals.observe);
    return totals;
  };
  const histogram = (name: InstrumentName): Histogram =>
    meter.createHistogram(name, {
      unit: INSTRUMENTS[name].unit,
      description: INSTRUMENTS[name].description,
      valueType: ValueType.DOUBLE,
      advice: { explicitBucketBoundaries: [...DURATION_BOUNDARIES_MS] },
    });
  const instruments: Instruments = {
    decisions: counter('bulwark.decisions'),
    refunds: counter('bulwark.refunds'),
    cost: counter('bulwark.cost', ValueType.DOUBLE),
    storeTransitions: counter('bulwark.store.transitions'),
    attempts: counter('bulwark.client.attempts'),
    attemptDuration: histogram('bulwark.client.attempt.duration'),
    calls: counter('bulwark.client.calls'),
    callDuration: histogram('bulwark.client.call.duration'),
    retries: counter('bulwark.client.retries'),
    refusals: counter('bulwark.client.refusals'),
    paced: counter('bulwark.client.paced'),
    breakerTransitions: counter('bulwark.client.breaker.transitions'),
  };
  byProvider.set(provider, instruments);
  return instruments;
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

/** The `origin` attribute: undefined without `origins`, else the origin when listed or {@link OTHER}. */
function originOf(event: Event, origins: ReadonlySet<string> | undefined): string | undefined {
  if (origins === undefined) return undefined;
  return typeof event.origin === 'string' && origins.has(event.origin) ? event.origin : OTHER;
}

/** The attributes that have a value. */
function defined(attributes: Record<string, string | undefined>): Attributes {
  const out: Attributes = {};
  for (const [name, value] of Object.entries(attributes)) if (value !== undefined) out[name] = value;
  return out;
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
