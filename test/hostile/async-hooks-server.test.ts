/**
 * Hooks written as `async` functions that reject (onDeny, onError, a logger's error) leave no unhandled
 * rejection: the answer is the documented one and the process is not at risk. Express over a real socket.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorHandler, ipAllowlist } from '../../adapters/express.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
let server: http.Server | undefined;
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(app: express.Express): Promise<string> {
  server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('async server-side hooks that reject', () => {
  it('onDeny rejecting: 403 as documented, no unhandled rejection', async () => {
    const app = express();
    app.use(ipAllowlist({ allow: ['192.0.2.0/24'], onDeny: async () => Promise.reject(new Error('queue down')) }));
    app.get('/', (_req, res) => void res.send('ok'));
    const url = await serve(app);
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect((await res.json()).error).toBe('ip_not_allowed');
    await settle();
    expect(unhandled).toEqual([]);
  });

  it('onError and an async logger rejecting: 500 as documented, no unhandled rejection', async () => {
    for (const options of [
      { onError: async () => Promise.reject(new Error('sink down')) },
      { logger: { warn: async () => Promise.reject(new Error('log down')), error: async () => Promise.reject(new Error('log down')) } },
    ]) {
      const app = express();
      app.get('/', () => {
        throw new Error('boom');
      });
      app.use(errorHandler(options));
      const url = await serve(app);
      const res = await fetch(url);
      expect(res.status).toBe(500);
      expect((await res.json()).error).toBe('internal_error');
      await settle();
      expect(unhandled).toEqual([]);
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      server = undefined;
    }
  });
});
