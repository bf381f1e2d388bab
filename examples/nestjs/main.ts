/**
 * The demo API on NestJS (Express platform):
 * `npx tsx --tsconfig examples/nestjs/tsconfig.json examples/nestjs/main.ts` (port 3005 or `PORT`).
 * See app.ts for where bulwark goes in a Nest app.
 */
import { createNestApp } from './app.js';

const port = Number(process.env.PORT ?? 3005);
const app = await createNestApp();
await app.listen(port, '127.0.0.1');
console.log(`bulwark demo API (NestJS) listening on ${(await app.getUrl()).replace('[::1]', '127.0.0.1')}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
