/**
 * Idempotency benchmark (a script, not a test): `npx tsx bench/idempotency.ts`.
 *
 * POST throughput of Express and Koa with bulwark's `idempotency` (memory store and Redis store), with a
 * fresh key on every request (each one claims, runs and completes) and with one key replayed, as a ratio
 * to the same bare server measured in this run; and express-idempotency (its in-memory adapter) in the same
 * Express app. Each server runs in a child process so that autocannon does not share its event loop.
 * Redis comes from REDIS_URL (default redis://127.0.0.1:6379); records written here expire after a minute.
 *
 * `run()` returns the table rows, so that a combined `npm run bench` can call it.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

type Row = Record<string, string | number>;
type ServerKind = 'express-bare' | 'express-memory' | 'express-redis' | 'express-peer' | 'koa-bare' | 'koa-memory' | 'koa-redis';
type Mode = 'bare' | 'fresh keys' | 'replays';

const require = createRequire(import.meta.url);
const SERVER_ENV = 'BULWARK_BENCH_IDEMPOTENCY_SERVER';
const BODY = JSON.stringify({ to: '+15550100', text: 'Your code is 123456', tags: ['otp', 'eu'] });
const SECONDS = 3;

async function serve(kind: ServerKind): Promise<void> {
  const http = await import('node:http');
  const prefix = `bulwark-bench:${process.pid}:`;
  const redisStore = async () => {
    const { Redis } = await import('ioredis');
    const { RedisStore } = await import('../src/stores/redis/index.js');
    const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
    redis.on('error', () => {});
    return new RedisStore(redis, { prefix });
  };
  let seq = 0;
  const reply = (to: unknown) => ({ id: `msg_${process.pid}_${++seq}`, to, status: 'queued' });
  let handler: import('node:http').RequestListener;
  if (kind.startsWith('express')) {
    const { default: express } = await import('express');
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.use(express.json());
    if (kind === 'express-memory' || kind === 'express-redis') {
      const { idempotency } = await import('../adapters/express.js');
      const { MemoryStore } = await import('../src/stores/memory/index.js');
      app.use(idempotency({ store: kind === 'express-memory' ? new MemoryStore() : await redisStore(), ttlMs: 60_000 }));
    }
    let peer: { isHit(req: unknown): boolean } | undefined;
    if (kind === 'express-peer') {
      const lib = require('express-idempotency') as {
        idempotency: () => import('express').RequestHandler;
        getSharedIdempotencyService: () => { isHit(req: unknown): boolean };
      };
      app.use(lib.idempotency());
      peer = lib.getSharedIdempotencyService();
    }
    app.post('/v1/messages', (req, res) => {
      if (peer?.isHit(req)) return;
      res.status(201).json(reply((req.body as { to?: unknown }).to));
    });
    handler = app;
  } else {
    const { default: Koa } = await import('koa');
    const { default: bodyParser } = await import('@koa/bodyparser');
    const app = new Koa();
    app.use(bodyParser() as unknown as import('koa').Middleware);
    if (kind === 'koa-memory' || kind === 'koa-redis') {
      const { idempotency } = await import('../adapters/koa.js');
      const { MemoryStore } = await import('../src/stores/memory/index.js');
      app.use(idempotency({ store: kind === 'koa-memory' ? new MemoryStore() : await redisStore(), ttlMs: 60_000 }));
    }
    app.use((ctx) => {
      if (ctx.method !== 'POST' || ctx.path !== '/v1/messages') return;
      ctx.status = 201;
      ctx.body = reply((ctx.request as { body?: { to?: unknown } }).body?.to);
    });
    handler = app.callback();
  }
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
}

function startServer(kind: ServerKind): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [SERVER_ENV]: kind }, stdio: 'inherit' });
    child.once('message', (message: { port: number }) => resolve({ child, port: message.port }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the ${kind} server exited (${code})`)));
  });
}

interface Load {
  rps: number;
  non2xx: number;
  errors: number;
}

async function load(port: number, mode: Mode, seconds: number): Promise<Load> {
  const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  // Fresh keys: autocannon replaces [<id>] with a unique id per request (the bare server ignores the header,
  // so that both sides of a ratio send the same bytes).
  if (mode === 'replays') headers['idempotency-key'] = `replay-${run}`;
  else headers['idempotency-key'] = `fresh-${run}-[<id>]`;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/v1/messages`,
    connections: 32,
    duration: seconds,
    method: 'POST',
    headers,
    body: BODY,
    idReplacement: mode !== 'replays',
  });
  return { rps: result.requests.average, non2xx: result.non2xx, errors: result.errors };
}

async function measure(kind: ServerKind, mode: Mode): Promise<Load> {
  const { child, port } = await startServer(kind);
  try {
    await load(port, mode, 1); // warm up
    return await load(port, mode, SECONDS);
  } finally {
    child.removeAllListeners('exit');
    child.kill();
  }
}

const pct = (value: number, base: number) => `${((value / base) * 100).toFixed(1)}%`;

/** Runs the whole benchmark and returns its table rows. */
export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  const bare: Record<string, number> = {};
  const measured: Record<string, number> = {};
  for (const framework of ['express', 'koa'] as const) {
    const base = await measure(`${framework}-bare`, 'bare');
    bare[framework] = base.rps;
    rows.push({ server: `${framework} bare`, mode: '(no idempotency)', 'req/s': Math.round(base.rps), 'vs bare': '100.0%' });
    for (const store of ['memory', 'redis'] as const) {
      for (const mode of ['fresh keys', 'replays'] as const) {
        const result = await measure(`${framework}-${store}`, mode);
        measured[`${framework}-${store}-${mode}`] = result.rps;
        const failures = result.errors + (mode === 'fresh keys' ? result.non2xx : 0);
        rows.push({
          server: `${framework} + bulwark idempotency (${store})`,
          mode,
          'req/s': Math.round(result.rps),
          'vs bare': pct(result.rps, base.rps),
          ...(failures > 0 ? { failures } : {}),
        });
      }
    }
  }
  for (const mode of ['fresh keys', 'replays'] as const) {
    const peer = await measure('express-peer', mode);
    const ours = measured[`express-memory-${mode}`] ?? 0;
    rows.push({
      server: 'express + express-idempotency (memory)',
      mode,
      'req/s': Math.round(peer.rps),
      'vs bare': pct(peer.rps, bare.express ?? 1),
      'bulwark (memory) vs it': `${(ours / peer.rps).toFixed(2)}x`,
    });
  }
  return rows;
}

const serverKind = process.env[SERVER_ENV] as ServerKind | undefined;
if (serverKind) {
  await serve(serverKind);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  console.table(await run());
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
