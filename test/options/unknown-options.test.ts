import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import * as express from '../../adapters/express.js';
import { guard } from '../../adapters/fetch.js';
import * as koa from '../../adapters/koa.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';

const redis = new Redis({ lazyConnect: true });
afterAll(() => redis.disconnect());

describe('an unknown option is refused when the middleware or store is built, with its name', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['MemoryStore', () => new MemoryStore({ maxSize: 10 } as never), /^MemoryStore: unknown option "maxSize"$/],
    ['RedisStore', () => new RedisStore(redis, { timeoutMs: 10 } as never), /^RedisStore: unknown option "timeoutMs"$/],
    ['idempotency (Express)', () => express.idempotency({ ttl: 1000 } as never), /^idempotency: unknown option "ttl" \(use `ttlMs` \(milliseconds\)\)$/],
    ['idempotency (Koa)', () => koa.idempotency({ idempotencyKeyHeader: 'X-Key' } as never), /"idempotencyKeyHeader" \(use `header`\)/],
    ['idempotency, two names', () => express.idempotency({ dataAdapter: {}, ttlMs: 5000, tll: 1 } as never), /unknown options "dataAdapter" \(use `store`\), "tll"$/],
    ['ipAllowlist', () => express.ipAllowlist({ allow: ['loopback'], mode: 'deny' } as never), /^ipAllowlist: options\.mode must be 'enforce' or 'shadow' \(express-ipfilter/],
    ['ipAllowlist (express-ipfilter)', () => koa.ipAllowlist({ allow: ['loopback'], detectIp: () => '' } as never), /"detectIp" \(use `trustProxy`/],
    ['errorHandler', () => express.errorHandler({ onerror: () => {} } as never), /^errorHandler: unknown option "onerror"$/],
    ['errorHandler (Koa)', () => koa.errorHandler({ formatter: 'json' } as never), /^errorHandler: unknown option "formatter"$/],
    ['rateLimit (express-rate-limit names)', () => express.rateLimit({ limit: 100, windowMs: 60_000, keyGenerator: () => 'k' } as never), /^rateLimit: unknown option "keyGenerator" \(use `key: \(request\) => string`\)$/],
    ['rateLimit (@fastify/rate-limit names)', () => koa.rateLimit({ max: 100, timeWindow: 60_000 } as never), /"max" \(use `limit`\), "timeWindow" \(use `windowMs`/],
    ['spendCap', () => express.spendCap({ daily: 10, perDay: 10 } as never), /^spendCap: unknown option "perDay"$/],
    ['guard()', () => guard(() => new Response('ok'), { rateLimits: {} } as never), /^guard: unknown option "rateLimits"$/],
    ['guard() rateLimit', () => guard(() => new Response('ok'), { rateLimit: { limit: 1, windowMs: 1000, standardHeaders: true } } as never), /rateLimit: unknown option "standardHeaders"/],
  ];
  it.each(cases)('%s', (_name, build, message) => {
    expect(build).toThrow(TypeError);
    expect(build).toThrow(message);
  });

  it('the known options still build', () => {
    expect(() => new MemoryStore({ max: 10, maxBytes: 4096 })).not.toThrow();
    expect(() => new RedisStore(redis, { prefix: 'x:', commandTimeoutMs: 100, onWarning: () => {} })).not.toThrow();
    expect(() =>
      express.idempotency({
        store: new MemoryStore(),
        scope: () => 'a',
        required: false,
        methods: ['POST'],
        ttlMs: 1000,
        leaseMs: 100,
        wait: false,
        maxResponseBytes: 10,
        maxBodyBytes: 10,
        shouldStore: () => true,
        header: 'Idempotency-Key',
        storeTimeoutMs: 100,
        onRecordError: () => {},
      }),
    ).not.toThrow();
    expect(() => express.ipAllowlist({ allow: ['loopback'], trustProxy: ['10.0.0.0/8'], forwarded: true, onDeny: () => {}, cacheSize: 5 })).not.toThrow();
    expect(() => express.errorHandler({ onError: () => {}, format: 'problem', problemTypeBase: 'https://x/' })).not.toThrow();
  });
});
