/**
 * The demo's bulwark guards, as option objects for any adapter. An adapter passes how to read a header
 * and the parsed body from its own request type; everything else is the same on Express, Koa and fetch.
 */
import type { RedisStore } from '../../src/stores/redis/index.js';
import { MemoryStore } from '../../src/index.js';
import { DAILY_SPEND_CAP_CENTS, RATE_LIMIT, TOKENS } from './rules.js';
import { MessagingService } from './service.js';

/** The store of every guard: memory by default, or a shared Redis one. */
export type DemoStore = MemoryStore | RedisStore;

/** How an adapter reads its own request. */
export interface RequestReader<Req> {
  header(request: Req, name: string): string | undefined;
  /** The parsed JSON body, or undefined when there is none (or it is not JSON). */
  body(request: Req): unknown | Promise<unknown>;
  method(request: Req): string;
  path(request: Req): string;
}

/** The account a request belongs to, from its bearer token ('anonymous' when there is none). */
export function accountOf(authorization: string | undefined): string {
  const token = /^Bearer ([A-Za-z0-9_]+)$/.exec(authorization ?? '')?.[1];
  return (token && TOKENS[token]?.account) ?? 'anonymous';
}

/** Addresses allowed to call the demo: `DEMO_ALLOW` (comma-separated) or loopback only. */
export function demoAllowlist(): string[] {
  const configured = process.env.DEMO_ALLOW?.split(',').map((entry) => entry.trim()).filter(Boolean);
  return configured && configured.length > 0 ? configured : ['127.0.0.0/8', '::1'];
}

/**
 * Options of the four guards for one adapter.
 *
 * @example
 * ```ts
 * const g = demoGuards(new MemoryStore(), expressReader);
 * app.use(ipAllowlist(g.ipAllowlist));
 * ```
 */
export function demoGuards<Req>(store: DemoStore, read: RequestReader<Req>, allow: string[] = demoAllowlist()) {
  const account = (request: Req) => accountOf(read.header(request, 'authorization'));
  const isSend = (request: Req) => read.method(request) === 'POST' && read.path(request) === '/v1/messages';
  return {
    ipAllowlist: { allow },
    rateLimit: { ...RATE_LIMIT, key: account, store },
    spendCap: {
      daily: DAILY_SPEND_CAP_CENTS,
      timeZone: 'UTC',
      key: account,
      store,
      skip: (request: Req) => !isSend(request),
      cost: async (request: Req) => MessagingService.costOf(await read.body(request)),
    },
    idempotency: { store, scope: account },
  };
}

/** A fresh memory store for the demo's guards. */
export function memoryStore(): MemoryStore {
  return new MemoryStore({ max: 10_000 });
}
