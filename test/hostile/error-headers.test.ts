/**
 * An application that set headers for the body it meant to send (`Content-Encoding: gzip`,
 * `Content-Disposition`, `Location`, a reason phrase of its own) and then failed: the error answer is JSON,
 * so those headers must not come with it (a client would try to gunzip the JSON, or save it as a file).
 * Headers that are not about the body (CORS) stay, so a browser can still read the error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { type RunningServer, send, startServer, type Variant } from '../support/matrix.js';

const NODE_VARIANTS: Variant[] = ['express5', 'express4', 'koa3', 'koa2'];
const servers: RunningServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.close();
});

describe.each(NODE_VARIANTS)('error answers on %s', (variant) => {
  it.each([false, true])(`${variant}: drop the headers the application set for its own body (idempotency: %s)`, async (keyed) => {
    const server = await startServer(variant, {
      errors: { onError: () => {} },
      guards: keyed ? [{ kind: 'idempotency', options: { store: new MemoryStore() } }] : [],
      routes: [
        {
          method: 'POST',
          path: '/v1/export',
          native: {
            express: (_req: any, res: any) => {
              res.setHeader('access-control-allow-origin', 'https://app.example');
              res.setHeader('content-encoding', 'gzip');
              res.setHeader('content-disposition', 'attachment; filename="export.csv"');
              res.setHeader('location', '/v1/exports/1');
              res.setHeader('etag', '"abc"');
              res.statusMessage = 'Exported';
              throw new Error('the export failed');
            },
            koa: (ctx: any) => {
              ctx.set('access-control-allow-origin', 'https://app.example');
              ctx.set('content-encoding', 'gzip');
              ctx.set('content-disposition', 'attachment; filename="export.csv"');
              ctx.set('location', '/v1/exports/1');
              ctx.set('etag', '"abc"');
              throw new Error('the export failed');
            },
          },
        },
      ],
    });
    servers.push(server);
    // fetch would fail to read a JSON body that says it is gzip.
    const res = await fetch(`${server.url}/v1/export`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `e-${variant}-${keyed}` },
      body: '{}',
    });
    expect(res.status).toBe(500);
    expect(res.statusText).toBe('Internal Server Error');
    expect(await res.json()).toEqual({ message: expect.any(String), error: 'internal_error' });
    for (const name of ['content-encoding', 'content-disposition', 'location', 'etag']) expect(res.headers.get(name), name).toBeNull();
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await send(server.url, { path: '/nowhere' })).status).toBe(404);
  });
});
