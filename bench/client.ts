/**
 * Success-path overhead of `createFetch` against plain `fetch`, all calling the same local node:http
 * server in the same run: plain fetch, fetch with a per-request timeout (the AbortSignal that any timed
 * attempt needs), the default wrapper, and a lean wrapper (no breaker, budget or timeout). They are
 * interleaved batch by batch so that noise from the machine hits all alike; medians are compared.
 * Target: at most 10% more time per request.
 *
 *   npx tsx bench/client.ts
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createFetch } from '../src/client/index.js';

type Row = Record<string, string | number>;

const BODY = JSON.stringify({ id: 'msg_123', status: 'queued' });

/** Time per request, in µs, of one batch of `concurrency` requests sent at once. */
async function batch(fetcher: typeof globalThis.fetch, url: string, concurrency: number, init?: RequestInit) {
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const res = await fetcher(url, init);
      await res.arrayBuffer();
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1_000 / concurrency;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Plain fetch with a per-request timeout (AbortController + timer): the least any timed attempt costs. */
function timedFetch(timeoutMs: number): typeof globalThis.fetch {
  return async (input, init) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    timer.unref();
    try {
      return await fetch(input, { ...init, signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  };
}

const pct = (value: number, base: number) => `${(((value - base) / base) * 100).toFixed(1)}%`;

/** Runs the benchmark and returns one row per scenario. */
export async function run(options: { batches?: number } = {}): Promise<Row[]> {
  const batches = options.batches ?? 1_200;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/messages`;
  const contenders: Array<[string, typeof globalThis.fetch]> = [
    ['fetch', globalThis.fetch],
    ['fetch + timeout', timedFetch(30_000)],
    ['createFetch()', createFetch()],
    ['createFetch lean', createFetch({ breaker: false, retryBudget: false, timeoutMs: Number.POSITIVE_INFINITY })],
  ];
  const scenarios: Array<[string, number, RequestInit | undefined]> = [
    ['GET, 1 at a time', 1, undefined],
    ['GET, 16 concurrent', 16, undefined],
    ['POST JSON (gets a key), 1 at a time', 1, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json' } }],
  ];
  const rows: Row[] = [];
  try {
    for (const [name, concurrency, init] of scenarios) {
      const count = Math.max(60, Math.round(batches / concurrency));
      const times = contenders.map((): number[] => []);
      for (let i = 0; i < count + 50; i++) {
        // Each contender runs once per round, in a rotating order, so that noise hits all alike.
        for (let j = 0; j < contenders.length; j++) {
          const index = (i + j) % contenders.length;
          const time = await batch(contenders[index]![1], url, concurrency, init);
          if (i >= 50) times[index]!.push(time); // the first 50 rounds warm up
        }
      }
      const [plain, timed, wrapped, lean] = times.map(median) as [number, number, number, number];
      rows.push({
        scenario: name,
        'requests each': count * concurrency,
        'fetch µs/req': Number(plain.toFixed(1)),
        'fetch+timeout µs/req': Number(timed.toFixed(1)),
        'createFetch µs/req': Number(wrapped.toFixed(1)),
        'overhead vs fetch': pct(wrapped, plain),
        'overhead vs fetch+timeout': pct(wrapped, timed),
        'lean¹ overhead vs fetch': pct(lean, plain),
      });
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.table(await run());
  console.log('¹ lean: createFetch({ breaker: false, retryBudget: false, timeoutMs: Infinity }), retries only.');
}
