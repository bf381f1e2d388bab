/**
 * Hostile input over raw sockets: bytes a careless or malicious client can send, through every adapter with
 * every guard mounted. Whatever arrives, the answer is never a 5xx; an error answer that bulwark (or the
 * framework in front of it) gives carries the documented JSON body with a stable code; and the server still
 * answers the next request.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { nativeHeader, type RunningServer, startServer, VARIANTS, type Variant } from '../support/matrix.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes `bytes` on a fresh connection and reads until `count` final (non-1xx) responses arrived, the server
 * closed, or it went quiet for `quietMs`.
 */
function raw(port: number, bytes: Buffer | string, count = 1, quietMs = 2000): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAll(Buffer.concat(chunks)));
    };
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    };
    socket.on('connect', () => {
      socket.write(bytes);
      idle();
    });
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const sofar = tryParse(Buffer.concat(chunks));
      if (sofar && sofar.filter((r) => r.status >= 200).length >= count) finish();
      else idle();
    });
    socket.on('end', finish);
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? finish() : reject(err)));
  });
}

/** The responses in `data`, or undefined while the last one is incomplete. */
function tryParse(data: Buffer): RawResponse[] | undefined {
  try {
    return parseAll(data);
  } catch {
    return undefined;
  }
}

/** Splits a byte stream into HTTP/1.1 responses (Content-Length or chunked framing). */
function parseAll(data: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = data;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) throw new Error(`an incomplete response head: ${JSON.stringify(rest.toString('latin1').slice(0, 200))}`);
    const head = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(head[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    rest = rest.subarray(end + 4);
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd === -1) throw new Error('an incomplete chunked body');
        const size = Number.parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        rest = rest.subarray(lineEnd + 2);
        if (size === 0) {
          rest = rest.subarray(rest.indexOf('\r\n') + 2);
          break;
        }
        parts.push(rest.subarray(0, size));
        rest = rest.subarray(size + 2);
      }
      body = Buffer.concat(parts);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) throw new Error(`a body shorter than its Content-Length (${rest.length} of ${length})`);
      body = rest.subarray(0, length);
      rest = rest.subarray(length);
    }
    out.push({ status, headers, body: body.toString('utf8') });
  }
  return out;
}

function request(method: string, path: string, headers: Record<string, string | string[]>, body = ''): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of Object.entries(headers)) {
    for (const line of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${line}`);
  }
  if (body !== '' && !Object.keys(headers).some((name) => name.toLowerCase() === 'transfer-encoding')) {
    lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

const JSON_TYPE = { 'Content-Type': 'application/json' };
const key = (k: string) => ({ ...JSON_TYPE, 'Idempotency-Key': k });
let serial = 0;
const fresh = () => ({ ...JSON_TYPE, 'Idempotency-Key': `hostile-${++serial}` });

/** Each case: the raw request, and whether a 2xx is acceptable (otherwise a documented 4xx is expected). */
const CASES: Array<{ name: string; bytes: () => Buffer; ok2xx?: boolean }> = [
  { name: 'a malformed percent-encoding in the path', bytes: () => request('GET', '/v1/%zz%E0%A4', {}) },
  { name: 'a NUL escape and dot segments in the path', bytes: () => request('GET', '/v1/../%00/..%2f', {}) },
  { name: 'a malformed query on a keyed POST', bytes: () => request('POST', '/v1/messages?a=%zz&&=&%', fresh(), '{"to":"x"}'), ok2xx: true },
  { name: 'obs-text bytes in the Idempotency-Key', bytes: () => request('POST', '/v1/messages', key('\xff\xfe\x80key'), '{"to":"x"}'), ok2xx: true },
  { name: 'an Idempotency-Key of 8,000 characters', bytes: () => request('POST', '/v1/messages', key('k'.repeat(8000)), '{"to":"x"}') },
  { name: 'two Idempotency-Key lines', bytes: () => request('POST', '/v1/messages', { ...JSON_TYPE, 'Idempotency-Key': ['a1', 'a2'] }, '{}') },
  { name: 'an empty Idempotency-Key', bytes: () => request('POST', '/v1/messages', key(''), '{}') },
  { name: 'a tab-only Idempotency-Key', bytes: () => request('POST', '/v1/messages', key('\t'), '{}') },
  { name: 'a truncated JSON body', bytes: () => request('POST', '/v1/messages', fresh(), '{"to":') },
  { name: 'a JSON body of a bare string', bytes: () => request('POST', '/v1/messages', fresh(), '"text"'), ok2xx: true },
  { name: 'a JSON body of null', bytes: () => request('POST', '/v1/messages', fresh(), 'null'), ok2xx: true },
  { name: 'JSON nested 400 levels', bytes: () => request('POST', '/v1/messages', fresh(), `${'['.repeat(400)}${']'.repeat(400)}`), ok2xx: true },
  { name: 'a number of 400 digits', bytes: () => request('POST', '/v1/messages', fresh(), `{"n":${'9'.repeat(400)}}`), ok2xx: true },
  { name: 'invalid UTF-8 in a JSON string', bytes: () => request('POST', '/v1/messages', fresh(), '{"to":"\xff\xfe"}'), ok2xx: true },
  { name: 'a lone surrogate escape in JSON', bytes: () => request('POST', '/v1/messages', fresh(), '{"to":"\\ud800"}'), ok2xx: true },
  { name: '__proto__ keys in JSON', bytes: () => request('POST', '/v1/messages', fresh(), '{"__proto__":{"x":1},"constructor":{"prototype":{}}}'), ok2xx: true },
  {
    name: 'a gzip Content-Encoding that lies',
    bytes: () => request('POST', '/v1/messages', { ...fresh(), 'Content-Encoding': 'gzip' }, '{"to":"x"}'),
  },
  {
    name: 'an unknown Content-Encoding',
    bytes: () => request('POST', '/v1/messages', { ...fresh(), 'Content-Encoding': 'x-rot13' }, '{"to":"x"}'),
  },
  {
    name: 'a charset no parser knows',
    bytes: () => request('POST', '/v1/messages', { 'Content-Type': 'application/json; charset=x-unknown', 'Idempotency-Key': `cs-${++serial}` }, '{"to":"x"}'),
    // Express's parser refuses the charset (422); Koa's and the fetch handler's read the bytes as UTF-8.
    ok2xx: true,
  },
  {
    name: 'a chunked body with a bad chunk size',
    bytes: () => request('POST', '/v1/messages', { ...fresh(), 'Transfer-Encoding': 'chunked' }, 'zz\r\n{}\r\n0\r\n\r\n'),
  },
  {
    name: 'a chunked keyed body',
    bytes: () => request('POST', '/v1/messages', { ...fresh(), 'Transfer-Encoding': 'chunked' }, '5\r\n{"to"\r\n5\r\n:"x"}\r\n0\r\n\r\n'),
    ok2xx: true,
  },
  { name: 'a spoofed X-Forwarded-For from an untrusted peer', bytes: () => request('GET', '/ok', { 'X-Forwarded-For': '10.0.0.1, garbage, ::1%eth0' }), ok2xx: true },
  { name: 'a Forwarded header with garbage', bytes: () => request('GET', '/ok', { Forwarded: 'for="[::1', 'X-Forwarded-For': ['', ',,,'] }), ok2xx: true },
  { name: 'an Authorization of 6,000 characters', bytes: () => request('POST', '/v1/messages', { ...fresh(), Authorization: `Bearer ${'x'.repeat(6000)}` }, '{}'), ok2xx: true },
  { name: 'an account header with obs-text', bytes: () => request('POST', '/v1/messages', { ...fresh(), 'X-Account': '\xe9\xff' }, '{}'), ok2xx: true },
  { name: 'Expect: 100-continue on a keyed POST', bytes: () => request('POST', '/v1/messages', { ...fresh(), Expect: '100-continue' }, '{"to":"x"}'), ok2xx: true },
  { name: 'a keyed PATCH without a body', bytes: () => request('PATCH', '/v1/messages', { 'Idempotency-Key': `p-${++serial}` }), ok2xx: true },
  { name: 'a keyed POST to an unknown route', bytes: () => request('POST', '/v1/nowhere', fresh(), '{}') },
  { name: 'a form body where JSON is parsed', bytes: () => request('POST', '/v1/messages', { 'Content-Type': 'application/x-www-form-urlencoded', 'Idempotency-Key': `f-${++serial}` }, 'a=1&b=%zz'), ok2xx: true },
  { name: 'a body of 64 KiB with a key', bytes: () => request('POST', '/v1/messages', fresh(), `{"to":"${'x'.repeat(65_536)}"}`) },
];

describe.each(VARIANTS)('hostile input on %s', (variant: Variant) => {
  let server: RunningServer;
  const failures: unknown[] = [];
  const onFailure = (err: unknown) => failures.push(err);

  beforeAll(async () => {
    process.on('unhandledRejection', onFailure);
    process.on('uncaughtException', onFailure);
    const store = new MemoryStore();
    const header = (request: any, name: string): string | undefined =>
      variant === 'fetch'
        ? (request.headers.get(name) ?? undefined)
        : variant === 'hono'
          ? request.req.header(name)
          : variant.startsWith('koa')
            ? request.get(name) || undefined
            : variant.startsWith('fastify')
              ? nativeHeader(variant)(request, name)
              : request.get(name);
    server = await startServer(variant, {
      errors: { onError: () => {} },
      guards: [
        { kind: 'ipAllowlist', options: { allow: ['loopback'] } },
        { kind: 'rateLimit', options: { limit: 10_000, windowMs: 60_000, store } },
        { kind: 'spendCap', options: { daily: 1_000_000, key: (request: unknown) => header(request, 'x-account') ?? 'anon', store } },
        { kind: 'idempotency', options: { store } },
      ],
      routes: [
        { method: 'GET', path: '/ok', handler: () => ({ json: { ok: true } }) },
        { method: 'POST', path: '/v1/messages', handler: (req) => ({ status: 201, json: { id: `msg_${++serial}`, got: typeof req.body } }) },
        { method: 'PATCH', path: '/v1/messages', handler: () => ({ status: 200, json: { patched: true } }) },
      ],
    });
  });

  afterAll(async () => {
    await server?.close();
    process.off('unhandledRejection', onFailure);
    process.off('uncaughtException', onFailure);
  });

  it.each(CASES)('$name', async ({ bytes, ok2xx }) => {
    const responses = await raw(server.port, bytes());
    // Node's own parser may refuse the bytes with a bare 400 and close: that is not an application answer.
    for (const response of responses) {
      expect(response.status, response.body).toBeLessThan(500);
      const nodeParserRefusal = response.status === 400 && response.body === '' && response.headers.connection === 'close';
      if (response.status === 100 || nodeParserRefusal) continue;
      if (response.status >= 200 && response.status < 300) {
        expect(ok2xx, `a ${response.status} for a request that must be refused: ${response.body}`).toBe(true);
        continue;
      }
      expect(response.headers['content-type'], response.body).toMatch(/^application\/json/);
      const body = JSON.parse(response.body) as { error?: unknown; message?: unknown };
      expect(typeof body.error).toBe('string');
      expect(typeof body.message).toBe('string');
      expect(response.body).not.toMatch(/at .*\.(ts|js):\d+|node_modules|\/work\//);
    }
    const after = await raw(server.port, request('GET', '/ok', {}));
    expect(after.map((r) => r.status)).toEqual([200]);
    expect(failures).toEqual([]);
  });

  it('two pipelined keyed POSTs on one connection: a run and its replay', async () => {
    const k = key(`pipelined-${variant}`);
    const one = request('POST', '/v1/messages', k, '{"to":"x"}');
    const responses = await raw(server.port, Buffer.concat([one, one]), 2);
    expect(responses.map((r) => r.status)).toEqual([201, 201]);
    expect(responses[1]!.headers['idempotent-replayed']).toBe('true');
    expect(responses[1]!.body).toBe(responses[0]!.body);
    expect(failures).toEqual([]);
  });
});
