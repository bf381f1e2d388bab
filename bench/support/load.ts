/**
 * The load generator of the server benchmarks: wrk when it is installed, autocannon otherwise.
 *
 * A benchmark of a server's throughput needs the server busy all the time. On two cores autocannon cannot
 * keep a fast Node.js server busy: it is JavaScript on an event loop of its own, and a bare Koa server
 * waiting for it sat 25-30% idle in profiles (and spent more kernel time per request being woken up). wrk
 * is a small C program; it keeps the same server saturated with a fraction of a core. Debian and Ubuntu
 * ship it (`apt-get install wrk`), Homebrew too (`brew install wrk`). Without it the benchmarks still run,
 * on autocannon, and say so.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

/** What each request of a load looks like. */
export interface LoadShape {
  /** @default 'GET' */
  method?: 'GET' | 'POST';
  /** Path and query. @default '/' */
  path?: string;
  /** Headers sent with every request. @default {} */
  headers?: Record<string, string>;
  /** The body sent with every request. @default none */
  body?: string;
  /** A header that gets a value never sent before on every request: `prefix` followed by a counter. */
  fresh?: { header: string; prefix: string };
}

/** What a load achieved. */
export interface LoadResult {
  /** Responses received. */
  requests: number;
  /** Responses with a status outside 2xx and 3xx. */
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
}

/** Which load generator the benchmarks use: `BULWARK_BENCH_LOAD=autocannon` chooses autocannon even when wrk is there. */
export type LoadGenerator = 'wrk' | 'autocannon';

let chosen: LoadGenerator | undefined;

/**
 * The load generator of this run: wrk if the `wrk` command runs (unless `BULWARK_BENCH_LOAD=autocannon`),
 * else autocannon.
 *
 * @example
 * ```ts
 * console.log(`load generator: ${loadGenerator()}`);
 * ```
 */
export function loadGenerator(): LoadGenerator {
  if (chosen === undefined) {
    const forced = process.env.BULWARK_BENCH_LOAD;
    if (forced !== undefined && forced !== 'wrk' && forced !== 'autocannon') {
      throw new TypeError(`bench: BULWARK_BENCH_LOAD must be 'wrk' or 'autocannon', not '${forced}'`);
    }
    const wrkRuns = spawnSync('wrk', ['--version']).error === undefined;
    if (forced === 'wrk' && !wrkRuns) throw new Error('bench: BULWARK_BENCH_LOAD=wrk, but the wrk command is not found (apt-get install wrk)');
    chosen = forced ?? (wrkRuns ? 'wrk' : 'autocannon');
  }
  return chosen;
}

/**
 * Sends requests of one shape to `http://127.0.0.1:<port>` over `connections` connections for `seconds`,
 * and reports what came back.
 *
 * @example
 * ```ts
 * const { requests } = await sendLoad(port, 6, 16, { method: 'POST', path: '/v1/messages', body, headers });
 * ```
 */
export function sendLoad(port: number, seconds: number, connections: number, shape: LoadShape = {}): Promise<LoadResult> {
  return loadGenerator() === 'wrk' ? wrk(port, seconds, connections, shape) : viaAutocannon(port, seconds, connections, shape);
}

async function viaAutocannon(port: number, seconds: number, connections: number, shape: LoadShape): Promise<LoadResult> {
  const headers = { ...shape.headers };
  if (shape.fresh) headers[shape.fresh.header] = `${shape.fresh.prefix}[<id>]`;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${shape.path ?? '/'}`,
    connections,
    duration: seconds,
    method: shape.method ?? 'GET',
    headers,
    ...(shape.body === undefined ? {} : { body: shape.body }),
    idReplacement: shape.fresh !== undefined,
  });
  return { requests: result.requests.total, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

/** A Lua string literal: every byte outside a few safe ASCII characters written as a decimal escape. */
function luaString(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += /[A-Za-z0-9 _.,:/+-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `\\${byte}`;
  }
  return `"${out}"`;
}

/** The wrk script of a shape: its method, path, headers and body, and a counter for the fresh header. */
function wrkScript(shape: LoadShape): string {
  const lines = [`wrk.method = ${luaString(shape.method ?? 'GET')}`];
  if (shape.body !== undefined) lines.push(`wrk.body = ${luaString(shape.body)}`);
  for (const [name, value] of Object.entries(shape.headers ?? {})) lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  lines.push(`wrk.path = ${luaString(shape.path ?? '/')}`);
  if (shape.fresh) {
    // Called for every request, once wrk.init has added the Host header.
    lines.push(
      'local n = 0',
      'request = function()',
      '  n = n + 1',
      `  wrk.headers[${luaString(shape.fresh.header)}] = ${luaString(shape.fresh.prefix)} .. n`,
      '  return wrk.format()',
      'end',
    );
  }
  return `${lines.join('\n')}\n`;
}

async function wrk(port: number, seconds: number, connections: number, shape: LoadShape): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  const script = join(dir, 'load.lua');
  writeFileSync(script, wrkScript(shape));
  try {
    const output = await new Promise<string>((resolve, reject) => {
      // One thread: the machine's other core is the server's, and one wrk thread keeps it saturated.
      const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', script, `http://127.0.0.1:${port}`]);
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      // wrk reports an error in its script on stderr and goes on with a plain GET: never measure that.
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString();
      });
      child.once('error', reject);
      // 'close', not 'exit': the output may still be in the pipes when the process exits.
      child.once('close', (code) => (code === 0 && err === '' ? resolve(out) : reject(new Error(`bench: wrk failed (${code}): ${err}${out}`))));
    });
    return parseWrk(output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads wrk's summary: `N requests in`, `Non-2xx or 3xx responses: N`, `Socket errors: connect A, read B, write C, timeout D`. */
function parseWrk(output: string): LoadResult {
  const requests = /(\d+) requests in/.exec(output);
  if (!requests) throw new Error(`bench: wrk printed no request count: ${output}`);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requests: Number(requests[1]), non2xx: non2xx ? Number(non2xx[1]) : 0, errors };
}
