import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createFastifyApp } from '../../examples/messaging/fastify-app.js';
import { describeDemoApi } from './messaging-suite.js';
import { runExample } from './spawn-example.js';

describeDemoApi('Fastify (bulwark/fastify)', async ({ service, allow }) => {
  const app = await createFastifyApp({ service, allow, onError: () => {} });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
});

describe('examples/fastify-server.ts', () => {
  it('serves the demo API on Fastify when run as `npx tsx examples/fastify-server.ts`, and stops on SIGTERM', async () => {
    const server = await runExample('fastify-server.ts');
    try {
      expect(server.output()).toContain('bulwark demo API (Fastify) listening on');
      const res = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ message: expect.any(String), error: 'unauthorized' });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
