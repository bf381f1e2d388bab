/**
 * Attack: client pacing queues the calls that must wait for an origin, and each new call scans the whole
 * queue (to see whether a waiting call shares a bucket, and again to estimate its wait), as does each
 * waiter that leaves it (indexOf and splice): n waiting calls cost O(n^2) synchronous work. One 503 with
 * `Retry-After` (an unknown quota, so every later call is queued for its time) in front of a batch of
 * 20,000 calls (`Promise.all(items.map(send))`) then holds the event loop for seconds while the calls are
 * merely being queued, with no request sent: about 11 s on the machine these tests were written on,
 * where a linear queue takes a few milliseconds.
 *
 * A real server answers the first call 503 `Retry-After: 30`; the batch is then queued and aborted, so
 * no request of the batch reaches the network. The bounds are generous: refusing the same 20,000 calls
 * at once, the same path without a queue, takes about 1 s there.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createFetch } from '../../src/client/index.js';

let server: http.Server | undefined;
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

describe('pacing a large batch costs time linear in the batch', () => {
  it('20,000 calls queued behind a Retry-After are queued, and let go, within a few seconds', async () => {
    let hits = 0;
    server = http.createServer((_req, res) => {
      hits += 1;
      res.writeHead(503, { 'retry-after': '30' });
      res.end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/items`;
    const api = createFetch({ retries: 0, breaker: false, retryBudget: false });
    const first = await api(url);
    expect(first.status).toBe(503);
    await first.text();

    const controller = new AbortController();
    const calls: Array<Promise<unknown>> = [];
    const queuedAt = performance.now();
    for (let i = 0; i < 20_000; i++) calls.push(api(url, { signal: controller.signal }).then(() => 'sent', (error: unknown) => error));
    const queueMs = performance.now() - queuedAt;

    const abortedAt = performance.now();
    controller.abort(new Error('batch cancelled'));
    const outcomes = await Promise.all(calls);
    const abortMs = performance.now() - abortedAt;

    expect(hits).toBe(1);
    expect(outcomes.every((outcome) => outcome instanceof Error && outcome.message === 'batch cancelled')).toBe(true);
    // Refusing the same 20,000 calls at once (maxWaitMs 0: the same path, no queue) takes about 1 s.
    expect(queueMs).toBeLessThan(6_000);
    expect(abortMs).toBeLessThan(6_000);
  }, 120_000);
});
