/**
 * The demo API on Fastify (`npx tsx examples/fastify-server.ts`, port 3003 or `PORT`), with the plugins of
 * `bulwark/fastify`: see examples/messaging/fastify-app.ts.
 */
import { createFastifyApp } from './messaging/fastify-app.js';

const port = Number(process.env.PORT ?? 3003);
const app = await createFastifyApp();
const address = await app.listen({ port, host: '127.0.0.1' });
console.log(`bulwark demo API (Fastify) listening on ${address}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
