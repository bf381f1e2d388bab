import { pipeline, Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, expect } from 'vitest';
import { ApiError } from '../../src/errors/api-error.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { type AppSpec, matrix, nativeHeader, type Result, type RouteSpec } from '../support/matrix.js';

const quiet = { onError: () => {} };
const KEY = { 'idempotency-key': 'order-7f3a' };
const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/** A fresh app per variant: the counter proves whether a handler ran again. */
function appWith(routes: (count: () => number) => RouteSpec[], options: object | ((variant: string) => object) = {}): () => AppSpec {
  return () => {
    let n = 0;
    const count = () => ++n;
    return {
      errors: quiet,
      guards: [
        {
          kind: 'idempotency',
          options: (variant) => ({ store: new MemoryStore(), ...(typeof options === 'function' ? options(variant) : options) }),
        },
      ],
      routes: routes(count),
    };
  };
}

function expectReplayOf(first: Result | undefined, replay: Result | undefined): void {
  expect(first).toBeDefined();
  expect(replay).toBeDefined();
  expect(first!.headers['idempotent-replayed']).toBeUndefined();
  expect(replay!.headers['idempotent-replayed']).toBe('true');
  expect(replay!.status).toBe(first!.status);
  expect(replay!.body).toBe(first!.body);
  const { 'idempotent-replayed': _marker, ...rest } = replay!.headers;
  const { 'set-cookie': _cookie, ...firstRest } = first!.headers;
  expect(rest).toEqual(firstRest);
}

function errorOf(result: Result | undefined): string {
  return (JSON.parse(result!.body) as { error: string }).error;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const post = (path: string, body: string, headers: Record<string, string | string[]> = KEY) => ({
  method: 'POST',
  path,
  headers,
  body,
});

matrix(
  'idempotency: the first request runs; a retry replays status, headers and body; JSON key order does not matter',
  appWith((count) => [
    {
      method: 'POST',
      path: '/v1/messages',
      handler: (req) => {
        const n = count();
        return {
          status: 201,
          headers: { location: `/v1/messages/msg_${n}`, etag: '"v1"', 'x-request-cost': '3', 'set-cookie': 'sid=abc' },
          json: { id: `msg_${n}`, to: (req.body as { to?: string }).to },
        };
      },
    },
  ]),
  async ({ send }) => {
    const body = JSON.stringify({ to: '+15550100', text: 'hi', tags: ['a', 'b'] });
    const first = await send(post('/v1/messages', body));
    const replay = await send(post('/v1/messages', body));
    const reordered = await send(post('/v1/messages', JSON.stringify({ tags: ['a', 'b'], text: 'hi', to: '+15550100' })));
    const otherKey = await send(post('/v1/messages', body, { 'idempotency-key': 'order-7f3b' }));
    const noKey = await send(post('/v1/messages', body, {}));
    return [first, replay, reordered, otherKey, noKey];
  },
  ([first, replay, reordered, otherKey, noKey]) => {
    expect(first!.status).toBe(201);
    expect(first!.headers['set-cookie']).toBe('sid=abc');
    expect(first!.headers.location).toBe('/v1/messages/msg_1');
    expectReplayOf(first, replay);
    expect(replay!.headers['set-cookie']).toBeUndefined();
    expectReplayOf(first, reordered);
    expect(otherKey!.headers.location).toBe('/v1/messages/msg_2');
    expect(noKey!.headers.location).toBe('/v1/messages/msg_3');
  },
);

matrix(
  'idempotency: the same key with another body, array order, method, path or query is a 422 mismatch',
  appWith((count) => {
    const handler = () => ({ status: 201, json: { n: count() } });
    return [
      { method: 'POST', path: '/v1/messages', handler },
      { method: 'PATCH', path: '/v1/messages', handler },
      { method: 'POST', path: '/v1/other', handler },
    ];
  }),
  async ({ send }) => {
    const body = JSON.stringify({ to: ['+1', '+2'] });
    const first = await send(post('/v1/messages', body));
    return [
      first,
      await send(post('/v1/messages', JSON.stringify({ to: ['+1', '+3'] }))),
      await send(post('/v1/messages', JSON.stringify({ to: ['+2', '+1'] }))),
      await send({ ...post('/v1/messages', body), method: 'PATCH' }),
      await send(post('/v1/other', body)),
      await send(post('/v1/messages?dry=1', body)),
      await send(post('/v1/messages', body)),
    ];
  },
  ([first, body, order, method, path, query, replay]) => {
    expect(first!.status).toBe(201);
    for (const r of [body, order, method, path, query]) {
      expect(r!.status).toBe(422);
      expect(errorOf(r)).toBe('idempotency_key_mismatch');
      expect(r!.headers['idempotent-replayed']).toBeUndefined();
    }
    expectReplayOf(first, replay);
    expect(JSON.parse(replay!.body)).toEqual({ n: 1 });
  },
);

matrix(
  'idempotency: bad keys are 422 invalid_request; GET passes untouched; a required key must be present',
  appWith(
    (count) => [
      { method: 'POST', path: '/v1/messages', handler: () => ({ status: 201, json: { n: count() } }) },
      { method: 'GET', path: '/v1/messages', handler: () => ({ json: { n: count() } }) },
    ],
    { required: true },
  ),
  async ({ send }) => {
    const body = '{"a":1}';
    return [
      await send(post('/v1/messages', body, { 'idempotency-key': '' })),
      await send(post('/v1/messages', body, { 'idempotency-key': 'k'.repeat(256) })),
      await send(post('/v1/messages', body, { 'idempotency-key': 'a\tb' })),
      await send(post('/v1/messages', body, {})),
      await send(post('/v1/messages', body, { 'idempotency-key': 'k'.repeat(255) })),
      await send({ method: 'GET', path: '/v1/messages', headers: { 'idempotency-key': 'g' } }),
      await send({ method: 'GET', path: '/v1/messages', headers: { 'idempotency-key': 'g' } }),
    ];
  },
  ([empty, long, control, missing, longest, get1, get2]) => {
    for (const r of [empty, long, control, missing]) {
      expect(r!.status).toBe(422);
      expect(errorOf(r)).toBe('invalid_request');
    }
    expect(long!.body).not.toContain('kkkk');
    expect(longest!.status).toBe(201);
    expect(JSON.parse(get1!.body)).toEqual({ n: 2 });
    expect(JSON.parse(get2!.body)).toEqual({ n: 3 });
    expect(get2!.headers['idempotent-replayed']).toBeUndefined();
  },
);

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened, started: 0 };
}

{
  let g = gate();
  matrix(
    'idempotency: in flight, a duplicate gets 409 idempotency_conflict with Retry-After, then the replay',
    () => {
      g = gate();
      return appWith((count) => [
        {
          method: 'POST',
          path: '/v1/messages',
          handler: async () => {
            g.started++;
            await g.opened;
            return { status: 202, json: { n: count() } };
          },
        },
      ])();
    },
    async ({ send }) => {
      const firstP = send(post('/v1/messages', '{"a":1}'));
      await until(() => g.started === 1, 'the first request to start');
      const conflict = await send(post('/v1/messages', '{"a":1}'));
      const mismatch = await send(post('/v1/messages', '{"a":2}'));
      g.open();
      const first = await firstP;
      const replay = await send(post('/v1/messages', '{"a":1}'));
      return [first, conflict, mismatch, replay];
    },
    ([first, conflict, mismatch, replay]) => {
      expect(first!.status).toBe(202);
      expect(conflict!.status).toBe(409);
      expect(errorOf(conflict)).toBe('idempotency_conflict');
      expect(conflict!.headers['retry-after']).toBe('1');
      expect(errorOf(mismatch)).toBe('idempotency_key_mismatch');
      expectReplayOf(first, replay);
    },
  );
}

{
  let g = gate();
  matrix(
    'idempotency: wait mode waits for the first request, then replays',
    () => {
      g = gate();
      return appWith(
        (count) => [
          {
            method: 'POST',
            path: '/v1/messages',
            handler: async () => {
              g.started++;
              await g.opened;
              return { status: 201, json: { n: count() } };
            },
          },
        ],
        { wait: 5000 },
      )();
    },
    async ({ send }) => {
      const firstP = send(post('/v1/messages', '{"a":1}'));
      await until(() => g.started === 1, 'the first request to start');
      const waitingP = send(post('/v1/messages', '{"a":1}'));
      await sleep(60);
      g.open();
      return [await firstP, await waitingP];
    },
    ([first, waited]) => {
      expect(first!.status).toBe(201);
      expectReplayOf(first, waited);
    },
  );
}

matrix(
  'idempotency: a 5xx or a thrown error releases the key, so a retry runs again; a 4xx is replayed',
  appWith((count) => {
    let failures = 0;
    let throws = 0;
    return [
      {
        method: 'POST',
        path: '/flaky',
        handler: () => (++failures === 1 ? { status: 503, json: { retry: true } } : { status: 201, json: { n: count() } }),
      },
      {
        method: 'POST',
        path: '/throws',
        handler: () => {
          if (++throws === 1) throw new Error('database went away');
          return { status: 201, json: { n: count() } };
        },
      },
      {
        method: 'POST',
        path: '/rejects',
        handler: () => ({ status: 402, json: { error: 'insufficient_balance', n: count() } }),
      },
    ];
  }),
  async ({ send }) => {
    const key = (k: string) => ({ 'idempotency-key': k });
    return [
      await send(post('/flaky', '{}', key('f'))),
      await send(post('/flaky', '{}', key('f'))),
      await send(post('/flaky', '{}', key('f'))),
      await send(post('/throws', '{}', key('t'))),
      await send(post('/throws', '{}', key('t'))),
      await send(post('/rejects', '{}', key('r'))),
      await send(post('/rejects', '{}', key('r'))),
    ];
  },
  ([f1, f2, f3, t1, t2, r1, r2]) => {
    expect(f1!.status).toBe(503);
    expect(f2!.status).toBe(201);
    expect(f2!.headers['idempotent-replayed']).toBeUndefined();
    expectReplayOf(f2, f3);
    expect(t1!.status).toBe(500);
    expect(t2!.status).toBe(201);
    expect(t2!.headers['idempotent-replayed']).toBeUndefined();
    expect(r1!.status).toBe(402);
    expectReplayOf(r1, r2);
  },
);

matrix(
  'idempotency: a thrown 4xx ApiError is answered by the error handler and releases the key',
  appWith((count) => [
    {
      method: 'POST',
      path: '/v1/messages',
      handler: () => {
        throw new ApiError('no_valid_recipients', { details: { attempt: count() } });
      },
    },
  ]),
  async ({ send }) => [
    await send(post('/v1/messages', '{}', { 'idempotency-key': 'thrown-4xx' })),
    await send(post('/v1/messages', '{}', { 'idempotency-key': 'thrown-4xx' })),
  ],
  ([first, retry]) => {
    expect(first!.status).toBe(422);
    expect(errorOf(first)).toBe('no_valid_recipients');
    expect(JSON.parse(first!.body).attempt).toBe(1);
    // Thrown errors are not stored: the retry runs the handler again.
    expect(retry!.status).toBe(422);
    expect(retry!.headers['idempotent-replayed']).toBeUndefined();
    expect(JSON.parse(retry!.body).attempt).toBe(2);
  },
);

/** A body stream that sends one chunk, then fails (a file or an upstream that broke mid-response). */
function failingNode(): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push('s-1;');
      } else this.destroy(new Error('upstream broke mid-response'));
    },
  });
}

function streamedRoutes(count: () => number): RouteSpec[] {
  return [
    {
      method: 'POST',
      path: '/streamed',
      native: {
        express: (_req: any, res: any) => {
          const n = count();
          res.statusCode = 201;
          res.setHeader('content-type', TEXT);
          pipeline(n === 1 ? failingNode() : Readable.from(['s-1;', `s-${n}`]), res, () => {});
        },
        koa: (ctx: any) => {
          const n = count();
          ctx.status = 201;
          ctx.type = TEXT;
          ctx.body = n === 1 ? failingNode() : Readable.from(['s-1;', `s-${n}`]);
        },
        fastify: (_request: any, reply: any) => {
          const n = count();
          return reply.code(201).type(TEXT).send(n === 1 ? failingNode() : Readable.from(['s-1;', `s-${n}`]));
        },
        fetch: () => {
          const n = count();
          const chunks = n === 1 ? ['s-1;'] : ['s-1;', `s-${n}`];
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              const next = chunks.shift();
              if (next !== undefined) controller.enqueue(new TextEncoder().encode(next));
              else if (n === 1) controller.error(new Error('upstream broke mid-response'));
              else controller.close();
            },
          });
          return new Response(body, { status: 201, headers: { 'content-type': TEXT } });
        },
      },
    },
  ];
}

matrix(
  'idempotency: a response body stream that fails midway releases the key; the retry runs again',
  appWith(streamedRoutes),
  async ({ send }) => {
    // The first response cannot be whole: where the status was already sent the connection is cut,
    // elsewhere the error handler answers 500. Either way it must not be kept for replay.
    const first = await send(post('/streamed', '{}')).catch(() => undefined);
    if (first) expect(first.status === 500 || first.aborted, `first: ${first.status} ${first.body}`).toBe(true);
    return [await send(post('/streamed', '{}')), await send(post('/streamed', '{}'))];
  },
  ([retry, replay]) => {
    expect(retry!.status).toBe(201);
    expect(retry!.body).toBe('s-1;s-2');
    expect(retry!.headers['idempotent-replayed']).toBeUndefined();
    expectReplayOf(retry, replay);
  },
);

matrix(
  'idempotency: a response over maxResponseBytes is sent whole, then never replayed nor run again',
  appWith(
    (count) => [
      {
        method: 'POST',
        path: '/big',
        handler: () => ({ status: 201, text: `${count()}:${'x'.repeat(5000)}` }),
      },
    ],
    { maxResponseBytes: 1024 },
  ),
  async ({ send }) => [await send(post('/big', '{}')), await send(post('/big', '{}')), await send(post('/big', '{}', { 'idempotency-key': 'fresh' }))],
  ([first, retry, fresh]) => {
    expect(first!.status).toBe(201);
    expect(first!.body).toBe(`1:${'x'.repeat(5000)}`);
    expect(retry!.status).toBe(422);
    expect(errorOf(retry)).toBe('idempotency_key_used');
    expect((JSON.parse(retry!.body) as { replayable?: boolean }).replayable).toBe(false);
    expect(retry!.headers['retry-after']).toBeUndefined();
    expect(fresh!.body.startsWith('2:')).toBe(true);
  },
);

matrix(
  'idempotency: keys are scoped per account; one account never replays another account\'s response',
  appWith(
    (count) => [
      {
        method: 'POST',
        path: '/v1/messages',
        handler: (req) => ({ status: 201, json: { account: req.header('x-account'), n: count() } }),
      },
    ],
    (variant) => {
      const header = nativeHeader(variant as 'express5');
      return { scope: (request: unknown) => header(request, 'x-account') };
    },
  ),
  async ({ send }) => {
    const as = (account: string) => ({ ...KEY, 'x-account': account });
    return [
      await send(post('/v1/messages', '{}', as('acct_a'))),
      await send(post('/v1/messages', '{}', as('acct_b'))),
      await send(post('/v1/messages', '{}', as('acct_a'))),
    ];
  },
  ([a, b, a2]) => {
    expect(JSON.parse(a!.body)).toEqual({ account: 'acct_a', n: 1 });
    expect(JSON.parse(b!.body)).toEqual({ account: 'acct_b', n: 2 });
    expect(b!.headers['idempotent-replayed']).toBeUndefined();
    expectReplayOf(a, a2);
  },
);

matrix(
  'idempotency: by default, keys are scoped by the Authorization header',
  appWith((count) => [{ method: 'POST', path: '/v1/messages', handler: () => ({ status: 201, json: { n: count() } }) }]),
  async ({ send }) => [
    await send(post('/v1/messages', '{}', { ...KEY, authorization: 'Bearer one' })),
    await send(post('/v1/messages', '{}', { ...KEY, authorization: 'Bearer two' })),
    await send(post('/v1/messages', '{}', { ...KEY, authorization: 'Bearer one' })),
  ],
  ([one, two, again]) => {
    expect(JSON.parse(one!.body)).toEqual({ n: 1 });
    expect(JSON.parse(two!.body)).toEqual({ n: 2 });
    expectReplayOf(one, again);
  },
);

{
  let state = { started: 0, done: 0, release: gate() };
  matrix(
    'idempotency: a client that disconnects mid-handler still has its result stored; the retry replays it',
    () => {
      state = { started: 0, done: 0, release: gate() };
      return appWith((count) => [
        {
          method: 'POST',
          path: '/v1/messages',
          handler: async () => {
            state.started++;
            await state.release.opened;
            const n = count();
            setTimeout(() => state.done++, 20);
            return { status: 201, json: { n } };
          },
        },
      ])();
    },
    async ({ send }) => {
      const gone = send({ ...post('/v1/messages', '{"a":1}'), timeoutMs: 80 }).then(
        () => 'answered',
        () => 'disconnected',
      );
      await until(() => state.started === 1, 'the handler to start');
      expect(await gone).toBe('disconnected');
      state.release.open();
      await until(() => state.done === 1, 'the handler to finish');
      return [await send(post('/v1/messages', '{"a":1}'))];
    },
    ([retry]) => {
      expect(retry!.status).toBe(201);
      expect(retry!.headers['idempotent-replayed']).toBe('true');
      expect(JSON.parse(retry!.body)).toEqual({ n: 1 });
    },
  );
}

const downRedis = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
downRedis.on('error', () => {});
afterAll(() => {
  downRedis.disconnect();
});

matrix(
  'idempotency: with the store down, 503 service_unavailable within the bound; the handler never runs',
  appWith((count) => [{ method: 'POST', path: '/v1/messages', handler: () => ({ status: 201, json: { n: count() } }) }], {
    store: new RedisStore(downRedis, { commandTimeoutMs: 150 }),
    storeTimeoutMs: 300,
  }),
  async ({ send }) => {
    const started = Date.now();
    const down = await send(post('/v1/messages', '{}'));
    const elapsed = Date.now() - started;
    const noKey = await send(post('/v1/messages', '{}', {}));
    expect(elapsed).toBeLessThan(3000);
    return [down, noKey];
  },
  ([down, noKey]) => {
    expect(down!.status).toBe(503);
    expect(errorOf(down)).toBe('service_unavailable');
    expect(JSON.parse(noKey!.body)).toEqual({ n: 1 });
  },
);

// Every way each framework writes a response. Route i gives the same status, headers and bytes on every
// adapter, written a different way per framework; each is sent twice with one key and must replay.
const WRITE_PATHS = ['json', 'send', 'buffer', 'end', 'chunked', 'pipe', 'status', 'redirect', 'object'] as const;

function writePathRoutes(count: () => number): RouteSpec[] {
  const json = (n: number) => JSON.stringify({ ok: true, n });
  return WRITE_PATHS.map((name) => ({
    method: 'POST' as const,
    path: `/w/${name}`,
    native: {
      express: (_req: any, res: any) => {
        const n = count();
        res.setHeader('x-app', name);
        switch (name) {
          case 'json':
          case 'object':
            return res.status(201).json({ ok: true, n });
          case 'send':
            return res.status(201).type('text').send(`hello ${n}`);
          case 'buffer':
            return res.status(201).send(Buffer.from([0, 255, n, 10, 13]));
          case 'end':
            res.statusCode = 201;
            res.setHeader('content-type', TEXT);
            return res.end(`ended ${n}`);
          case 'chunked':
            res.statusCode = 201;
            res.setHeader('content-type', TEXT);
            res.write('part-1;');
            res.write(Buffer.from('part-2;'));
            setTimeout(() => res.end(`part-${n}`), 5);
            return;
          case 'pipe':
            res.statusCode = 201;
            res.setHeader('content-type', TEXT);
            return Readable.from(['piped-1;', 'piped-2;', `piped-${n}`]).pipe(res);
          case 'status':
            return res.sendStatus(201);
          case 'redirect':
            return res.redirect(303, `/v1/messages/${n}`);
        }
      },
      koa: (ctx: any) => {
        const n = count();
        ctx.set('x-app', name);
        ctx.status = name === 'redirect' ? 303 : 201;
        switch (name) {
          case 'json':
            ctx.body = Buffer.from(json(n));
            ctx.type = JSON_TYPE;
            return;
          case 'object':
            ctx.body = { ok: true, n };
            return;
          case 'send':
          case 'end':
            ctx.body = name === 'send' ? `hello ${n}` : `ended ${n}`;
            return;
          case 'buffer':
            ctx.body = Buffer.from([0, 255, n, 10, 13]);
            return;
          case 'chunked':
          case 'pipe': {
            const p = name === 'pipe' ? 'piped' : 'part';
            ctx.type = TEXT;
            ctx.body = Readable.from([`${p}-1;`, `${p}-2;`, `${p}-${n}`]);
            return;
          }
          case 'status':
            ctx.body = 'Created';
            return;
          case 'redirect':
            ctx.set('location', `/v1/messages/${n}`);
            ctx.set('vary', 'Accept');
            ctx.body = `See Other. Redirecting to /v1/messages/${n}`;
            return;
        }
      },
      // Fastify's own write paths; 'end' and 'chunked' write to a hijacked reply's Node.js response.
      fastify: (_request: any, reply: any) => {
        const n = count();
        reply.header('x-app', name);
        switch (name) {
          case 'json':
            return reply.code(201).type(JSON_TYPE).send(json(n));
          case 'object':
            return reply.code(201).send({ ok: true, n });
          case 'send':
            return reply.code(201).type(TEXT).send(`hello ${n}`);
          case 'buffer':
            return reply.code(201).send(Buffer.from([0, 255, n, 10, 13]));
          case 'end':
          case 'chunked': {
            reply.hijack();
            const res = reply.raw;
            res.statusCode = 201;
            res.setHeader('x-app', name);
            res.setHeader('content-type', TEXT);
            if (name === 'end') return res.end(`ended ${n}`);
            res.write('part-1;');
            res.write(Buffer.from('part-2;'));
            setTimeout(() => res.end(`part-${n}`), 5);
            return;
          }
          case 'pipe':
            return reply.code(201).type(TEXT).send(Readable.from(['piped-1;', 'piped-2;', `piped-${n}`]));
          case 'status':
            return reply.code(201).type(TEXT).send('Created');
          case 'redirect':
            // Express's res.redirect writes a body; Fastify's reply.redirect none (see test/fastify).
            return reply.code(303).header('location', `/v1/messages/${n}`).header('vary', 'Accept').type(TEXT).send(`See Other. Redirecting to /v1/messages/${n}`);
        }
      },
      fetch: () => {
        const n = count();
        const headers: Record<string, string> = { 'x-app': name, 'content-type': TEXT };
        const stream = (parts: string[]) =>
          new ReadableStream<Uint8Array>({
            start(controller) {
              for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
              controller.close();
            },
          });
        switch (name) {
          case 'json':
          case 'object':
            return new Response(json(n), { status: 201, headers: { ...headers, 'content-type': JSON_TYPE } });
          case 'send':
            return new Response(`hello ${n}`, { status: 201, headers });
          case 'end':
            return new Response(new TextEncoder().encode(`ended ${n}`), { status: 201, headers });
          case 'buffer':
            return new Response(new Uint8Array([0, 255, n, 10, 13]), {
              status: 201,
              headers: { ...headers, 'content-type': 'application/octet-stream' },
            });
          case 'chunked':
            return new Response(stream(['part-1;', 'part-2;', `part-${n}`]), { status: 201, headers });
          case 'pipe':
            return new Response(stream(['piped-1;', 'piped-2;', `piped-${n}`]), { status: 201, headers });
          case 'status':
            return new Response('Created', { status: 201, headers });
          case 'redirect':
            return new Response(`See Other. Redirecting to /v1/messages/${n}`, {
              status: 303,
              headers: { ...headers, location: `/v1/messages/${n}`, vary: 'Accept' },
            });
        }
      },
    },
  }));
}

matrix(
  'idempotency: every write path is captured and replayed byte for byte',
  () => ({ ...appWith(writePathRoutes)(), parseJson: false }),
  async ({ send }) => {
    const results: Result[] = [];
    for (const name of WRITE_PATHS) {
      const headers = { 'idempotency-key': `key-${name}` };
      results.push(await send(post(`/w/${name}`, 'x', headers)));
      results.push(await send(post(`/w/${name}`, 'x', headers)));
    }
    return results;
  },
  (results) => {
    WRITE_PATHS.forEach((name, i) => {
      const first = results[i * 2];
      const replay = results[i * 2 + 1];
      expect(first!.headers['x-app'], name).toBe(name);
      expect(first!.body.length, name).toBeGreaterThan(0);
      expectReplayOf(first, replay);
    });
    expect(results[14]!.headers.location).toBe('/v1/messages/8');
    expect(results[14]!.status).toBe(303);
  },
);
