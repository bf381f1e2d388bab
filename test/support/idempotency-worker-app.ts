/**
 * The API of the Redis cross-process idempotency workers (test/idempotency/fixtures/worker.ts on ioredis,
 * test/redis-node/fixtures/idempotency-worker.ts on node-redis): Express 5 with bulwark's idempotency on a
 * RedisStore over the worker's client. Every handler run is counted in the hash `<PREFIX>runs` (per key),
 * so the test can prove exactly-once execution. Prints `{"port":N}` on stdout when listening.
 *
 * Env: REDIS_URL (read by the worker's client), PREFIX, LEASE_MS, HANDLER_MS (handler duration, or `?ms=`),
 * HANG=1 (the handler never finishes).
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import { errorHandler, idempotency } from '../../adapters/express.js';
import { RedisStore } from '../../src/stores/redis/index.js';

type Client = ConstructorParameters<typeof RedisStore>[0];

/**
 * Serves the worker's API on 127.0.0.1 (a free port). `countRun` adds one to `key` in the hash `runs`
 * through the worker's own client; `fields` go into every response body, after `worker`.
 *
 * @example
 * ```ts
 * serveIdempotencyWorker(redis, (runs, key) => redis.hincrby(runs, key, 1));
 * ```
 */
export function serveIdempotencyWorker(redis: Client, countRun: (runs: string, key: string) => Promise<unknown>, fields: Record<string, string> = {}): void {
  const prefix = process.env.PREFIX ?? 'bulwark-test:';
  const handlerMs = Number(process.env.HANDLER_MS ?? 20);
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json());
  app.use(
    idempotency({
      // Generous deadlines: a test machine under this load answers slowly, and a 503 would fail the count.
      store: new RedisStore(redis, { prefix, commandTimeoutMs: 3000 }),
      storeTimeoutMs: 4000,
      leaseMs: Number(process.env.LEASE_MS ?? 10_000),
    }),
  );
  app.post('/v1/messages', async (req, res) => {
    const key = req.get('idempotency-key') ?? '';
    await countRun(`${prefix}runs`, key);
    if (process.env.HANG === '1') await new Promise(() => {});
    const ms = Number(req.query.ms ?? handlerMs);
    await new Promise((resolve) => setTimeout(resolve, ms));
    res.status(201).setHeader('location', `/v1/messages/${key}`);
    res.json({ id: `msg_${randomUUID()}`, worker: process.pid, ...fields, to: (req.body as { to?: string }).to });
  });
  app.use(errorHandler({ onError: () => {} }));

  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
  });
}
