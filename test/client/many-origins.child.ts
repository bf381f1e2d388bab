/**
 * Run in a child process by many-origins.test.ts: calls 10,000 origins through one wrapper (every tenth
 * answering 503, which opens its breaker), closes the server, prints what is left, and must then exit
 * on its own: no breaker, statistics or reset timer may keep the process alive.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFetch } from '../../src/client/index.js';

const ORIGINS = 10_000;

const server = http.createServer((req, res) => {
  const failing = String(req.headers['x-origin'] ?? '').startsWith('f');
  res.writeHead(failing ? 503 : 200, { 'content-type': 'text/plain' });
  res.end('x');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

let opened = 0;
const client = createFetch({
  retries: 0,
  maxBreakers: 1_000,
  breaker: { volumeThreshold: 1, resetTimeout: 600_000 },
  onBreakerStateChange: (event) => {
    if (event.state === 'open') opened++;
  },
  // Every origin is served by the one local server; the wrapper still keeps one breaker per origin.
  fetch: (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('x-origin', new URL(String(input)).hostname);
    return fetch(target, { ...init, headers });
  },
});

let next = 0;
const statuses = new Map<number, number>();
await Promise.all(
  Array.from({ length: 50 }, async () => {
    while (next < ORIGINS) {
      const i = next++;
      const res = await client(`http://${i % 10 === 0 ? 'f' : 'o'}${i}.example/`);
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  }),
);

server.closeAllConnections();
await new Promise<void>((resolve) => server.close(() => resolve()));
const timers = process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
process.stdout.write(`${JSON.stringify({ opened, statuses: Object.fromEntries(statuses), timers })}\n`);
