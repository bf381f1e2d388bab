/**
 * Idempotency benchmark (a script, not a test): `npm run build && npx tsx bench/idempotency.ts` (it measures the built package).
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
import { built } from './support/built.js';

type Row = Record<string, string | number>;
type ServerKind = 'express-bare' | 'express-memory' | 'express-redis' | 'express-peer' | 'koa-bare' | 'koa-memory' | 'koa-redis';
type Mode = 'bare' | 'fresh keys' | 'replays';

const require = createRequire(import.meta.url);
const SERVER_ENV = 'BULWARK_BENCH_IDEMPOTENCY_SERVER';
const BODY = JSON.stringify({ to: '+15550100', text: 'Your code is 123456', tags: ['otp', 'eu'] });

async function serve(kind: ServerKind): Promise<void> {
  const http = await import('node:http');
  const prefix = `bulwark-bench:${process.pid}:`;
  const redisStore = async () => {
    const { Redis } = await import('ioredis');
    const { RedisStore } = await built('bulwark/redis');
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
      const { idempotency } = await built('bulwark/express');
      const { MemoryStore } = await built('bulwark');
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
      const { idempotency } = await built('bulwark/koa');
      const { MemoryStore } = await built('bulwark');
      app.use(idempotency({ store: kind === 'koa-memory' ? new MemoryStore() : await redisStore(), ttlMs: 60_000 }));
    }
    app.use((ctx) => {
      if (ctx.method !== 'POST' || ctx.path !== '/v1/messages') return;
      ctx.status = 201;
      ctx.body = reply((ctx.request as { body?: { to?: unknown } }).body?.to);
    });
    handler = app.callback();
  }
  let served = 0;
  const server = http.createServer((req, res) => {
    served++;
    handler(req, res);
  });
  // The parent asks for the CPU time this process used and the requests it served, around each load.
  process.on('message', () => {
    const cpu = process.cpuUsage();
    process.send?.({ cpuMicros: cpu.user + cpu.system, served });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
}

function startServer(kind: ServerKind): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [SERVER_ENV]: kind }, stdio: 'inherit' });
    child.once('message', (message: { port: number }) => {
      child.removeAllListeners('exit');
      resolve({ child, port: message.port });
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the ${kind} server exited (${code})`)));
  });
}

interface Load {
  rps: number;
  non2xx: number;
  errors: number;
  /** CPU time the server process spent per request served, in microseconds. */
  cpuPerRequest: number;
}

interface Usage {
  cpuMicros: number;
  served: number;
}

function usage(child: ChildProcess): Promise<Usage> {
  return new Promise((resolve) => {
    child.once('message', (message: Usage) => resolve(message));
    child.send('usage');
  });
}

async function load(server: { child: ChildProcess; port: number }, mode: Mode, seconds: number): Promise<Load> {
  const port = server.port;
  const before = await usage(server.child);
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
  const after = await usage(server.child);
  const cpuPerRequest = (after.cpuMicros - before.cpuMicros) / Math.max(after.served - before.served, 1);
  return { rps: result.requests.average, non2xx: result.non2xx, errors: result.errors, cpuPerRequest };
}

/** One measured configuration: a server and the traffic sent to it. */
interface Contender {
  id: string;
  framework: 'express' | 'koa';
  kind: ServerKind;
  mode: Mode;
  label: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Measured rounds; every contender runs once per round, and the best and median round are reported. @default 5 */
  rounds?: number;
  /** Seconds of load per contender per round. @default 2 */
  seconds?: number;
  /** Only these frameworks (for a quicker run while tuning). @default both */
  frameworks?: ReadonlyArray<'express' | 'koa'>;
  /** Leave out the Redis-store contenders. @default false */
  skipRedis?: boolean;
  /** Print every measurement to stderr as it is taken. @default false */
  verbose?: boolean;
}

function contenders(options: RunOptions): Contender[] {
  const frameworks = options.frameworks ?? ['express', 'koa'];
  const stores = options.skipRedis ? (['memory'] as const) : (['memory', 'redis'] as const);
  const list: Contender[] = [];
  for (const framework of frameworks) {
    list.push({ id: `${framework}-bare`, framework, kind: `${framework}-bare`, mode: 'bare', label: `${framework} bare` });
    for (const store of stores) {
      for (const mode of ['fresh keys', 'replays'] as const) {
        list.push({
          id: `${framework}-${store}-${mode}`,
          framework,
          kind: `${framework}-${store}`,
          mode,
          label: `${framework} + bulwark idempotency (${store})`,
        });
      }
    }
    if (framework === 'express') {
      for (const mode of ['fresh keys', 'replays'] as const) {
        list.push({ id: `express-peer-${mode}`, framework, kind: 'express-peer', mode, label: 'express + express-idempotency (memory)' });
      }
    }
  }
  return list;
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const best = (values: readonly number[]) => Math.max(...values);
const pct = (value: number, base: number) => `${((value / base) * 100).toFixed(1)}%`;

/**
 * Runs the whole benchmark and returns its table rows. Every server starts once and stays up; then, round
 * after round, each contender gets the same seconds of load, in a rotating order, so that the noise of a
 * shared machine hits all of them alike. A warm-up round is not counted. Ratios to bare are given for the
 * best round of each (best against best) and as the median of the per-round ratios (each round's guarded
 * figure against the bare figure of the same round).
 */
export async function run(options: RunOptions = {}): Promise<Row[]> {
  const rounds = options.rounds ?? 5;
  const seconds = options.seconds ?? 2;
  const list = contenders(options);
  const servers = new Map<ServerKind, { child: ChildProcess; port: number }>();
  const samples = new Map<string, number[]>(list.map((c) => [c.id, []]));
  const cpu = new Map<string, number[]>(list.map((c) => [c.id, []]));
  const failures = new Map<string, number>();
  try {
    for (const kind of new Set(list.map((c) => c.kind))) servers.set(kind, await startServer(kind));
    for (let round = 0; round <= rounds; round++) {
      for (let i = 0; i < list.length; i++) {
        const contender = list[(i + round) % list.length]!;
        const result = await load(servers.get(contender.kind)!, contender.mode, round === 0 ? 1 : seconds);
        if (round === 0) continue; // warm-up
        samples.get(contender.id)!.push(result.rps);
        cpu.get(contender.id)!.push(result.cpuPerRequest);
        if (options.verbose) {
          console.error(
            `round ${round} ${contender.id}: ${Math.round(result.rps)} req/s, ${result.cpuPerRequest.toFixed(1)} µs CPU/req, ${result.non2xx} non-2xx, ${result.errors} errors`,
          );
        }
        const failed = result.errors + (contender.mode === 'fresh keys' ? result.non2xx : 0);
        if (failed > 0) failures.set(contender.id, (failures.get(contender.id) ?? 0) + failed);
      }
    }
  } finally {
    for (const { child } of servers.values()) child.kill();
  }
  const rows: Row[] = [];
  for (const contender of list) {
    const own = samples.get(contender.id)!;
    const bare = samples.get(`${contender.framework}-bare`)!;
    const ratios = own.map((rps, i) => rps / bare[i]!);
    const row: Row = {
      server: contender.label,
      mode: contender.mode === 'bare' ? '(no idempotency)' : contender.mode,
      'req/s best': Math.round(best(own)),
      'req/s median': Math.round(median(own)),
      'vs bare (best)': pct(best(own), best(bare)),
      'vs bare (median round)': `${(median(ratios) * 100).toFixed(1)}%`,
      'server CPU µs/req': Number(median(cpu.get(contender.id)!).toFixed(1)),
    };
    if (contender.kind === 'express-peer') {
      const ours = samples.get(`express-memory-${contender.mode}`);
      if (ours) row['bulwark (memory) vs it'] = `${(best(ours) / best(own)).toFixed(2)}x`;
    }
    const failed = failures.get(contender.id);
    if (failed) row.failures = failed;
    rows.push(row);
  }
  return rows;
}

function cliOptions(args: readonly string[]): RunOptions {
  const options: RunOptions = {};
  for (const arg of args) {
    const [name, value = ''] = arg.replace(/^--/, '').split('=');
    if (name === 'rounds') options.rounds = Number(value);
    else if (name === 'seconds') options.seconds = Number(value);
    else if (name === 'only') options.frameworks = value.split(',') as Array<'express' | 'koa'>;
    else if (name === 'no-redis') options.skipRedis = true;
    else if (name === 'verbose') options.verbose = true;
    else throw new TypeError(`bench/idempotency: unknown argument ${arg} (--rounds=N --seconds=N --only=koa,express --no-redis --verbose)`);
  }
  return options;
}

const serverKind = process.env[SERVER_ENV] as ServerKind | undefined;
if (serverKind) {
  await serve(serverKind);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  console.table(await run(cliOptions(process.argv.slice(2))));
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
