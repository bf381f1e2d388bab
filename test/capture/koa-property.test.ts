/**
 * Property, smaller than Express's: whatever a Koa handler answers (a string, Buffer, object or stream
 * body, no body, a thrown error, or its own writes to ctx.res with `ctx.respond = false`), with its status,
 * reason phrase and headers, the idempotency capture sends what the same application sends without
 * bulwark (less the date and transport headers), frames it exactly, and a replay of a stored response is
 * identical to the first response. Koa 3 and 2, over real sockets read by a strict raw client.
 */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import Koa from 'koa';
import Koa2 from 'koa2';
import { expect } from 'vitest';
import * as koaAdapter from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { describeCaptureProperty, type Sent, shown, whole } from './property.js';
import { type Listening, listening } from './servers.js';

const MAX = 64;
const NUM_RUNS = 60;
const quiet = { onError: () => {} };

type Body =
  | { t: 'string' | 'buffer' | 'json'; data: string }
  | { t: 'stream'; parts: string[] }
  | { t: 'none' }
  | { t: 'throw' }
  | { t: 'raw'; reason?: string; parts: Array<{ data: string; buffer: boolean }>; end?: string };
interface Program {
  status: number;
  message?: string;
  headers: Array<[string, string]>;
  body: Body;
}

const STATUSES = [200, 201, 202, 400, 409, 500];
const text = fc.string({ minLength: 1, maxLength: 24, unit: fc.constantFrom('a', 'é', '\n', '€', 'z', ' ') });
const reason = fc.constantFrom('Created Nicely', 'Not Today');
const program: fc.Arbitrary<Program> = fc.record(
  {
    status: fc.constantFrom(...STATUSES),
    message: reason,
    headers: fc.array(fc.tuple(fc.constantFrom('x-a', 'x-b', 'cache-control'), fc.constantFrom('1', 'no-store', 'a, b')), { maxLength: 2 }),
    body: fc.oneof(
      fc.record({ t: fc.constantFrom('string' as const, 'buffer' as const, 'json' as const), data: text }),
      fc.record({ t: fc.constant('stream' as const), parts: fc.array(text, { maxLength: 6 }) }),
      fc.constant({ t: 'none' as const }),
      fc.constant({ t: 'throw' as const }),
      fc.record(
        {
          t: fc.constant('raw' as const),
          reason,
          parts: fc.array(fc.record({ data: text, buffer: fc.boolean() }), { maxLength: 5 }),
          end: text,
        },
        { requiredKeys: ['t', 'parts'] },
      ),
    ),
  },
  { requiredKeys: ['status', 'headers', 'body'] },
);

async function perform(p: Program, ctx: Koa.Context): Promise<void> {
  const body = p.body;
  if (body.t === 'raw') {
    ctx.respond = false;
    const res = ctx.res;
    for (const [name, value] of p.headers) res.setHeader(name, value);
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    if (body.reason !== undefined) res.writeHead(p.status, body.reason);
    else res.statusCode = p.status;
    for (const part of body.parts) {
      await new Promise((resolve) => res.write(part.buffer ? Buffer.from(part.data) : part.data, resolve));
    }
    res.end(body.end);
    return;
  }
  for (const [name, value] of p.headers) ctx.set(name, value);
  ctx.status = p.status;
  if (p.message !== undefined) ctx.message = p.message;
  if (body.t === 'string') ctx.body = body.data;
  else if (body.t === 'buffer') ctx.body = Buffer.from(body.data);
  else if (body.t === 'json') ctx.body = { data: body.data };
  else if (body.t === 'stream') ctx.body = Readable.from(body.parts.map((part) => Buffer.from(part)));
  else if (body.t === 'throw') {
    ctx.body = 'never sent';
    throw new Error('the handler failed');
  }
}

const programs = new Map<string, Program>();

function server(Make: typeof Koa, guarded: boolean): Promise<Listening> {
  const app = new Make();
  app.use(koaAdapter.errorHandler(quiet));
  if (guarded) app.use(koaAdapter.idempotency({ store: new MemoryStore(), maxResponseBytes: MAX }));
  app.use(async (ctx) => {
    const p = programs.get(String(ctx.get('x-program')));
    if (!p) throw new Error('no program');
    await perform(p, ctx);
  });
  return listening(app.listen(0, '127.0.0.1'));
}

function size(body: Body): number {
  if (body.t === 'string' || body.t === 'buffer') return Buffer.byteLength(body.data);
  if (body.t === 'json') return Buffer.byteLength(JSON.stringify({ data: body.data }));
  if (body.t === 'stream') return body.parts.reduce((n, part) => n + Buffer.byteLength(part), 0);
  if (body.t === 'raw') return body.parts.reduce((n, part) => n + Buffer.byteLength(part.data), 0) + Buffer.byteLength(body.end ?? '');
  return 0;
}

/** What must hold of one program's three exchanges. */
function check(p: Program, { without, first, again }: Sent): void {
  expect(whole(without)).toBe(true);
  expect(whole(first)).toBe(true);
  expect(whole(again)).toBe(true);
  const firstResponse = first.responses[0]!;
  const replay = again.responses[0]!;
  expect(shown(firstResponse)).toEqual(shown(without.responses[0]!));
  const stored = p.body.t !== 'throw' && firstResponse.status < 500;
  if (!stored) {
    // Released: the retry runs again and answers the same.
    expect(replay.headers.some(([h]) => h === 'idempotent-replayed')).toBe(false);
    expect(shown(replay)).toEqual(shown(firstResponse));
  } else if (size(p.body) > MAX) {
    expect(replay.status).toBe(422);
    expect(JSON.parse(replay.body.toString())).toMatchObject({ error: 'idempotency_key_used', replayable: false });
  } else {
    expect(replay.headers).toContainEqual(['idempotent-replayed', 'true']);
    expect(shown(replay)).toEqual(shown(firstResponse));
  }
}

describeCaptureProperty({ frameworks: [['Koa 3', Koa], ['Koa 2', Koa2 as unknown as typeof Koa]], server, program, programs, numRuns: NUM_RUNS, check });
