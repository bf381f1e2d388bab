/**
 * Exactly once across processes on node-redis: real Express worker processes, two on node-redis 5 and two on
 * node-redis 4, behind one real Redis (the same keys, so the two versions also agree with each other).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, redisUrl, testPrefix } from '../support/redis.js';

const WORKER = fileURLToPath(new URL('./fixtures/idempotency-worker.ts', import.meta.url));
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

interface Worker {
  child: ChildProcess;
  port: number;
}

interface Reply {
  status: number;
  replayed: boolean;
  body: string;
}

const children: ChildProcess[] = [];

function startWorker(env: Record<string, string>): Promise<Worker> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: { ...process.env, REDIS_URL: redisUrl(), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('a worker did not start within 60 s')), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve({ child, port: (JSON.parse(line) as { port: number }).port });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`a worker exited early (${code})`));
    });
  });
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  return exited;
}

function post(port: number, key: string, body: string, path = '/v1/messages'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': key },
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            replayed: res.headers['idempotent-replayed'] === 'true',
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let redis: Redis;
/** Four workers with the default lease (10 s). */
let workers: Worker[] = [];
/** A worker whose claims hold a short lease, for the lease tests. */
let shortLease: Worker;
const prefix = testPrefix('idem-xproc-node-redis');
const LEASE_MS = 400;

beforeAll(async () => {
  redis = await connectRedis();
  const started = await Promise.all(
    [LEASE_MS, 10_000, 10_000, 10_000, 10_000].map((lease, i) =>
      startWorker({ PREFIX: prefix, LEASE_MS: String(lease), NODE_REDIS: i % 2 === 0 ? '5' : '4' }),
    ),
  );
  shortLease = started[0]!;
  workers = started.slice(1);
}, 120_000);

afterAll(async () => {
  agent.destroy();
  await Promise.all(children.map(kill));
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

async function runs(key: string): Promise<number> {
  return Number((await redis.hget(`${prefix}runs`, key)) ?? 0);
}

describe('idempotency across processes on node-redis (4 Express workers: 2 on node-redis 5, 2 on 4; one Redis)', () => {
  it('100 keys x 50 concurrent identical requests: the handler runs exactly 100 times; every other answer is a 409 or a byte-identical replay', async () => {
    const KEYS = 100;
    const COPIES = 50;
    const keys = Array.from({ length: KEYS }, (_, i) => `xproc-${i}`);
    const byKey = new Map<string, Reply[]>();
    // Five keys at a time: 250 requests in flight over the four workers.
    for (let start = 0; start < KEYS; start += 5) {
      await Promise.all(
        keys.slice(start, start + 5).map(async (key, k) => {
          const body = JSON.stringify({ to: `+1555${k}`, text: 'hello' });
          const replies = await Promise.all(
            Array.from({ length: COPIES }, (_, i) => post(workers[(i + k) % workers.length]!.port, key, body)),
          );
          // Retries after the first completed: all replays.
          replies.push(...(await Promise.all(workers.map((w) => post(w.port, key, body)))));
          byKey.set(key, replies);
        }),
      );
    }
    const counts = await redis.hgetall(`${prefix}runs`);
    const total = keys.reduce((sum, key) => sum + Number(counts[key] ?? 0), 0);
    expect(total).toBe(KEYS);
    for (const key of keys) {
      expect(Number(counts[key]), key).toBe(1);
      const replies = byKey.get(key)!;
      const firsts = replies.filter((r) => r.status === 201 && !r.replayed);
      expect(firsts, key).toHaveLength(1);
      const original = firsts[0]!.body;
      for (const r of replies) {
        if (r === firsts[0]) continue;
        if (r.status === 409) {
          expect(JSON.parse(r.body).error).toBe('idempotency_conflict');
        } else {
          expect(r.status).toBe(201);
          expect(r.replayed).toBe(true);
          expect(r.body).toBe(original);
        }
      }
      expect(replies.slice(-workers.length).every((r) => r.replayed && r.body === original)).toBe(true);
    }
  }, 120_000);

  it('a handler three times longer than its 400 ms lease keeps its claim: duplicates on other workers get 409 throughout', async () => {
    const key = 'slow-1';
    const body = '{"to":"+15550100"}';
    const path = `/v1/messages?ms=${LEASE_MS * 3}`;
    const first = post(shortLease.port, key, body, path);
    const duplicates: Reply[] = [];
    for (let i = 0; i < 5; i++) {
      await sleep(LEASE_MS / 2);
      duplicates.push(await post(workers[i % workers.length]!.port, key, body, path));
    }
    const original = await first;
    expect(original.status).toBe(201);
    expect(duplicates.map((d) => d.status)).toEqual([409, 409, 409, 409, 409]);
    const replay = await post(workers[2]!.port, key, body, path);
    expect(replay.replayed).toBe(true);
    expect(replay.body).toBe(original.body);
    expect(await runs(key)).toBe(1);
  }, 30_000);

  it('a worker killed after its claim (400 ms lease): the key is blocked for one lease, then a retry runs (not after the 24 h TTL)', async () => {
    const hanging = await startWorker({ PREFIX: prefix, LEASE_MS: String(LEASE_MS), HANG: '1', NODE_REDIS: '4' });
    const key = 'killed-1';
    const body = '{"to":"+15550101"}';
    const lost = post(hanging.port, key, body).catch(() => 'connection lost');
    for (let i = 0; i < 400 && (await runs(key)) === 0; i++) await sleep(10);
    expect(await runs(key)).toBe(1);
    await kill(hanging.child);
    expect(await lost).toBe('connection lost');
    const blocked = await post(workers[0]!.port, key, body);
    expect(blocked.status).toBe(409);
    let retry = blocked;
    for (let i = 0; i < 100 && retry.status === 409; i++) {
      await sleep(50);
      retry = await post(workers[i % workers.length]!.port, key, body);
    }
    expect(retry.status).toBe(201);
    expect(retry.replayed).toBe(false);
    expect(await runs(key)).toBe(2);
    const replay = await post(workers[3]!.port, key, body);
    expect(replay.body).toBe(retry.body);
  }, 30_000);
});
