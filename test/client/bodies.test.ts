import { afterAll, describe, expect, it } from 'vitest';
import { BodyNotReplayableError, createFetch } from '../../src/client/index.js';
import { serverPool, settle } from './helpers.js';

const servers = serverPool();
afterAll(() => servers.closeAll());

const client = () => createFetch({ baseDelayMs: 1, maxDelayMs: 2, retryBudget: false, breaker: false });

const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);

const kinds: Array<[string, () => BodyInit, string | undefined]> = [
  ['a string', () => 'héllo wörld', 'héllo wörld'],
  ['JSON text', () => JSON.stringify({ to: ['+15550001'], text: 'Hi ✓' }), '{"to":["+15550001"],"text":"Hi ✓"}'],
  ['a Blob', () => new Blob(['blob ', 'parts'], { type: 'text/x-test' }), 'blob parts'],
  ['an ArrayBuffer', () => bytes.slice().buffer, undefined],
  ['a Uint8Array view of a larger buffer', () => new Uint8Array(bytes.buffer.slice(0), 10, 50), undefined],
  ['a Float64Array', () => new Float64Array([1.5, -2.25, Math.PI]), undefined],
  ['a DataView', () => new DataView(bytes.slice().buffer, 5, 20), undefined],
  ['URLSearchParams', () => new URLSearchParams({ to: '+1 555', text: 'a&b=c' }), 'to=%2B1+555&text=a%26b%3Dc'],
  [
    'FormData with a file',
    () => {
      const form = new FormData();
      form.set('text', 'hello');
      form.set('file', new Blob([bytes], { type: 'application/octet-stream' }), 'data.bin');
      return form;
    },
    undefined,
  ],
];

describe('request bodies', () => {
  it.each(kinds)('replays %s byte-identical on every attempt', async (_name, make, text) => {
    const server = await servers.start([{ status: 503 }, { reset: true }, {}]);
    const res = await client()(server.url, { method: 'POST', body: make() });
    expect(res.status).toBe(200);
    expect(server.hits).toHaveLength(3);
    const [first, ...rest] = server.hits;
    expect(first!.body.length).toBeGreaterThan(0);
    for (const hit of rest) {
      expect(hit.body.equals(first!.body)).toBe(true);
      expect(hit.headers['content-type']).toBe(first!.headers['content-type']);
      expect(hit.headers['content-length']).toBe(String(first!.body.length));
    }
    if (text !== undefined) expect(first!.body.toString('utf8')).toBe(text);
    // What plain fetch sends for the same value: same bytes (FormData aside: its boundary is random).
    if (!(make() instanceof FormData)) {
      await fetch(server.url, { method: 'POST', body: make() });
      expect(server.hits[3]!.body.equals(first!.body)).toBe(true);
      expect(server.hits[3]!.headers['content-type']).toBe(first!.headers['content-type']);
    } else {
      expect(first!.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
      expect(first!.body.includes(Buffer.from(bytes))).toBe(true);
    }
  });

  it('sends the bytes given at the call even if the caller reuses its buffer while a retry waits', async () => {
    const server = await servers.start([{ status: 503 }, {}]);
    const buffer = new Uint8Array([1, 2, 3, 4]);
    const call = client()(server.url, { method: 'PUT', body: buffer });
    buffer.fill(9);
    await call;
    expect(server.hits.map((hit) => [...hit.body])).toEqual([
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
  });

  it('replays the body of a Request input', async () => {
    const server = await servers.start([{ status: 502 }, {}]);
    const request = new Request(server.url, { method: 'POST', body: 'from a Request', headers: { 'x-trace': 't1' } });
    const res = await client()(request);
    expect(res.status).toBe(200);
    expect(server.hits.map((hit) => [hit.method, hit.body.toString(), hit.headers['x-trace']])).toEqual([
      ['POST', 'from a Request', 't1'],
      ['POST', 'from a Request', 't1'],
    ]);
  });

  const stream = () =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed '));
        controller.enqueue(new TextEncoder().encode('once'));
        controller.close();
      },
    });

  it('sends a stream once and returns a retryable status instead of sending it again', async () => {
    const server = await servers.start([{ status: 503 }, {}]);
    const res = await client()(server.url, { method: 'POST', body: stream(), duplex: 'half' } as RequestInit);
    expect(res.status).toBe(503);
    expect(server.hits).toHaveLength(1);
    expect(server.hits[0]!.body.toString()).toBe('streamed once');
  });

  it('refuses to retry a stream after a network error, with a clear error and never an empty body', async () => {
    const server = await servers.start([{ reset: true }, {}]);
    const result = await settle(client()(server.url, { method: 'POST', body: stream(), duplex: 'half' } as RequestInit));
    expect(result.ok).toBe(false);
    const error = (result as { error: unknown }).error;
    expect(error).toBeInstanceOf(BodyNotReplayableError);
    expect((error as BodyNotReplayableError).code).toBe('body_not_replayable');
    expect(String((error as Error).cause)).toMatch(/fetch failed/);
    expect(server.hits).toHaveLength(1);
    expect(server.hits[0]!.body.toString()).toBe('streamed once');
  });
});
