/**
 * Hooks for every attempt and every call (onAttempt, onAttemptEnd, onCallEnd), and the same facts on the
 * `bulwark:client` diagnostics channel, which never carries a path or a query.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type ClientEvent, CHANNELS } from '../../src/events/channels.js';
import {
  type AttemptEndEvent,
  type AttemptStartEvent,
  type CallEndEvent,
  CircuitOpenError,
  createFetch,
  type RetryEvent,
} from '../../src/client/index.js';
import { serverPool, settle } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

function hooked(options: Parameters<typeof createFetch>[0] = {}) {
  const log: Array<['attempt', AttemptStartEvent] | ['end', AttemptEndEvent] | ['call', CallEndEvent] | ['retry', RetryEvent]> = [];
  const fetch = createFetch({
    baseDelayMs: 1,
    maxDelayMs: 2,
    retryBudget: false,
    onAttempt: (event) => log.push(['attempt', event]),
    onAttemptEnd: (event) => log.push(['end', event]),
    onCallEnd: (event) => log.push(['call', event]),
    onRetry: (event) => log.push(['retry', event]),
    ...options,
  });
  return { fetch, log };
}

let listener: ((message: unknown) => void) | undefined;
afterEach(() => {
  if (listener) unsubscribe(CHANNELS.client, listener);
  listener = undefined;
});
function listen(): ClientEvent[] {
  const events: ClientEvent[] = [];
  listener = (message) => events.push(message as ClientEvent);
  subscribe(CHANNELS.client, listener);
  return events;
}

describe('hooks', () => {
  it('tells each attempt, its end with the retry decision and why, and the end of the call', async () => {
    const server = await servers.start([{ status: 503 }, {}]);
    const { fetch, log } = hooked();
    const res = await fetch(`${server.url}/v1/items?token=secret`);
    expect(res.status).toBe(200);
    expect(log.map(([kind]) => kind)).toEqual(['attempt', 'end', 'retry', 'attempt', 'end', 'call']);
    const url = `${server.url}/v1/items?token=secret`;
    expect(log[0]![1]).toEqual({ method: 'GET', url, origin: server.url, attempt: 1 });
    const first = log[1]![1] as AttemptEndEvent;
    expect(first).toMatchObject({ attempt: 1, status: 503, retry: true, reason: 'retryable' });
    expect(first.delayMs).toBeGreaterThanOrEqual(0);
    expect(first.durationMs).toBeGreaterThanOrEqual(0);
    expect(log[4]![1]).toMatchObject({ attempt: 2, status: 200, retry: false, reason: 'answered' });
    const call = log[5]![1] as CallEndEvent;
    expect(call).toMatchObject({ method: 'GET', origin: server.url, outcome: 'response', status: 200, attempts: 2 });
    expect(call.durationMs).toBeGreaterThanOrEqual((first.durationMs ?? 0));
  });

  it('says why an attempt is not retried: retries spent, not replay-safe, an error that repeating cannot fix', async () => {
    const down = await servers.start([{ status: 503 }]);
    const spent = hooked({ retries: 1 });
    await spent.fetch(down.url);
    const ends = spent.log.filter(([kind]) => kind === 'end').map(([, event]) => event as AttemptEndEvent);
    expect(ends.map((event) => [event.retry, event.reason])).toEqual([
      [true, 'retryable'],
      [false, 'retries-spent'],
    ]);

    const reset = await servers.start([{ reset: true }]);
    const unkeyed = hooked({ idempotencyHeader: false });
    await settle(unkeyed.fetch(reset.url, { method: 'POST', body: 'x' }));
    const end = unkeyed.log.find(([kind]) => kind === 'end')![1] as AttemptEndEvent;
    expect(end).toMatchObject({ method: 'POST', retry: false, reason: 'not-replay-safe', code: 'network_error' });
    expect(unkeyed.log.at(-1)![1]).toMatchObject({ outcome: 'error', code: 'network_error', attempts: 1 });

    const bad = hooked();
    await settle(bad.fetch(down.url, { headers: { 'x-bad': 'a\nb' } }));
    expect(bad.log.at(-1)![1]).toMatchObject({ outcome: 'error', code: 'fetch_error' });
  });

  it('a call refused before the network has no attempt, and its end says attempts 0 and the code', async () => {
    const down = await servers.start([{ status: 503 }]);
    const { fetch, log } = hooked({ retries: 0, breaker: { volumeThreshold: 1, resetTimeout: 60_000 } });
    await fetch(down.url);
    log.length = 0;
    const outcome = await settle(fetch(down.url));
    expect((outcome as { error: unknown }).error).toBeInstanceOf(CircuitOpenError);
    expect(log).toEqual([
      ['call', expect.objectContaining({ outcome: 'error', code: 'circuit_open', attempts: 0 })],
    ]);
  });

  it('a hook that throws never breaks the call', async () => {
    const server = await servers.start([{ status: 503 }, {}]);
    const boom = () => {
      throw new Error('hook failed');
    };
    const fetch = createFetch({ baseDelayMs: 1, maxDelayMs: 2, onAttempt: boom, onAttemptEnd: boom, onCallEnd: boom, onRetry: boom });
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(server.hits).toHaveLength(2);
  });

  it('refuses a hook that is not a function, naming it', () => {
    for (const name of ['onAttempt', 'onAttemptEnd', 'onCallEnd']) {
      expect(() => createFetch({ [name]: 'log' } as never)).toThrow(new RegExp(`options\\.${name} must be a function`));
    }
  });
});

describe('events on bulwark:client', () => {
  it('publish attempt, attempt-end, retry and call-end with the origin only, never the path or query', async () => {
    const server = await servers.start([{ status: 503 }, {}]);
    const events = listen();
    const fetch = createFetch({ baseDelayMs: 1, maxDelayMs: 2, retryBudget: false });
    await fetch(`${server.url}/private/path?token=secret`);
    expect(events.map((event) => event.decision)).toEqual(['attempt', 'attempt-end', 'retry', 'attempt', 'attempt-end', 'call-end']);
    for (const event of events) expect(event.origin).toBe(server.url);
    const text = JSON.stringify(events);
    expect(text).not.toContain('private');
    expect(text).not.toContain('secret');
    expect(events[1]).toMatchObject({ attempt: 1, status: 503, reason: 'retryable' });
    expect(events[2]).toMatchObject({ attempt: 2, status: 503 });
    expect(events[5]).toMatchObject({ outcome: 'response', status: 200, attempts: 2 });
  });

  it('publish budget-refused, breaker-open, breaker-half-open and breaker-close', async () => {
    const server = await servers.start([{ status: 503 }, { status: 503 }, { status: 503 }, {}]);
    const events = listen();
    const spent = createFetch({ baseDelayMs: 1, maxDelayMs: 2, breaker: false, retryBudget: { ratio: 0, minPerSecond: 0 } });
    await spent(server.url);
    expect(events.find((event) => event.decision === 'budget-refused')).toMatchObject({ origin: server.url, attempt: 1 });
    const fetch = createFetch({ retries: 0, retryBudget: false, breaker: { volumeThreshold: 1, resetTimeout: 50 } });
    await fetch(server.url); // 503: opens
    await new Promise((resolve) => setTimeout(resolve, 80));
    await fetch(server.url); // 503: the probe fails, the breaker opens again
    await new Promise((resolve) => setTimeout(resolve, 80));
    await fetch(server.url); // 200: closes
    const decisions = events.map((event) => event.decision).filter((decision) => decision.startsWith('breaker'));
    expect(decisions).toEqual(['breaker-open', 'breaker-half-open', 'breaker-open', 'breaker-half-open', 'breaker-close']);
    expect(events.filter((event) => event.decision.startsWith('breaker')).every((event) => event.origin === server.url)).toBe(true);
  });

  it('publish paced and shed', async () => {
    const limited = await servers.start([{ headers: { 'ratelimit-policy': '"p";q=1;w=60', ratelimit: '"p";r=0;t=60' } }]);
    const failing = await servers.start([{ status: 503 }]);
    const events = listen();
    const fetch = createFetch({ retries: 0, breaker: false, adaptiveThrottle: { random: () => 0 } });
    await fetch(limited.url);
    await settle(fetch(limited.url, { bulwark: { pace: { maxWaitMs: 0 } } }));
    await fetch(failing.url);
    await settle(fetch(failing.url));
    const paced = events.find((event) => event.decision === 'paced');
    expect(paced).toMatchObject({ origin: limited.url, code: 'throttled' });
    expect(paced?.delayMs).toBeGreaterThan(50_000);
    expect(events.find((event) => event.decision === 'shed')).toMatchObject({ origin: failing.url, code: 'load_shed' });
    expect(events.filter((event) => event.decision === 'call-end').map((event) => event.code)).toEqual([undefined, 'throttled', undefined, 'load_shed']);
  });
});
