/**
 * recordMetrics with events published straight on the bulwark:* channels, read back through the real
 * OpenTelemetry SDK (MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter).
 */
import { channel } from 'node:diagnostics_channel';
import { metrics } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, hashKey } from '../../src/events/channels.js';
import { INSTRUMENTS, MAX_CODES, MAX_POLICIES, OTHER, recordMetrics } from '../../src/otel/index.js';
import { counts, type Recorded, recorded } from './support.js';

const publish = (name: string, message: unknown) => channel(name).publish(message);

let open: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const close of open.reverse()) await close();
  open = [];
});

function start(options: Parameters<typeof recordMetrics>[0] = {}): { sdk: Recorded; stop: () => void } {
  const sdk = recorded();
  const stop = recordMetrics({ meterProvider: sdk.provider, ...options });
  open.push(stop, () => sdk.shutdown());
  return { sdk, stop };
}

const rl = (decision: string, extra: object = {}) => ({
  guard: 'rateLimit',
  decision,
  policy: 'api',
  key: hashKey('10.0.0.1'),
  cost: 1,
  limit: 10,
  remaining: 5,
  source: 'store',
  mode: 'enforce',
  wouldDeny: false,
  ...extra,
});
const sc = (decision: string, extra: object = {}) => ({
  guard: 'spendCap',
  decision,
  policy: 'sms-spend',
  key: hashKey('acct_1'),
  cost: 25,
  source: 'store',
  mode: 'enforce',
  wouldDeny: false,
  ...extra,
});

describe('recordMetrics: guard events', () => {
  it('counts every decision once, by guard, decision, policy, mode and the bounded facts of each', async () => {
    const { sdk } = start();
    publish(CHANNELS.allowlist, { guard: 'ipAllowlist', decision: 'allow', address: '127.0.0.1', mode: 'enforce', wouldDeny: false });
    publish(CHANNELS.allowlist, { guard: 'ipAllowlist', decision: 'allow', address: '127.0.0.2', mode: 'enforce', wouldDeny: false });
    publish(CHANNELS.allowlist, { guard: 'ipAllowlist', decision: 'deny', reason: 'not-listed', address: '203.0.113.9', mode: 'enforce', wouldDeny: false });
    publish(CHANNELS.allowlist, { guard: 'ipAllowlist', decision: 'deny', reason: 'not-listed', address: '203.0.113.8', mode: 'shadow', wouldDeny: true });
    publish(CHANNELS.allowlist, { guard: 'ipAllowlist', decision: 'deny', reason: 'no-address', mode: 'enforce', wouldDeny: false });
    for (let i = 0; i < 3; i++) publish(CHANNELS.rateLimit, rl('allow'));
    publish(CHANNELS.rateLimit, rl('throttle', { remaining: 0, retryAfterMs: 900 }));
    publish(CHANNELS.rateLimit, rl('throttle', { remaining: 0, retryAfterMs: 900, mode: 'shadow', wouldDeny: true }));
    publish(CHANNELS.rateLimit, rl('allow', { source: 'fallback' }));
    publish(CHANNELS.rateLimit, rl('too-costly', { cost: 50 }));
    publish(CHANNELS.rateLimit, rl('refund'));
    publish(CHANNELS.spendCap, sc('allow'));
    publish(CHANNELS.spendCap, sc('allow'));
    publish(CHANNELS.spendCap, sc('deny', { period: 'daily' }));
    publish(CHANNELS.spendCap, sc('refund'));
    const key = hashKey('scope\u0000key-1');
    for (const decision of ['claim', 'complete', 'replay', 'replay', 'conflict', 'mismatch', 'release', 'store-failure']) {
      const status = decision === 'replay' || decision === 'complete' ? 201 : undefined;
      publish(CHANNELS.idempotency, { guard: 'idempotency', decision, key, ...(status ? { status } : {}) });
    }
    publish(CHANNELS.store, { guard: 'rateLimit', decision: 'degraded', policy: 'api', outage: 'fallback' });
    publish(CHANNELS.store, { guard: 'rateLimit', decision: 'recovered', policy: 'api', outage: 'fallback' });
    publish(CHANNELS.store, { guard: 'idempotency', decision: 'degraded', policy: 'idempotency', outage: 'closed' });

    const points = await sdk.collect();
    expect(counts(points, 'bulwark.decisions')).toEqual({
      'decision=allow,guard=ipAllowlist,mode=enforce': 2,
      'decision=deny,guard=ipAllowlist,mode=enforce,reason=not-listed': 1,
      'decision=deny,guard=ipAllowlist,mode=shadow,reason=not-listed': 1,
      'decision=deny,guard=ipAllowlist,mode=enforce,reason=no-address': 1,
      'decision=allow,guard=rateLimit,mode=enforce,policy=api,source=store': 3,
      'decision=allow,guard=rateLimit,mode=enforce,policy=api,source=fallback': 1,
      'decision=throttle,guard=rateLimit,mode=enforce,policy=api,source=store': 1,
      'decision=throttle,guard=rateLimit,mode=shadow,policy=api,source=store': 1,
      'decision=too-costly,guard=rateLimit,mode=enforce,policy=api,source=store': 1,
      'decision=allow,guard=spendCap,mode=enforce,policy=sms-spend,source=store': 2,
      'decision=deny,guard=spendCap,mode=enforce,period=daily,policy=sms-spend,source=store': 1,
      'decision=claim,guard=idempotency': 1,
      'decision=complete,guard=idempotency,status_class=2xx': 1,
      'decision=replay,guard=idempotency,status_class=2xx': 2,
      'decision=conflict,guard=idempotency': 1,
      'decision=mismatch,guard=idempotency': 1,
      'decision=release,guard=idempotency': 1,
      'decision=store-failure,guard=idempotency': 1,
    });
    expect(counts(points, 'bulwark.refunds')).toEqual({
      'guard=rateLimit,mode=enforce,policy=api': 1,
      'guard=spendCap,mode=enforce,policy=sms-spend': 1,
    });
    expect(counts(points, 'bulwark.cost')).toEqual({
      'decision=allow,guard=rateLimit,mode=enforce,policy=api': 4,
      'decision=throttle,guard=rateLimit,mode=enforce,policy=api': 1,
      'decision=throttle,guard=rateLimit,mode=shadow,policy=api': 1,
      'decision=too-costly,guard=rateLimit,mode=enforce,policy=api': 50,
      'decision=refund,guard=rateLimit,mode=enforce,policy=api': 1,
      'decision=allow,guard=spendCap,mode=enforce,policy=sms-spend': 50,
      'decision=deny,guard=spendCap,mode=enforce,policy=sms-spend': 25,
      'decision=refund,guard=spendCap,mode=enforce,policy=sms-spend': 25,
    });
    expect(counts(points, 'bulwark.store.transitions')).toEqual({
      'decision=degraded,guard=rateLimit,outage=fallback,policy=api': 1,
      'decision=recovered,guard=rateLimit,outage=fallback,policy=api': 1,
      'decision=degraded,guard=idempotency,outage=closed,policy=idempotency': 1,
    });
  });

  it('never records a key, an address or a digest as an attribute', async () => {
    const { sdk } = start();
    const secretKey = hashKey('acct_secret');
    publish(CHANNELS.allowlist, { guard: 'ipAllowlist', decision: 'deny', reason: 'not-listed', address: '198.51.100.77', mode: 'enforce', wouldDeny: false });
    publish(CHANNELS.rateLimit, rl('throttle', { key: secretKey }));
    publish(CHANNELS.spendCap, sc('deny', { key: secretKey, period: 'monthly' }));
    publish(CHANNELS.idempotency, { guard: 'idempotency', decision: 'claim', key: secretKey });
    const text = JSON.stringify([...(await sdk.collect()).values()].flat().map((p) => p.attributes));
    expect(text).not.toContain('198.51.100.77');
    expect(text).not.toContain(secretKey);
    expect(text).not.toMatch(/"(key|address)"/);
  });

  it('ignores messages that are not bulwark events: non-objects, unknown decisions, unknown facts', async () => {
    const { sdk } = start();
    publish(CHANNELS.rateLimit, 'throttle');
    publish(CHANNELS.rateLimit, null);
    publish(CHANNELS.rateLimit, rl('explode'));
    publish(CHANNELS.allowlist, { decision: 'maybe' });
    publish(CHANNELS.idempotency, { decision: 42 });
    publish(CHANNELS.store, { guard: 'somethingElse', decision: 'degraded', policy: 'x', outage: 'open' });
    publish(CHANNELS.store, { guard: 'rateLimit', decision: 'exploded', policy: 'x', outage: 'open' });
    publish(CHANNELS.client, { decision: 'unknown-thing', origin: 'https://a.example' });
    // Facts outside their documented values are left out, never recorded as given.
    publish(CHANNELS.rateLimit, rl('allow', { source: '10.1.2.3', mode: 'bogus' }));
    publish(CHANNELS.allowlist, { guard: 'ipAllowlist', decision: 'deny', reason: '10.9.9.9', mode: 'enforce', wouldDeny: false });
    const points = await sdk.collect();
    expect(counts(points, 'bulwark.decisions')).toEqual({
      'decision=allow,guard=rateLimit,mode=enforce,policy=api': 1,
      'decision=deny,guard=ipAllowlist,mode=enforce': 1,
    });
    expect(counts(points, 'bulwark.store.transitions')).toEqual({});
    expect([...points.keys()].filter((name) => name.startsWith('bulwark.client'))).toEqual([]);
  });

  it(`caps distinct policy names at ${MAX_POLICIES}; later new ones are ${OTHER}`, async () => {
    const { sdk } = start();
    for (let i = 0; i < MAX_POLICIES + 10; i++) publish(CHANNELS.rateLimit, rl('allow', { policy: `p${i}` }));
    publish(CHANNELS.rateLimit, rl('allow', { policy: 'p0' }));
    const decided = counts(await sdk.collect(), 'bulwark.decisions');
    expect(Object.keys(decided)).toHaveLength(MAX_POLICIES + 1);
    expect(decided['decision=allow,guard=rateLimit,mode=enforce,policy=p0,source=store']).toBe(2);
    expect(decided[`decision=allow,guard=rateLimit,mode=enforce,policy=${OTHER},source=store`]).toBe(10);
  });
});

describe('recordMetrics: client events', () => {
  const origin = 'https://api.example.com';

  it('counts attempts, calls, retries, refusals, waits and breaker transitions; durations in ms', async () => {
    const { sdk } = start();
    const c = (decision: string, extra: object = {}) => publish(CHANNELS.client, { decision, origin, method: 'POST', ...extra });
    c('attempt', { attempt: 1 });
    c('attempt-end', { attempt: 1, status: 503, code: 'service_unavailable', durationMs: 12 });
    c('retry', { attempt: 1, status: 503, code: 'service_unavailable', delayMs: 100 });
    c('attempt', { attempt: 2 });
    c('attempt-end', { attempt: 2, code: 'timeout', durationMs: 30 });
    c('retry', { attempt: 2, code: 'timeout', delayMs: 200 });
    c('attempt', { attempt: 3 });
    c('attempt-end', { attempt: 3, status: 200, durationMs: 8 });
    c('call-end', { status: 200, durationMs: 400 });
    c('budget-refused', { attempt: 1 });
    c('shed');
    c('paced', { delayMs: 50 });
    c('breaker-open');
    c('breaker-half-open');
    c('breaker-close');
    c('breaker-open');
    publish(CHANNELS.client, { decision: 'attempt-end', origin, method: 'BREW', status: 418, durationMs: 1 });
    const points = await sdk.collect();
    expect(counts(points, 'bulwark.client.attempts')).toEqual({
      'code=service_unavailable,method=POST,status_class=5xx': 1,
      'code=timeout,method=POST': 1,
      'method=POST,status_class=2xx': 1,
      [`method=${OTHER},status_class=4xx`]: 1,
    });
    const durations = points.get('bulwark.client.attempt.duration')!;
    expect(durations.every((p) => p.unit === 'ms')).toBe(true);
    expect(durations.reduce((sum, p) => sum + p.value, 0)).toBe(12 + 30 + 8 + 1);
    expect(counts(points, 'bulwark.client.calls')).toEqual({ 'method=POST,status_class=2xx': 1 });
    expect(points.get('bulwark.client.call.duration')!.map((p) => [p.count, p.value])).toEqual([[1, 400]]);
    expect(counts(points, 'bulwark.client.retries')).toEqual({
      'code=service_unavailable,method=POST,status_class=5xx': 1,
      'code=timeout,method=POST': 1,
    });
    expect(counts(points, 'bulwark.client.refusals')).toEqual({ 'method=POST,reason=budget': 1, 'method=POST,reason=shed': 1 });
    expect(counts(points, 'bulwark.client.paced')).toEqual({ 'method=POST': 1 });
    expect(counts(points, 'bulwark.client.breaker.transitions')).toEqual({ 'state=open': 2, 'state=half-open': 1, 'state=closed': 1 });
    expect(JSON.stringify([...points.values()].flat().map((p) => p.attributes))).not.toContain('example.com');
  });

  it('names an origin only when it is listed in `origins`; any other is _OTHER', async () => {
    const { sdk } = start({ origins: ['https://API.example.com:443/ignored/path'] });
    publish(CHANNELS.client, { decision: 'attempt-end', origin, method: 'GET', status: 200, durationMs: 1 });
    publish(CHANNELS.client, { decision: 'attempt-end', origin: 'https://elsewhere.example', method: 'GET', status: 200, durationMs: 1 });
    publish(CHANNELS.client, { decision: 'breaker-open', origin: 'https://third.example' });
    const points = await sdk.collect();
    expect(counts(points, 'bulwark.client.attempts')).toEqual({
      'method=GET,origin=https://api.example.com,status_class=2xx': 1,
      [`method=GET,origin=${OTHER},status_class=2xx`]: 1,
    });
    expect(counts(points, 'bulwark.client.breaker.transitions')).toEqual({ [`origin=${OTHER},state=open`]: 1 });
  });

  it(`caps distinct error codes at ${MAX_CODES} and refuses codes that are not identifiers`, async () => {
    const { sdk } = start();
    for (let i = 0; i < MAX_CODES + 5; i++) publish(CHANNELS.client, { decision: 'retry', origin, method: 'GET', code: `code_${i}` });
    publish(CHANNELS.client, { decision: 'retry', origin, method: 'GET', code: '<script>alert(1)</script>' });
    const retried = counts(await sdk.collect(), 'bulwark.client.retries');
    expect(Object.keys(retried)).toHaveLength(MAX_CODES + 1);
    expect(retried[`code=${OTHER},method=GET`]).toBe(6);
  });
});

describe('recordMetrics: the instruments', () => {
  it('creates only the documented instruments, each with its documented unit and attributes', async () => {
    const { sdk } = start();
    publish(CHANNELS.allowlist, { guard: 'ipAllowlist', decision: 'deny', reason: 'refused', mode: 'shadow', wouldDeny: true });
    publish(CHANNELS.rateLimit, rl('refund'));
    publish(CHANNELS.spendCap, sc('deny', { period: 'monthly', source: 'closed' }));
    publish(CHANNELS.idempotency, { guard: 'idempotency', decision: 'replay', key: 'k', status: 404 });
    publish(CHANNELS.store, { guard: 'spendCap', decision: 'degraded', policy: 'sms-spend', outage: 'closed' });
    for (const decision of ['attempt-end', 'call-end', 'retry', 'budget-refused', 'paced', 'breaker-open']) {
      publish(CHANNELS.client, { decision, origin: 'https://a.example', method: 'GET', status: 500, code: 'internal_error', durationMs: 3 });
    }
    const points = await sdk.collect();
    expect([...points.keys()].sort()).toEqual(Object.keys(INSTRUMENTS).sort());
    for (const [name, list] of points) {
      const spec = INSTRUMENTS[name as keyof typeof INSTRUMENTS];
      expect(spec, name).toBeDefined();
      for (const point of list) {
        expect(point.unit, name).toBe(spec.unit);
        for (const attribute of Object.keys(point.attributes)) expect(spec.attributes as readonly string[], `${name} ${attribute}`).toContain(attribute);
      }
    }
  });
});

describe('recordMetrics: lifecycle and options', () => {
  it('stop() unsubscribes (and again does nothing); the counts so far stay', async () => {
    const { sdk, stop } = start();
    publish(CHANNELS.rateLimit, rl('allow'));
    expect(channel(CHANNELS.rateLimit).hasSubscribers).toBe(true);
    stop();
    stop();
    for (const name of Object.values(CHANNELS)) expect(channel(name).hasSubscribers, name).toBe(false);
    publish(CHANNELS.rateLimit, rl('allow'));
    expect(counts(await sdk.collect(), 'bulwark.decisions')).toEqual({ 'decision=allow,guard=rateLimit,mode=enforce,policy=api,source=store': 1 });
  });

  it('refuses a second recorder on one provider while the first records (it would double every count)', async () => {
    const { sdk, stop } = start();
    expect(() => recordMetrics({ meterProvider: sdk.provider })).toThrow(/already recording into this meterProvider/);
    publish(CHANNELS.rateLimit, rl('allow'));
    stop();
    const again = recordMetrics({ meterProvider: sdk.provider });
    open.push(again);
    publish(CHANNELS.rateLimit, rl('allow'));
    expect(counts(await sdk.collect(), 'bulwark.decisions')).toEqual({ 'decision=allow,guard=rateLimit,mode=enforce,policy=api,source=store': 2 });
  });

  it('records into two providers at once, each counting every event once', async () => {
    const a = start();
    const b = start();
    publish(CHANNELS.spendCap, sc('allow'));
    for (const { sdk } of [a, b]) {
      expect(counts(await sdk.collect(), 'bulwark.decisions')).toEqual({
        'decision=allow,guard=spendCap,mode=enforce,policy=sms-spend,source=store': 1,
      });
    }
  });

  it("uses @opentelemetry/api's global meter provider when none is given", async () => {
    const sdk = recorded();
    open.push(() => sdk.shutdown());
    expect(metrics.setGlobalMeterProvider(sdk.provider)).toBe(true);
    open.push(() => metrics.disable());
    const stop = recordMetrics();
    open.push(stop);
    publish(CHANNELS.idempotency, { guard: 'idempotency', decision: 'conflict', key: 'k' });
    expect(counts(await sdk.collect(), 'bulwark.decisions')).toEqual({ 'decision=conflict,guard=idempotency': 1 });
  });

  it('refuses unknown options, a meterProvider without getMeter and origins that are not origins, naming each', () => {
    expect(() => recordMetrics({ meterProvider: recorded().provider, provider: 1 } as never)).toThrow(
      new TypeError('recordMetrics: unknown option "provider"'),
    );
    expect(() => recordMetrics({ meterProvider: {} as never })).toThrow(/options\.meterProvider must be an OpenTelemetry MeterProvider/);
    expect(() => recordMetrics({ meterProvider: recorded().provider, origins: 'https://a.example' as never })).toThrow(/options\.origins must be an array/);
    expect(() => recordMetrics({ meterProvider: recorded().provider, origins: ['not a url'] })).toThrow(/options\.origins has an entry that is not an origin/);
    expect(() => recordMetrics(null as never)).toThrow(TypeError);
    for (const name of Object.values(CHANNELS)) expect(channel(name).hasSubscribers, name).toBe(false);
  });

  it('a meter that throws loses the data point, never the publisher its request', async () => {
    const broken = () => {
      throw new Error('meter down');
    };
    const instrument = { add: broken, record: broken, addCallback: () => {} };
    const meterProvider = {
      getMeter: () => ({ createCounter: () => instrument, createObservableCounter: () => instrument, createHistogram: () => instrument }),
    };
    const stop = recordMetrics({ meterProvider: meterProvider as never });
    open.push(stop);
    let uncaught: unknown;
    const onUncaught = (err: unknown) => {
      uncaught = err;
    };
    process.on('uncaughtException', onUncaught);
    open.push(() => {
      process.off('uncaughtException', onUncaught);
    });
    expect(() => publish(CHANNELS.rateLimit, rl('allow'))).not.toThrow();
    expect(() => publish(CHANNELS.client, { decision: 'attempt-end', origin: 'x', durationMs: 1 })).not.toThrow();
    await new Promise((resolve) => setImmediate(resolve));
    expect(uncaught).toBeUndefined();
  });
});
