/**
 * Event-loop stalls (a synchronous busy loop) against the lease. The bound under test: a stall shorter
 * than 3/4 of the lease minus one store round trip never loses the claim, wherever it falls in the
 * renewal cycle; a stall far longer loses it, and the loss is reported, never silent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision, RequestView } from '../../src/guard/types.js';
import { createIdempotency } from '../../src/idempotency/idempotency.js';
import type { IdempotencyStore } from '../../src/idempotency/store.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { type PrivateRedis, startPrivateRedis } from '../support/redis-server.js';
import { killWorkers, post, type Reply, runsOf, sleep, startWorker, until, type Worker } from './fixtures/workers.js';

function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the event loop is blocked
  }
}

function view(key: string): RequestView {
  return {
    method: 'POST',
    path: '/v1/run',
    query: '',
    peer: '127.0.0.1',
    request: {},
    header: () => undefined,
    headerLines: (name) => (name === 'idempotency-key' ? [key] : []),
    body: () => ({ kind: 'parsed', value: { to: '+15550100' }, contentType: 'application/json' }),
  };
}

const response = (text: string) => ({
  status: 201,
  headers: [['content-type', 'application/json']] as Array<[string, string]>,
  body: new TextEncoder().encode(text),
  truncated: false,
});

function kind(decision: Decision): string {
  if (decision.type === 'next') return 'run';
  const body = decision.type === 'respond' ? decision.body : undefined;
  if (!body) return decision.type;
  return JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body)).error ?? `replay ${decision.status}`;
}

/** A memory store that notes when each renewal reached it. */
function timedStore() {
  const inner = new MemoryStore().idempotency;
  const renewals: number[] = [];
  const store: IdempotencyStore = {
    claim: (...args) => inner.claim(...args),
    renew: (...args) => {
      renewals.push(performance.now());
      return inner.renew(...args);
    },
    complete: (...args) => inner.complete(...args),
    release: (...args) => inner.release(...args),
  };
  return { store, renewals };
}

describe('stalls, memory store, in one process', () => {
  const L = 1200;

  /** Duplicates every 5 ms for `ms`: the kinds of decision they got. */
  async function duplicates(guard: ReturnType<typeof createIdempotency>, key: string, ms: number): Promise<Set<string>> {
    const kinds = new Set<string>();
    const end = performance.now() + ms;
    while (performance.now() < end) {
      kinds.add(kind(await guard.check(view(key))));
      await sleep(5);
    }
    return kinds;
  }

  it('a stall of 0.7 of the lease, started anywhere in the renewal cycle, never loses the claim', async () => {
    const reports: string[] = [];
    const guard = createIdempotency({ store: new MemoryStore(), leaseMs: L, onRecordError: (event) => reports.push(event.kind) });
    for (const [i, offset] of [0, L / 12, L / 6, L / 4, L / 3 - 5].entries()) {
      const key = `under-${i}`;
      const first = await guard.check(view(key));
      expect(first.type).toBe('next');
      await sleep(offset);
      stall(L * 0.7);
      // A duplicate handled before any timer ran (as a request read in the same loop turn would be).
      expect(kind(await guard.check(view(key)))).toBe('idempotency_conflict');
      expect([...(await duplicates(guard, key, L / 4))]).toEqual(['idempotency_conflict']);
      if (first.type === 'next') await first.sink!.complete(response(`{"n":${i}}`));
      const replay = await guard.check(view(key));
      expect(replay.type === 'respond' && new TextDecoder().decode(replay.body as Uint8Array)).toBe(`{"n":${i}}`);
    }
    expect(reports).toEqual([]);
  }, 20_000);

  it('a stall of 0.9 of the lease right after a renewal: the first tick after it renews', async () => {
    const { store, renewals } = timedStore();
    const reports: string[] = [];
    const guard = createIdempotency({ store, leaseMs: L, onRecordError: (event) => reports.push(event.kind) });
    const first = await guard.check(view('after-renewal'));
    while (renewals.length === 0) await new Promise((resolve) => setImmediate(resolve));
    stall(L * 0.9);
    expect([...(await duplicates(guard, 'after-renewal', L / 3))]).toEqual(['idempotency_conflict']);
    if (first.type === 'next') await first.sink!.complete(response('{"n":"after"}'));
    expect(reports).toEqual([]);
  });

  it('a stall of 1.5 leases loses the claim: the duplicate runs, the stale owner cannot overwrite its record, and the loss is reported', async () => {
    const reports: Array<{ kind: string; id: string; message: string }> = [];
    const guard = createIdempotency({ store: new MemoryStore(), leaseMs: L, onRecordError: (event) => reports.push(event) });
    const first = await guard.check(view('over'));
    stall(L * 1.5);
    const second = await guard.check(view('over'));
    expect(second.type).toBe('next');
    if (second.type === 'next') await second.sink!.complete(response('{"n":"second"}'));
    // The stale owner's response still goes out (complete settles), but is not stored.
    if (first.type === 'next') await expect(Promise.resolve(first.sink!.complete(response('{"n":"first"}')))).resolves.toBeUndefined();
    const replay = await guard.check(view('over'));
    expect(replay.type === 'respond' && new TextDecoder().decode(replay.body as Uint8Array)).toBe('{"n":"second"}');
    expect(reports.map((r) => r.kind)).toEqual(['claim_lost']);
    expect(reports[0]!.message).not.toContain('over');
  });
});

describe('stalls, Redis, two worker processes', () => {
  const L = 1000;
  let server: PrivateRedis;
  let stalling: Worker;
  let other: Worker;

  beforeAll(async () => {
    server = await startPrivateRedis();
    [stalling, other] = (await Promise.all([1, 2].map(() => startWorker(server.url, { PREFIX: 'stall:', LEASE_MS: String(L) })))) as [Worker, Worker];
  }, 30_000);

  afterAll(async () => {
    await killWorkers();
    await server.stop();
  });

  /** Posts to the stalling worker and hammers the other with duplicates until the first answers. */
  async function run(key: string, query: string): Promise<{ first: Reply; duplicates: Reply[] }> {
    const firstReply = post(stalling.port, key, query);
    let done = false;
    const first = firstReply.finally(() => {
      done = true;
    });
    const duplicates: Reply[] = [];
    // Duplicates start once the stalling worker holds the key (its handler runs), however long its claim took.
    await until(() => runsOf(key, stalling) > 0);
    while (!done) {
      duplicates.push(await post(other.port, key, query));
      await sleep(25);
    }
    return { first: await first, duplicates };
  }

  it('a stall of 0.7 of the lease anywhere in the renewal cycle: every duplicate on the other worker gets 409, the handler runs once, replays are its bytes', async () => {
    for (const [i, at] of [0, L / 12, L / 6, L / 4, L / 3 - 5].entries()) {
      const key = `redis-under-${i}`;
      const { first, duplicates } = await run(key, `at=${Math.round(at)}&stall=${L * 0.7}&ms=50`);
      expect(first.status).toBe(201);
      for (const d of duplicates) expect(d.status === 409 || (d.replayed && d.body === first.body)).toBe(true);
      expect(duplicates.filter((d) => d.status === 409).length).toBeGreaterThan(2);
      const replay = await post(other.port, key, `at=${Math.round(at)}&stall=${L * 0.7}&ms=50`);
      expect(replay.replayed).toBe(true);
      expect(replay.body).toBe(first.body);
      expect(runsOf(key, stalling, other)).toBe(1);
    }
    expect([...stalling.reports, ...other.reports]).toEqual([]);
  }, 30_000);

  it('a stall of 1.6 leases: the other worker runs the key once, the stalled one reports claim_lost, cannot overwrite the record, and stays up', async () => {
    const key = 'redis-over';
    const query = `stall=${L * 1.6}`;
    const { first, duplicates } = await run(key, query);
    expect(first.status).toBe(201);
    const ran = duplicates.filter((d) => d.status === 201 && !d.replayed);
    expect(ran).toHaveLength(1);
    expect(runsOf(key, stalling, other)).toBe(2);
    expect(stalling.reports).toEqual(['claim_lost']);
    const replay = await post(stalling.port, key, query);
    expect(replay.replayed).toBe(true);
    expect(replay.body).toBe(ran[0]!.body);
    expect(stalling.alive() && other.alive()).toBe(true);
  }, 20_000);
});
