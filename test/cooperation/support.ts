/**
 * Shared pieces of the cooperation tests: one app with a spend cap and idempotency keys, mounted in
 * either order, on a memory or a Redis store, and a way to read what the cap has spent.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { createSpendCap } from '../../src/throttle/spend-cap.js';
import type { HasThrottleStore } from '../../src/throttle/store.js';
import type { AppSpec, GuardSpec, NeutralRequest, RouteSpec, Variant } from '../support/matrix.js';
import { nativeHeader, VARIANTS } from '../support/matrix.js';
import { connectRedis } from '../support/redis.js';

/** The adapters of the cooperation suite: every adapter of the matrix. */
export const COOPERATING: readonly Variant[] = VARIANTS;

export type Order = 'spendCap-first' | 'idempotency-first';
export const ORDERS: Order[] = ['spendCap-first', 'idempotency-first'];
export type StoreKind = 'memory' | 'redis';
export const STORES: StoreKind[] = ['memory', 'redis'];

type Redis = Awaited<ReturnType<typeof connectRedis>>;
let shared: Redis | undefined;

/** One Redis connection for the file (closed by {@link closeRedis}). */
export async function redisClient(): Promise<Redis> {
  shared ??= await connectRedis();
  return shared;
}

export async function closeRedis(): Promise<void> {
  const redis = shared;
  shared = undefined;
  if (redis) await redis.quit();
}

/** A fresh store of the kind, with a unique Redis prefix. */
export function storeOf(kind: StoreKind): MemoryStore | RedisStore {
  if (kind === 'memory') return new MemoryStore();
  if (!shared) throw new Error('call redisClient() in beforeAll first');
  return new RedisStore(shared, { prefix: `bulwark-test:coop:${randomUUID()}:` });
}

/** What the cap named `name` has spent today for `account` (a peek: writes nothing). */
export async function spentOf(store: HasThrottleStore, account: string, name = 'spend'): Promise<number> {
  const peek = await createSpendCap({ daily: 1, name, store, key: () => '' }).peek(account);
  return peek.daily!.used;
}

/**
 * Polls until what is spent equals `expected` (refunds reach the store after the response went out),
 * then checks it stays there. Fails with the last value.
 */
export async function expectSpent(store: HasThrottleStore, account: string, expected: number, name = 'spend'): Promise<void> {
  let last = Number.NaN;
  for (let i = 0; i < 100; i++) {
    last = await spentOf(store, account, name);
    if (last === expected) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(last).toBe(expected);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await spentOf(store, account, name)).toBe(expected);
}

/** The route every scenario sends to: its answer is chosen by the `x-answer` header. */
export function sendRoute(gate?: { wait: () => Promise<void> }): RouteSpec {
  return {
    method: 'POST',
    path: '/v1/messages',
    handler: async (req: NeutralRequest) => {
      if (req.header('x-slow') === '1' && gate) await gate.wait();
      const answer = req.header('x-answer') ?? '202';
      if (answer === 'throw') throw new Error('the provider failed');
      const status = Number(answer);
      return { status, json: status < 300 ? { id: `msg_${req.header('idempotency-key') ?? 'none'}` } : { error: 'no' } };
    },
  };
}

/** The spend cap and idempotency guards in the given order, on `store`, the cost from `x-cost`, the account from `x-account`. */
export function guardsFor(order: Order, store: HasThrottleStore & object, daily: number, extra: object = {}): GuardSpec[] {
  const cap: GuardSpec = {
    kind: 'spendCap',
    options: (variant: Variant) => {
      const header = nativeHeader(variant);
      return {
        daily,
        store,
        key: (request: unknown) => header(request, 'x-account') ?? 'nobody',
        cost: (request: unknown) => Number(header(request, 'x-cost') ?? '1'),
        ...extra,
      };
    },
  };
  const idem: GuardSpec = { kind: 'idempotency', options: { store } };
  return order === 'spendCap-first' ? [cap, idem] : [idem, cap];
}

export function appOf(order: Order, store: HasThrottleStore & object, daily: number, gate?: { wait: () => Promise<void> }): AppSpec {
  return { guards: guardsFor(order, store, daily), routes: [sendRoute(gate)], errors: { onError: () => {} } };
}

/** A gate that holds `x-slow: 1` requests until opened. */
export function gate(): { wait: () => Promise<void>; open: () => void } {
  let release!: () => void;
  const opened = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { wait: () => opened, open: () => release() };
}

/** The headers of one send. */
export function sendHeaders(account: string, cost: number, key: string | undefined, answer = '202'): Record<string, string> {
  const headers: Record<string, string> = { 'x-account': account, 'x-cost': String(cost), 'x-answer': answer };
  if (key !== undefined) headers['idempotency-key'] = key;
  return headers;
}
