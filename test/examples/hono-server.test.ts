import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { describe, expect, it } from 'vitest';
import { createHonoApp } from '../../examples/messaging/hono-app.js';
import { describeDemoApi } from './messaging-suite.js';
import { runExample } from './spawn-example.js';

describeDemoApi('Hono (bulwark/hono on @hono/node-server)', async ({ service, allow }) => {
  const app = createHonoApp({ service, allow, onError: () => {} });
  const server = await new Promise<http.Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as http.Server));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
});

describe('examples/hono-server.ts', () => {
  it('serves the demo API on Hono when run as `npx tsx examples/hono-server.ts`, and stops on SIGTERM', async () => {
    const server = await runExample('hono-server.ts');
    try {
      expect(server.output()).toContain('bulwark demo API (Hono) listening on');
      const res = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ message: expect.any(String), error: 'unauthorized' });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
