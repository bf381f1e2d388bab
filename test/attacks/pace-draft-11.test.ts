/**
 * Attack: client pacing says it reads `RateLimit`/`RateLimit-Policy` "as IETF draft-10/-11 structured
 * fields", and against bulwark's own rateLimit with the default `headers: 'draft-10'` a paced burst gets
 * no 429. With `headers: 'draft-11'` it does: draft-11's `t` is the effective window, rounded down, so
 * the answer that spends the last unit says `r=0;t=0` when the next unit comes within the second. The
 * client reads `t=0` as "more units now", lets the next calls go at once, and they collect 429s (15 of
 * 40 in the run this test was written from), which pacing exists to avoid.
 *
 * A real Express server with bulwark's rateLimit (10 a second, draft-11 headers) and bulwark's client.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { rateLimit } from '../../adapters/express.js';
import { createFetch } from '../../src/client/index.js';

const apps: Server[] = [];
afterAll(async () => {
  for (const server of apps) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe("pacing against bulwark rateLimit({ limit: 10, windowMs: 1000, headers: 'draft-11' })", () => {
  for (const algorithm of ['gcra', 'sliding-window'] as const) {
    it(`${algorithm}: a paced burst of 40 calls gets no 429`, async () => {
      const statuses: number[] = [];
      const app = express();
      app.use((_req, res, next) => {
        res.on('finish', () => statuses.push(res.statusCode));
        next();
      });
      app.use(rateLimit({ limit: 10, windowMs: 1000, algorithm, headers: 'draft-11', key: () => 'one-client' }));
      app.get('/v1/items', (_req, res) => res.json({ ok: true }));
      const server = app.listen(0, '127.0.0.1');
      apps.push(server);
      await new Promise((resolve) => server.once('listening', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/items`;

      const api = createFetch({ retries: 0 });
      // The first answer teaches the client the policy.
      await (await api(url)).arrayBuffer();
      const answered = await Promise.all(
        Array.from({ length: 40 }, async () => {
          const res = await api(url);
          await res.arrayBuffer();
          return res.status;
        }),
      );
      expect(statuses.filter((status) => status === 429)).toEqual([]);
      expect(answered.every((status) => status === 200)).toBe(true);
    }, 40_000);
  }
});
