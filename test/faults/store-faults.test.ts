/**
 * Killed workers and a Redis that is killed, restarted (with and without persistence), paused and
 * script-flushed, each on a redis-server of the test's own, with real Express workers. Every test
 * counts handler runs per key, compares replay bytes, and checks that the workers stay up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivateRedis, startPrivateRedis } from '../support/redis-server.js';
import { killWorkers, post, runsOf, sleep, startWorker, until, type Worker } from './fixtures/workers.js';

const LEASE_MS = 1000;
const ENV = { LEASE_MS: String(LEASE_MS), STORE_TIMEOUT_MS: '500', COMMAND_TIMEOUT_MS: '500' };

afterAll(() => killWorkers());

async function retryUntilNot409(port: number, key: string, query: string) {
  let reply = await post(port, key, query);
  for (let i = 0; i < 100 && (reply.status === 409 || reply.status === 503); i++) {
    await sleep(50);
    reply = await post(port, key, query);
  }
  return reply;
}

describe('Redis without persistence', () => {
  let server: PrivateRedis;
  let a: Worker;
  let b: Worker;

  beforeAll(async () => {
    server = await startPrivateRedis();
    [a, b] = (await Promise.all([1, 2].map(() => startWorker(server.url, { PREFIX: 'np:', ...ENV })))) as [Worker, Worker];
  }, 30_000);
  afterAll(() => server.stop());

  it('a worker killed mid-handler: the key is blocked for one lease, then a retry runs it once more and its bytes replay', async () => {
    const doomed = await startWorker(server.url, { PREFIX: 'np:', ...ENV });
    const lost = post(doomed.port, 'killed', '', undefined, { 'x-hang': '1' }).catch(() => 'connection lost');
    await until(() => runsOf('killed', doomed) === 1);
    await doomed.kill();
    expect(await lost).toBe('connection lost');
    expect((await post(a.port, 'killed')).status).toBe(409);
    const retry = await retryUntilNot409(b.port, 'killed', '');
    expect(retry.status).toBe(201);
    expect(retry.replayed).toBe(false);
    expect(runsOf('killed', doomed, a, b)).toBe(2);
    const replay = await post(a.port, 'killed');
    expect(replay.replayed).toBe(true);
    expect(replay.body).toBe(retry.body);
    expect(runsOf('killed', doomed, a, b)).toBe(2);
  });

  it('SCRIPT FLUSH while a handler runs: the record is still written (EVAL after NOSCRIPT), once', async () => {
    const first = post(a.port, 'flushed', 'ms=300');
    await until(() => runsOf('flushed', a) === 1);
    await server.admin.script('FLUSH');
    const reply = await first;
    expect(reply.status).toBe(201);
    const replay = await post(b.port, 'flushed', 'ms=300');
    expect(replay.replayed).toBe(true);
    expect(replay.body).toBe(reply.body);
    expect(runsOf('flushed', a, b)).toBe(1);
    expect(a.reports).toEqual([]);
  });

  it('CLIENT PAUSE WRITE during the record write: the response still goes out within 2 x storeTimeoutMs, the queued write lands, the key replays and never runs again', async () => {
    const first = post(a.port, 'paused', 'ms=200');
    await until(() => runsOf('paused', a) === 1);
    await server.pause(1500, 'WRITE');
    const started = Date.now();
    const reply = await first;
    expect(reply.status).toBe(201);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(a.reports).toEqual(['not_recorded']);
    await sleep(1600 - (Date.now() - started));
    const replay = await post(b.port, 'paused', 'ms=200');
    expect(replay.replayed).toBe(true);
    expect(replay.body).toBe(reply.body);
    expect(runsOf('paused', a, b)).toBe(1);
    a.reports.length = 0;
  });

  it('CLIENT PAUSE ALL during a claim: 503 without running the handler; after the pause and one lease, a retry runs it once', async () => {
    await server.pause(800, 'ALL');
    const refused = await post(a.port, 'paused-claim', 'ms=10');
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body).error).toBe('service_unavailable');
    expect(runsOf('paused-claim', a, b)).toBe(0);
    const retry = await retryUntilNot409(b.port, 'paused-claim', 'ms=10');
    expect(retry.status).toBe(201);
    expect(retry.replayed).toBe(false);
    expect((await post(a.port, 'paused-claim', 'ms=10')).body).toBe(retry.body);
    expect(runsOf('paused-claim', a, b)).toBe(1);
  });

  it('Redis killed and restarted empty mid-handler: no library can prevent the second run, but the stale owner reports claim_lost and stays up', async () => {
    const query = 'ms=1200';
    const first = post(a.port, 'crash', query);
    await until(() => runsOf('crash', a) === 1);
    await server.restart();
    const second = await retryUntilNot409(b.port, 'crash', query);
    expect(second.status).toBe(201);
    expect((await first).status).toBe(201);
    expect(runsOf('crash', a, b)).toBe(2);
    expect(a.reports).toEqual(['claim_lost']);
    const replay = await post(a.port, 'crash', query);
    expect(replay.body).toBe(second.body);
    expect(a.alive() && b.alive()).toBe(true);
  }, 20_000);
});

describe('Redis with AOF (appendfsync always)', () => {
  let server: PrivateRedis;
  let a: Worker;
  let b: Worker;

  beforeAll(async () => {
    server = await startPrivateRedis({ aof: true });
    [a, b] = (await Promise.all([1, 2].map(() => startWorker(server.url, { PREFIX: 'aof:', ...ENV })))) as [Worker, Worker];
  }, 30_000);
  afterAll(() => server.stop());

  it('Redis killed (SIGKILL) and restarted mid-handler: the claim survives, duplicates get 409, the handler runs once and its bytes replay', async () => {
    const query = 'ms=1500';
    const first = post(a.port, 'aof-crash', query);
    await until(() => runsOf('aof-crash', a) === 1);
    await server.restart();
    let duplicate = await post(b.port, 'aof-crash', query);
    for (let i = 0; i < 40 && duplicate.status === 503; i++) duplicate = await post(b.port, 'aof-crash', query);
    expect(duplicate.status).toBe(409);
    const reply = await first;
    expect(reply.status).toBe(201);
    const replay = await post(b.port, 'aof-crash', query);
    expect(replay.replayed).toBe(true);
    expect(replay.body).toBe(reply.body);
    expect(runsOf('aof-crash', a, b)).toBe(1);
    expect([...a.reports, ...b.reports]).toEqual([]);
    expect(a.alive() && b.alive()).toBe(true);
  }, 20_000);
});
