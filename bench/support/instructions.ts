/**
 * Instructions per request, counted by valgrind's callgrind: a measure of what a server does per request
 * that does not move with the machine's speed.
 *
 * Throughput on a small shared VM moves by ten points or more between runs, and two processes of the same
 * server can differ by as much for their whole lives (see `compare.ts`). The number of instructions a
 * server executes for a request moves by a few percent at most: callgrind counts them, whatever else the machine
 * is doing. So each server also runs under callgrind, gets the same requests as in the throughput
 * benchmark (a warm-up first, then the counted ones, over keep-alive connections), and reports the
 * instructions its main thread (JavaScript, the HTTP parser, libuv, the collector's work done there)
 * executed per counted request.
 *
 * What this does not see: the kernel's work (system calls, the loopback socket), waiting for memory, how
 * fast each instruction runs, and the helper threads of V8 (parallel and concurrent collection, background
 * compilation). Those are left out on purpose: under callgrind the threads take turns, and what the
 * helpers count per request grows with the time a request takes there (their spinning and polling too),
 * so their figure measures valgrind as much as the server. A share of instructions is not a throughput ratio; it says how much more
 * work a contender does than its baseline, measured without noise, and it moves when the code does.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Contender, percent } from './compare.js';
import type { LoadShape } from './load.js';
import type { Row } from './print-tables.js';

/** Whether valgrind (with callgrind_control) can be run here. */
export function hasCallgrind(): boolean {
  return spawnSync('valgrind', ['--version']).status === 0 && spawnSync('callgrind_control', ['--version']).error === undefined;
}

/** Options of {@link measureInstructions}. */
export interface InstructionOptions {
  /** The benchmark script that builds a server when started with `env` set to a contender's `kind`. */
  script: string;
  /** The environment variable that names the server to build. */
  env: string;
  /** The server kind to start for a contender kind (a script may run one server for several kinds). @default the kind */
  serverOf?: (kind: string) => string;
  /** The requests a contender gets (a fresh key per request, a replayed one, ...). */
  shapeOf: (kind: string) => LoadShape;
  /** Requests before counting starts, not instrumented (the JIT, caches and stores warmed up). @default 8000 */
  warmUp?: number;
  /** Requests counted: the long window's requests over the short one's. @default 3000 */
  count?: number;
  /** Servers under callgrind at once. @default 2 */
  parallel?: number;
}

/**
 * Counts the instructions per request of every contender's server and returns one row per contender
 * compared with another: its main thread's instructions and its baseline's share of them (a percentage
 * against a bare server, a factor against a peer library).
 *
 * @example
 * ```ts
 * const rows = await measureInstructions(contenders, { script, env: SERVER_ENV, shapeOf: () => ({ path: '/' }) });
 * ```
 */
export async function measureInstructions(contenders: readonly Contender[], options: InstructionOptions, table?: string): Promise<Row[]> {
  const kinds = [...new Set(contenders.map((c) => c.kind))];
  const counted = new Map<string, number>();
  const queue = [...kinds];
  const worker = async () => {
    for (let kind = queue.shift(); kind !== undefined; kind = queue.shift()) {
      counted.set(kind, await countInstructions(kind, options));
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.parallel ?? 2, kinds.length) }, worker));
  const byId = new Map(contenders.map((c) => [c.id, c]));
  return contenders.map((contender) => {
    const own = counted.get(contender.kind)!;
    const baseline = byId.get(contender.baseline)!;
    const base = counted.get(baseline.kind)!;
    const against = baseline.id === contender.id ? '' : baseline.id;
    const ratio = base / own;
    const share = against === '' ? '' : against.endsWith('bare') ? percent(ratio) : `${ratio.toFixed(2)}x`;
    return {
      ...(table === undefined ? {} : { table }),
      server: contender.id,
      'measured against': against,
      'instructions/req (main thread)': Math.round(own),
      [INSTRUCTION_SHARE]: share,
    };
  });
}

/** The headline column of {@link measureInstructions}: the baseline's instructions per request over the contender's. */
export const INSTRUCTION_SHARE = 'its share of instructions (main thread)';

/**
 * Starts one server under callgrind, warms it up, counts `count` requests, stops it, and returns its main
 * thread's instructions per counted request.
 */
async function countInstructions(kind: string, options: InstructionOptions): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-callgrind-'));
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--separate-threads=yes',
      // JIT-compiled code is rewritten in place: callgrind must notice.
      '--smc-check=all-non-file',
      // Nothing is instrumented until the warm-up is over: starting and warming up take a fraction of the time.
      '--instr-atstart=no',
      `--callgrind-out-file=${join(dir, 'out')}`,
      process.execPath,
      ...process.execArgv,
      options.script,
    ],
    { env: { ...process.env, [options.env]: options.serverOf?.(kind) ?? kind }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    const port = await portOf(child, kind, () => stderr);
    const shape = options.shapeOf(kind);
    await sendCount(port, options.warmUp ?? 8000, shape, 'warm');
    // Each switch or dump is followed by a burst of work in the server (some tens of millions of
    // instructions, whatever its kind; likely V8 using the idle time while callgrind_control talks to it),
    // counted in the window after it. Counted with the requests, it added 30k per request over 3,000 requests
    // and 9k over 10,000. So two windows are counted after a dump each, a short one and a long one, and the
    // difference is divided by the difference of their requests: the burst falls out.
    callgrindControl(['--instr=on'], child.pid!);
    await sendCount(port, SETTLE, shape, 'settle');
    callgrindControl(['-d'], child.pid!);
    await sendCount(port, SHORT, shape, 'short');
    callgrindControl(['-d'], child.pid!);
    const count = options.count ?? 3000;
    await sendCount(port, SHORT + count, shape, 'long');
    callgrindControl(['-d'], child.pid!);
    // One file per dump and thread: `out.<dump>-01` is thread 1, the main thread.
    const main = (dump: number) => {
      const file = join(dir, `out.${dump}-01`);
      if (!existsSync(file)) throw new Error(`bench: callgrind wrote no dump ${dump} of the ${kind} server's main thread`);
      return summary(readFileSync(file, 'utf8'));
    };
    return (main(3) - main(2)) / count;
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function portOf(child: ChildProcess, kind: string, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: the ${kind} server did not start under callgrind within 180 s`)), 180_000);
    child.once('message', (message: { port: number }) => {
      clearTimeout(timer);
      resolve(message.port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench: the ${kind} server exited under callgrind (${code}): ${stderr()}`));
    });
  });
}

/** Tells a process under callgrind to start instrumenting or to dump its counters (which zeroes them); returns once it has. */
function callgrindControl(command: ['--instr=on'] | ['-d'], pid: number): void {
  const result = spawnSync('callgrind_control', [...command, String(pid)], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`bench: callgrind_control ${command.join(' ')} ${pid} failed: ${result.stderr}${result.stdout}`);
}

function summary(dump: string): number {
  const line = /^summary: (\d+)/m.exec(dump) ?? /^totals: (\d+)/m.exec(dump);
  if (!line) throw new Error('bench: a callgrind dump without a summary line');
  return Number(line[1]);
}

/** Requests between switching instrumentation on and the first counted window (see {@link countInstructions}). */
const SETTLE = 1000;

/** Requests of the short counted window; the long one has `count` more (see {@link countInstructions}). */
const SHORT = 1000;

/** Requests sent by {@link sendCount} at once, each on a kept-alive connection of its own. */
const CONNECTIONS = 4;

/**
 * Sends exactly `count` requests of `shape` to `http://127.0.0.1:<port>` over {@link CONNECTIONS}
 * kept-alive connections. A `fresh` header gets a value never sent before on every request (`phase`
 * keeps the values of two calls apart).
 */
async function sendCount(port: number, count: number, shape: LoadShape, phase: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let sent = 0;
  let failed = 0;
  const one = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const headers: Record<string, string> = { ...shape.headers };
      if (shape.fresh) headers[shape.fresh.header] = `${shape.fresh.prefix}${phase}-${n}`;
      const request = http.request({ host: '127.0.0.1', port, path: shape.path ?? '/', method: shape.method ?? 'GET', headers, agent }, (res) => {
        if ((res.statusCode ?? 0) >= 400) failed++;
        res.resume();
        res.once('end', resolve);
      });
      request.once('error', reject);
      request.end(shape.body);
    });
  try {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (sent < count) await one(++sent);
      }),
    );
  } finally {
    agent.destroy();
  }
  // Replays answer 409 to a duplicate that arrives while the first runs: a few are expected, most are not.
  if (failed > count / 10) throw new Error(`bench: ${failed} of ${count} requests failed`);
}
