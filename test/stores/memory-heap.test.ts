/**
 * The crash this bound prevents: the default MemoryStore kept up to 100,000 responses whatever their
 * size, so a route answering 512 KiB under fresh idempotency keys grew the heap until the process died.
 * A real Express 5 process with a 256 MiB heap and idempotency at its defaults answers 2,000 such POSTs
 * (1 GiB of responses) over kept-alive sockets, four in flight, and stays up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SERVER = fileURLToPath(new URL('./memory-heap-server.ts', import.meta.url));
const BODY_BYTES = 512 * 1024;
const REQUESTS = 2_000;
const IN_FLIGHT = 4;

const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
let child: ChildProcess;
let port = 0;
let stderr = '';
/** Set when the server process ends: how it ended, with the end of what it wrote on stderr. */
let died: string | undefined;
/** Settles when the server process ends. */
let exited: Promise<void>;
/** POSTs answered so far. */
let answered = 0;

beforeAll(async () => {
  child = spawn(process.execPath, ['--max-old-space-size=256', '--import', 'tsx', SERVER], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    // The start is kept: V8's "FATAL ERROR" line comes before its stack.
    if (stderr.length < 4000) stderr += chunk.toString();
  });
  exited = new Promise((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, sig) => {
    const fatal = /FATAL ERROR[^\n]*/.exec(stderr)?.[0] ?? stderr.trim().split('\n').pop();
    died = `the server process ended (code ${code}, signal ${sig}) after ${answered} answers: ${fatal}`;
  });
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the server did not start within 20 s')), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve((JSON.parse(out.split('\n')[0]!) as { port: number }).port);
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(died));
    });
  });
}, 30_000);

afterAll(async () => {
  agent.destroy();
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
});

interface Reply {
  status: number;
  bytes: number;
  replayed: boolean;
  /** The body's first byte (which response it is), or the whole body of a small answer. */
  body: Buffer;
}

/** Sends a request; of a large answer keeps only the length and the first byte (not 1 GiB in all). */
function request(method: 'GET' | 'POST', path: string, key?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-length': '0' };
    if (key !== undefined) headers['idempotency-key'] = key;
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        if (bytes < 64 * 1024) chunks.push(c);
        bytes += c.byteLength;
      });
      res.on('end', () => {
        const body = bytes < 64 * 1024 ? Buffer.concat(chunks) : chunks[0]!.subarray(0, 1);
        resolve({ status: res.statusCode ?? 0, bytes, replayed: res.headers['idempotent-replayed'] === 'true', body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    // A connection lost because the server died: say how it died (given a second to be seen ending).
    req.on('error', (err) => {
      const aSecond = new Promise((resolve) => setTimeout(resolve, 1000));
      void Promise.race([exited, aSecond]).then(() => reject(new Error(died ?? err.message)));
    });
    req.end();
  });
}

describe('the default MemoryStore under large responses with fresh keys (256 MiB heap)', () => {
  it('answers 2,000 POSTs of 512 KiB each in full and stays up; the newest keys still replay', async () => {
    const replies: Reply[] = new Array(REQUESTS);
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          replies[i] = await request('POST', '/v1/reports', `report-${i}`);
          answered++;
        }
      }),
    );
    expect(died).toBeUndefined();
    const incomplete = replies.filter((r) => r.status !== 201 || r.bytes !== BODY_BYTES || r.replayed);
    expect(incomplete).toEqual([]);

    const health = await request('GET', '/health');
    expect(health.status).toBe(200);
    expect((JSON.parse(health.body.toString()) as { runs: number }).runs).toBe(REQUESTS);
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();

    // The newest record is kept: its retry is a byte-identical replay, and the handler does not run.
    const last = REQUESTS - 1;
    const replay = await request('POST', '/v1/reports', `report-${last}`);
    expect(replay.status).toBe(201);
    expect(replay.replayed).toBe(true);
    expect(replay.bytes).toBe(BODY_BYTES);
    expect(replay.body[0]).toBe(replies[last]!.body[0]);
    const after = await request('GET', '/health');
    expect((JSON.parse(after.body.toString()) as { runs: number }).runs).toBe(REQUESTS);
  }, 120_000);
});
