/**
 * `npm run demo`: starts the demo messaging API on Express (memory stores) and prints what to try.
 */
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/stores/redis/index.js';
import { createExpressApp } from './messaging/express-app.js';
import { memoryStore } from './messaging/guards.js';

const requested = Number(process.env.PORT ?? 3000);
const redisUrl = process.env.REDIS_URL;
const store = redisUrl
  ? new RedisStore(new Redis(redisUrl, { maxRetriesPerRequest: 1 }).on('error', () => {}))
  : memoryStore();
const app = createExpressApp({ store });
console.log(redisUrl ? `stores: Redis at ${redisUrl}` : 'stores: in memory (set REDIS_URL to share them through Redis)');

function start(port: number): void {
  const server = app.listen(port, '127.0.0.1');
  server.once('listening', () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    console.log(`bulwark demo API listening on ${url}\n`);
    console.log('Try:');
    console.log(
      `  curl -i -X POST ${url}/v1/messages -H 'Authorization: Bearer demo_alice' -H 'Content-Type: application/json' -d '{"from":"BULWARK","to":"+15550123","text":"hi"}'`,
    );
    console.log(
      `  curl -i -X POST ${url}/v1/messages -H 'Authorization: Bearer demo_alice' -H 'Content-Type: application/json' -d '{"from":"NOPE","to":"+15550123","text":"hi"}'`,
    );
    console.log(
      `  curl -i -X POST ${url}/v1/messages -H 'Authorization: Bearer demo_broke' -H 'Content-Type: application/json' -d '{"from":"BULWARK","to":"+15550123","text":"hi"}'`,
    );
    console.log(`  curl -i ${url}/v1/messages/msg_unknown -H 'Authorization: Bearer demo_alice'`);
    console.log(`  curl -i -X POST ${url}/v1/lookups -H 'Authorization: Bearer demo_alice' -H 'Content-Type: application/json' -d '{"numbers":["12"]}'`);
    console.log('\nPress Ctrl+C to stop.');
  });
  server.once('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE' && port !== 0) {
      console.log(`port ${port} is busy; using a free port`);
      start(0);
    } else {
      throw err;
    }
  });
}

start(Number.isInteger(requested) && requested >= 0 ? requested : 3000);
