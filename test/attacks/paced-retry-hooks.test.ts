/**
 * Attack: the client's hooks and `bulwark:client` events tell, for each attempt, whether another one
 * will be sent (`onAttemptEnd` `retry`, the `'retry'` event: "another will be sent"), and the documented
 * `RetryReason` `'paced'` is for "the origin's rate limit would make the retry wait too long".
 *
 * When the retry is decided, `onAttemptEnd` says `retry: true, reason: 'retryable'`, `onRetry` runs and
 * `'retry'` is published; only after the backoff does pacing look, and when it refuses the retry the
 * call just ends with the response it had. No second attempt is ever sent, nothing says so, and `'paced'`
 * is never given: hooks, events and `bulwark.client.retries` count a retry that did not happen.
 *
 * A real server answers 503 with `Retry-After: 0` and a spent policy for an hour (a server in maintenance
 * that says so in both headers).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type AttemptEndEvent, type CallEndEvent, createFetch, type RetryEvent } from '../../src/client/index.js';
import { CHANNELS, type ClientEvent } from '../../src/events/channels.js';

let server: http.Server | undefined;
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

describe('a retry that pacing refuses is not reported as sent', () => {
  it("the attempt ends with retry: false and reason 'paced'; no retry is announced without an attempt", async () => {
    let hits = 0;
    server = http.createServer((_req, res) => {
      hits += 1;
      res.writeHead(503, { 'retry-after': '0', ratelimit: '"api";r=0;t=3600', 'ratelimit-policy': '"api";q=100;w=3600' });
      res.end('{"error":{"code":"service_unavailable"}}');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/items`;

    const ends: AttemptEndEvent[] = [];
    const retries: RetryEvent[] = [];
    const calls: CallEndEvent[] = [];
    const events: ClientEvent[] = [];
    const listener = (message: unknown) => events.push(message as ClientEvent);
    subscribe(CHANNELS.client, listener);
    try {
      const api = createFetch({
        retries: 2,
        baseDelayMs: 1,
        maxDelayMs: 1,
        retryBudget: false,
        breaker: false,
        onAttemptEnd: (event) => ends.push(event),
        onRetry: (event) => retries.push(event),
        onCallEnd: (event) => calls.push(event),
      });
      const res = await api(url);
      expect(res.status).toBe(503);
      await res.text();
    } finally {
      unsubscribe(CHANNELS.client, listener);
    }

    // One attempt reached the server; pacing held the retry back for the hour the origin asked.
    expect(hits).toBe(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.attempts).toBe(1);
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ attempt: 1, status: 503, retry: false, reason: 'paced' });
    expect(retries).toEqual([]);
    const attempts = events.filter((event) => event.decision === 'attempt').length;
    const announced = events.filter((event) => event.decision === 'retry').length;
    expect(announced).toBe(attempts - 1);
  });
});
