/**
 * Attack: `bulwark.client.paced` is documented as "Calls that waited for an origin's quota before they
 * were sent". The client publishes `decision: 'paced'` both for a call that waits and for one that pacing
 * refuses at once (`code: 'throttled'`, never sent, never waited), and recordMetrics counts both alike,
 * with no attribute telling them apart. A dashboard of `bulwark.client.paced` then reports calls as
 * delayed that in fact failed with `ApiError` `throttled`, and `bulwark.client.refusals` (sends refused
 * locally) never shows them.
 *
 * A real bulwark rateLimit server (Express, 1 request a minute) and bulwark's client, read back through
 * the OpenTelemetry SDK.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { rateLimit } from '../../adapters/express.js';
import { createFetch } from '../../src/client/index.js';
import { recordMetrics } from '../../src/otel/index.js';
import { recorded } from '../otel/support.js';

let server: Server | undefined;
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

const sum = (points: Array<{ value: number }> | undefined) => (points ?? []).reduce((total, point) => total + point.value, 0);

describe('bulwark.client.paced counts only calls that waited and were sent', () => {
  it('a call that pacing refuses at once is not counted as one that waited', async () => {
    const app = express();
    app.use(rateLimit({ limit: 1, windowMs: 60_000, key: () => 'one-client' }));
    app.get('/v1/items', (_req, res) => res.json({ ok: true }));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server!.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/items`;

    const sdk = recorded();
    const stop = recordMetrics({ meterProvider: sdk.provider });
    try {
      const api = createFetch({ retries: 0, deadlineMs: 2_000 });
      const first = await api(url);
      expect(first.status).toBe(200);
      await first.text();
      // The server said r=0 for about a minute: each of these is refused at once, never sent.
      let refused = 0;
      for (let i = 0; i < 5; i++) {
        try {
          await api(url);
        } catch (error) {
          if ((error as { code?: string }).code === 'throttled') refused += 1;
        }
      }
      expect(refused).toBe(5);

      const points = await sdk.collect();
      const throttledCalls = (points.get('bulwark.client.calls') ?? []).filter((point) => point.attributes.code === 'throttled');
      expect(sum(throttledCalls)).toBe(5); // the refusals are visible as calls that ended throttled
      // No call waited for its turn and was then sent.
      expect(sum(points.get('bulwark.client.paced'))).toBe(0);
    } finally {
      stop();
      await sdk.shutdown();
    }
  });
});
