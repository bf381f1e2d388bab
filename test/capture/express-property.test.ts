/**
 * Property: whatever an Express handler writes (setHeader, statusCode and statusMessage, writeHead with a
 * reason and headers, writes of strings and Buffers with and without callbacks, one buffer refilled in
 * each write callback, end, a thrown error, a destroyed response), the idempotency capture sends what the
 * same application sends without bulwark (status, reason, headers less the date and transport ones, body
 * bytes), frames it exactly, and a replay of a stored response is byte-identical to the first response.
 * The exceptions are the promised ones: a handler that wrote part of a body and then failed gets the clean
 * JSON error (without bulwark its connection is cut), a response past maxResponseBytes replays as a 409.
 * Express 5 and 4, over real sockets read by a strict raw client.
 */
import fc from 'fast-check';
import express from 'express';
import express4 from 'express4';
import { expect } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { describeCaptureProperty, type Sent, shown, whole } from './property.js';
import type { Exchange, RawResponse } from './raw-http.js';
import { type Listening, listening } from './servers.js';

const MAX = 64;
const NUM_RUNS = 150;
const quiet = { onError: () => {} };

type Chunk = { kind: 'string' | 'buffer' | 'reuse'; data: string; callback: boolean };
type Op = { t: 'write'; chunk: Chunk } | { t: 'tick' };
interface Program {
  headers: Array<[string, string]>;
  status: number;
  /** Set as `res.statusMessage` before anything is written. */
  message?: string;
  /** `writeHead(status, reason?, headers)` before the writes. */
  writeHead?: { status: number; reason?: string; headers: Record<string, string> };
  ops: Op[];
  end: { t: 'end'; data?: string } | { t: 'send'; data: string } | { t: 'throw' } | { t: 'destroy' };
}

const STATUSES = [200, 201, 202, 400, 404, 409, 500];
const text = fc.string({ minLength: 1, maxLength: 24, unit: fc.constantFrom('a', 'b', 'é', '\n', '€', 'z', '0', ' ') });
const reason = fc.constantFrom('Created Nicely', 'OK', 'Not Today', undefined);
const headerName = fc.constantFrom('x-a', 'x-b', 'content-type', 'cache-control', 'X-Mixed-Case');
const headerValue = fc.constantFrom('1', 'two', 'text/plain; charset=utf-8', 'no-store', 'a, b');

const program: fc.Arbitrary<Program> = fc.record(
  {
    headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 3 }),
    status: fc.constantFrom(...STATUSES),
    message: reason,
    writeHead: fc.record(
      { status: fc.constantFrom(...STATUSES), reason, headers: fc.dictionary(fc.constantFrom('x-c', 'x-d'), headerValue, { maxKeys: 2 }) },
      { requiredKeys: ['status', 'headers'] },
    ),
    ops: fc.array(
      fc.oneof(
        { weight: 5, arbitrary: fc.record({ kind: fc.constantFrom('string', 'buffer', 'reuse'), data: text, callback: fc.boolean() }).map((chunk) => ({ t: 'write' as const, chunk })) },
        { weight: 1, arbitrary: fc.constant({ t: 'tick' as const }) },
      ),
      { maxLength: 6 },
    ),
    end: fc.oneof(
      { weight: 4, arbitrary: fc.record({ t: fc.constant('end' as const), data: text }, { requiredKeys: ['t'] }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('send' as const), data: text }) },
      { weight: 2, arbitrary: fc.constant({ t: 'throw' as const }) },
      { weight: 1, arbitrary: fc.constant({ t: 'destroy' as const }) },
    ),
  },
  { requiredKeys: ['headers', 'status', 'ops', 'end'] },
);

/** Runs `p` on `res` as an application would. */
async function perform(p: Program, res: express.Response, next: express.NextFunction): Promise<void> {
  for (const [name, value] of p.headers) res.setHeader(name, value);
  res.statusCode = p.status;
  if (p.message !== undefined) res.statusMessage = p.message;
  if (p.writeHead) {
    if (p.writeHead.reason !== undefined) res.writeHead(p.writeHead.status, p.writeHead.reason, p.writeHead.headers);
    else res.writeHead(p.writeHead.status, p.writeHead.headers);
  }
  const shared = Buffer.alloc(128);
  for (const op of p.ops) {
    if (op.t === 'tick') {
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    const { kind, data, callback } = op.chunk;
    if (kind === 'reuse') {
      // The same buffer each time, refilled only once the previous write called back.
      const length = shared.write(data);
      await new Promise((resolve) => res.write(shared.subarray(0, length), resolve));
      continue;
    }
    const chunk = kind === 'string' ? data : Buffer.from(data);
    if (callback) await new Promise((resolve) => res.write(chunk, resolve));
    else res.write(chunk);
  }
  const end = p.end;
  if (end.t === 'end') res.end(end.data);
  else if (end.t === 'send') {
    // res.send sets headers: only where the application could still set them.
    if (res.headersSent || p.ops.some((op) => op.t === 'write') || p.writeHead) res.end(end.data);
    else res.send(end.data);
  } else if (end.t === 'throw') next(new Error('the handler failed'));
  else res.destroy();
}

const programs = new Map<string, Program>();

function server(make: typeof express, guarded: boolean): Promise<Listening> {
  const app = make();
  app.use(make.json());
  if (guarded) app.use(expressAdapter.idempotency({ store: new MemoryStore(), maxResponseBytes: MAX }));
  app.post('/run', (req, res, next) => {
    const p = programs.get(String(req.headers['x-program']));
    if (!p) return void res.status(400).end('no program');
    perform(p, res, next).catch(next);
  });
  app.use(expressAdapter.errorHandler(quiet));
  return listening(app.listen(0, '127.0.0.1'));
}

const wire = (r: RawResponse) => ({ ...shown(r), headers: r.headers.filter(([name]) => name !== 'date' && name !== 'idempotent-replayed') });

const cut = (x: Exchange) => x.surplus.length === 0 && (x.broken || x.responses.length === 0);

/** Bytes the program writes before its end, and in all. */
function sizes(p: Program): { beforeEnd: number; total: number; wrote: boolean } {
  let beforeEnd = 0;
  for (const op of p.ops) if (op.t === 'write') beforeEnd += Buffer.byteLength(op.chunk.data);
  const end = p.end;
  const last = end.t === 'end' || end.t === 'send' ? Buffer.byteLength(end.data ?? '') : 0;
  return { beforeEnd, total: beforeEnd + last, wrote: beforeEnd > 0 };
}

/** What must hold of one program's three exchanges. */
function check(p: Program, { without, first, again }: Sent): void {
  const { beforeEnd, total, wrote } = sizes(p);
  const streamed = beforeEnd > MAX;
  expect(first.surplus.length).toBe(0);
  expect(again.surplus.length).toBe(0);
  if (p.end.t === 'destroy' || (p.end.t === 'throw' && streamed)) {
    // Broken off after the head went out (or before anything did): cut, and the key is free.
    expect(cut(without)).toBe(true);
    expect(cut(first)).toBe(true);
    expect(cut(again)).toBe(true);
    return;
  }
  expect(whole(first)).toBe(true);
  const firstResponse = first.responses[0]!;
  if (p.end.t === 'throw') {
    // Nothing went out before the error: the documented JSON error, alone; the retry runs again.
    expect(firstResponse.status).toBe(500);
    expect(JSON.parse(firstResponse.body.toString())).toMatchObject({ error: 'internal_error' });
    if (!wrote && !p.writeHead) expect(shown(firstResponse)).toEqual(shown(without.responses[0]!));
    else expect(cut(without)).toBe(true);
    expect(whole(again)).toBe(true);
    expect(wire(again.responses[0]!)).toEqual(wire(firstResponse));
    return;
  }
  expect(whole(without)).toBe(true);
  expect(shown(firstResponse)).toEqual(shown(without.responses[0]!));
  expect(whole(again)).toBe(true);
  const replay = again.responses[0]!;
  // (An application error can answer instead, as res.send does for a Content-Type it cannot parse.)
  if (firstResponse.status >= 500) {
    // Not stored: the retry runs again and answers the same.
    expect(replay.headers.some(([h]) => h === 'idempotent-replayed')).toBe(false);
    expect(shown(replay)).toEqual(shown(firstResponse));
  } else if (total > MAX) {
    expect(replay.status).toBe(422);
    expect(JSON.parse(replay.body.toString())).toMatchObject({ error: 'idempotency_key_used', replayable: false });
  } else {
    expect(replay.headers).toContainEqual(['idempotent-replayed', 'true']);
    // Byte-identical but for the date, the replay marker, and the framing a length gives.
    expect(shown(replay)).toEqual(shown(firstResponse));
    expect(replay.framing).toBe('length');
    expect(Number(replay.headers.find(([h]) => h === 'content-length')?.[1])).toBe(replay.body.byteLength);
  }
}

describeCaptureProperty({ frameworks: [['Express 5', express], ['Express 4', express4 as unknown as typeof express]], server, program, programs, numRuns: NUM_RUNS, check });
