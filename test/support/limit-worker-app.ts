/**
 * The app of the limit-accuracy workers (test/throttle/fixtures/limit-worker.ts on ioredis,
 * test/redis-node/fixtures/limit-worker.ts on node-redis): an Express server with `rateLimit` (LIMIT per
 * hour) on a RedisStore over the worker's client, keyed on one shared key, the cost read from `x-cost`.
 * Sends `{ port }` to its parent once it listens; exits when the parent disconnects.
 *
 * Env: PREFIX, LIMIT.
 */
import express from 'express';
import { rateLimit } from '../../adapters/express.js';
import { RedisStore } from '../../src/stores/redis/index.js';

/**
 * Serves the app on 127.0.0.1 (a free port); `close` lets the worker's client go at the disconnect.
 *
 * @example
 * ```ts
 * serveLimitWorker(redis, () => redis.disconnect());
 * ```
 */
export function serveLimitWorker(redis: ConstructorParameters<typeof RedisStore>[0], close: () => void): void {
  const app = express();
  app.use(
    rateLimit({
      limit: Number(process.env.LIMIT),
      windowMs: 3_600_000,
      key: () => 'shared',
      cost: (req) => Number(req.get('x-cost') ?? '1'),
      store: new RedisStore(redis, { prefix: process.env.PREFIX!, commandTimeoutMs: 10_000 }),
      onStoreError: 'closed',
    }),
  );
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('disconnect', () => {
    server.close();
    close();
    process.exit(0);
  });
}
