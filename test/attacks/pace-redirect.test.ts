/**
 * Attack: client pacing learns an origin's rate limits from the headers of the response a call gets.
 * When `fetch` followed a redirect, that response comes from another origin (a CDN, an object store, or
 * whatever an open redirect points at), yet its `RateLimit` headers are booked to the origin the call was
 * made to. One redirect to a server that answers `RateLimit: "cdn";r=0;t=3600` makes the client refuse,
 * unsent, every call to the API origin for an hour, its routes not seen yet included.
 *
 * Two real servers: the API (which redirects `/download`) and the redirect's target.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createFetch } from '../../src/client/index.js';

const servers: http.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("a redirect target's rate-limit headers are not booked to the origin called", () => {
  it('after a redirect to a spent third-party limit, the API origin is still called', async () => {
    const target = await listen((_req, res) => {
      res.writeHead(200, { ratelimit: '"cdn";r=0;t=3600', 'ratelimit-policy': '"cdn";q=1;w=3600' });
      res.end('file');
    });
    let apiHits = 0;
    const api = await listen((req, res) => {
      apiHits += 1;
      if (req.url === '/download') {
        res.writeHead(302, { location: `${target}/objects/1` });
        res.end();
        return;
      }
      res.end('{"ok":true}');
    });

    const client = createFetch({ retries: 0 });
    const file = await client(`${api}/download`);
    expect(file.redirected).toBe(true);
    expect(await file.text()).toBe('file');

    const res = await client(`${api}/v1/items`);
    expect(res.status).toBe(200);
    await res.text();
    expect(apiHits).toBe(2);
  });
});
