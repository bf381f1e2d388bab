/**
 * The demo API as a Web fetch handler, served on Node by @hono/node-server (`npx tsx examples/fetch-server.ts`).
 * The same handler runs unchanged on Bun, Deno or Workers with their own `clientIp`.
 */
import { serve } from '@hono/node-server';
import { createFetchApp } from './messaging/fetch-app.js';

const port = Number(process.env.PORT ?? 3001);
serve({ fetch: createFetchApp() as never, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`bulwark demo API (fetch handler) listening on http://127.0.0.1:${info.port}`);
});
