/**
 * The demo API on Koa (`npx tsx examples/koa-server.ts`).
 */
import type { AddressInfo } from 'node:net';
import { createKoaApp } from './messaging/koa-app.js';

const port = Number(process.env.PORT ?? 3002);
const server = createKoaApp().listen(port, '127.0.0.1', () => {
  console.log(`bulwark demo API (Koa) listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
