/**
 * The demo API on Hono, served on Node by @hono/node-server (`npx tsx examples/hono-server.ts`, port 3004 or
 * `PORT`), with the middleware of `bulwark/hono`: see examples/messaging/hono-app.ts.
 */
import { serve } from '@hono/node-server';
import { createHonoApp } from './messaging/hono-app.js';

const port = Number(process.env.PORT ?? 3004);
const server = serve({ fetch: createHonoApp().fetch, port, hostname: '127.0.0.1' }, (info) => {
  console.log(`bulwark demo API (Hono) listening on http://127.0.0.1:${info.port}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close(() => process.exit(0)));
