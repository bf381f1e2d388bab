/**
 * One process of the demo API on a shared Redis store, started by processes.ts with `child_process.fork`.
 * Reads REDIS_URL, BULWARK_DEMO_PREFIX and PORT; tells its parent `{ port }` once listening; exits when
 * its parent goes away (the IPC channel closes) or on SIGTERM/SIGINT.
 */
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/stores/redis/index.js';
import { createExpressApp } from '../messaging/express-app.js';
import { listen, logUnexpected, requestedPort } from './serve.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
redis.on('error', () => {});
const store = new RedisStore(redis, { prefix: process.env.BULWARK_DEMO_PREFIX ?? 'bulwark-demo:' });
const { url } = await listen(createExpressApp({ store, faults: true, onError: logUnexpected }), requestedPort());
const port = Number(new URL(url).port);

const stop = () => {
  redis.disconnect();
  process.exit(0);
};
process.on('disconnect', stop);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.send?.({ port });
