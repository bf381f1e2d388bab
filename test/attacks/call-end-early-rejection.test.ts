/**
 * Attack: `onCallEnd` is "passed when the call resolves with a response or rejects", and `'call-end'` on
 * `bulwark:client` is published when "the call returned or threw" (attempts 0 when it never reached the
 * network). A call that rejects before the wrapper starts it, because the caller's signal was already
 * aborted or because its per-call options are bad, gets neither: `bulwark.client.calls` and hook-based
 * counters miss every such call (a request handler that forwards an already-closed client's signal, a
 * bug in per-call options that fails every call), although the caller saw a rejection.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type CallEndEvent, createFetch } from '../../src/client/index.js';
import { CHANNELS, type ClientEvent } from '../../src/events/channels.js';

let server: http.Server | undefined;
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

describe('every call that rejects ends with onCallEnd and a call-end event', () => {
  it('an already-aborted signal, and bad per-call options', async () => {
    let hits = 0;
    server = http.createServer((_req, res) => {
      hits += 1;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/items`;

    const ends: CallEndEvent[] = [];
    const events: ClientEvent[] = [];
    const listener = (message: unknown) => events.push(message as ClientEvent);
    subscribe(CHANNELS.client, listener);
    const rejections: unknown[] = [];
    try {
      const api = createFetch({ onCallEnd: (event) => ends.push(event) });
      const aborted = new AbortController();
      aborted.abort(new Error('client went away'));
      await api(url, { signal: aborted.signal }).catch((error: unknown) => rejections.push(error));
      await api(url, { bulwark: { retries: -1 } }).catch((error: unknown) => rejections.push(error));
    } finally {
      unsubscribe(CHANNELS.client, listener);
    }

    expect(hits).toBe(0);
    expect(rejections).toHaveLength(2);
    expect(ends.map((end) => [end.outcome, end.attempts])).toEqual([
      ['error', 0],
      ['error', 0],
    ]);
    expect(events.filter((event) => event.decision === 'call-end')).toHaveLength(2);
  });
});
