import { asBuffer } from '../../guard/as-buffer.js';
import type { HeaderPairs } from '../../guard/types.js';
import type { ClaimResult, CompletedResponse, IdempotencyStore, StoredResponse } from '../../idempotency/store.js';
import { StoreUnavailableError } from '../store-error.js';
import type { RedisStoreOptions } from './index.js';
import { storeClient } from './client.js';
import { checkEvictionPolicy } from './policy.js';
import { hashTag, type RedisClient, RedisScript } from './script.js';
import { callHook } from '../../events/call-hook.js';

/*
 * One hash per key: s = state (1 in flight, 2 completed), f = fingerprint, t = owner token (kept after
 * completion, so a retried completion recognises its own record), l = lease end (Redis TIME, ms),
 * r = the stored response ('-' when not replayable). `s = 1` without `l` is also "completed, not
 * replayable": the record written in place when Redis had no memory for more.
 * Time comes from Redis, so processes with skewed clocks agree on leases.
 *
 * Redis at `maxmemory` with `noeviction` refuses a script's first write when that command may grow
 * memory (HSET; not HDEL, DEL, PEXPIRE), and lets every later write of the same script through. So
 * RENEW and the not-replayable COMPLETE start with a write that needs no memory, and their HSET only
 * rewrites or shrinks a field: renewals and the smallest record still succeed at maxmemory, while a
 * full response (which would grow memory) is refused there and reported by the engine.
 */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

const CLAIM = new RedisScript(
  `${NOW}local r = redis.call('HMGET', KEYS[1], 's', 'f', 'l', 'r')
if r[1] == '2' then return {'c', r[2], r[4] or '-'} end
if r[1] == '1' then
  if not r[3] then return {'c', r[2], '-'} end
  if tonumber(r[3]) > now then return {'i', r[2], tonumber(r[3]) - now} end
end
-- Only a record that is there (a lapsed claim) is deleted first. For a fresh key the HSET is the script's
-- first write, so Redis at maxmemory (noeviction) refuses it: once a script has written, Redis lets even
-- writes that grow memory through, and fresh keys could grow Redis past maxmemory without bound.
if r[1] then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 's', '1', 'f', ARGV[1], 't', ARGV[2], 'l', string.format('%.0f', now + tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'k'}`,
  1,
);

const RENEW = new RedisScript(
  `local r = redis.call('HMGET', KEYS[1], 's', 't', 'l')
if r[1] ~= '1' or r[2] ~= ARGV[1] or not r[3] then return 0 end
${NOW}local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[2]) then ttl = tonumber(ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('HSET', KEYS[1], 'l', string.format('%.0f', now + tonumber(ARGV[2])))
return 1`,
  1,
);

const COMPLETE = new RedisScript(
  `local r = redis.call('HMGET', KEYS[1], 's', 't')
if r[2] ~= ARGV[1] then return 0 end
if r[1] == '2' then return 1 end
if r[1] ~= '1' then return 0 end
if ARGV[2] == '-' then
  redis.call('HDEL', KEYS[1], 'l')
  redis.pcall('HSET', KEYS[1], 's', '2', 'r', '-')
else
  redis.call('HSET', KEYS[1], 's', '2', 'r', ARGV[2])
  redis.call('HDEL', KEYS[1], 'l')
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  1,
);

const RELEASE = new RedisScript(
  `local r = redis.call('HMGET', KEYS[1], 's', 't', 'l')
if r[1] ~= '1' or r[2] ~= ARGV[1] or not r[3] then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
  1,
);

const NOT_REPLAYABLE = '-';

/**
 * The idempotency side of `RedisStore`: one Lua script per operation (claim, renew, complete,
 * release), each a single round trip on one key, so it runs on Redis Cluster (the key carries a hash
 * tag) and every write is compare-and-set on the owner token. Every command has the store's deadline.
 * At its first claim it asks the server, once, whether its `maxmemory-policy` may evict these keys.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  /** `performance.now()` after which the eviction policy is (re)checked; Infinity once asked. */
  #policyCheckAt = 0;

  constructor(
    readonly redis: RedisClient,
    readonly options: Readonly<Required<RedisStoreOptions>>,
  ) {}

  /** The Redis key of a (scoped, hashed) idempotency key. */
  keyOf(key: string): string {
    return `${this.options.prefix}idem:${hashTag(key)}`;
  }

  async claim(key: string, fingerprint: string, token: string, leaseMs: number, ttlMs: number): Promise<ClaimResult> {
    if (this.#policyCheckAt <= performance.now()) this.#checkPolicy();
    const reply = await this.#run(CLAIM, key, [fingerprint, token, leaseMs, ttlMs], 'idempotency claim');
    if (!Array.isArray(reply)) throw new StoreUnavailableError('idempotency claim: unexpected reply');
    const [kind, fp, extra] = reply as [string, string | undefined, string | number | undefined];
    if (kind === 'k') return { type: 'claimed' };
    if (kind === 'i') return { type: 'in_flight', fingerprint: String(fp), leaseRemainingMs: Number(extra) };
    if (kind === 'c') return { type: 'completed', fingerprint: String(fp), response: decode(String(extra)) };
    throw new StoreUnavailableError('idempotency claim: unexpected reply');
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    return (await this.#run(RENEW, key, [token, leaseMs], 'idempotency renew')) === 1;
  }

  async complete(key: string, token: string, response: CompletedResponse, ttlMs: number): Promise<boolean> {
    return (await this.#run(COMPLETE, key, [token, encode(response), ttlMs], 'idempotency complete')) === 1;
  }

  async release(key: string, token: string): Promise<boolean> {
    return (await this.#run(RELEASE, key, [token], 'idempotency release')) === 1;
  }

  #run(script: RedisScript, key: string, args: Array<string | number>, what: string): Promise<unknown> {
    return script.run(this.redis, [this.keyOf(key)], args, this.options.commandTimeoutMs, what);
  }

  /** Once, in the background (never on the request's path): warn when Redis may evict these keys. */
  #checkPolicy(): void {
    this.#policyCheckAt = Number.POSITIVE_INFINITY;
    checkEvictionPolicy(storeClient(this.redis), this.options.commandTimeoutMs).then((outcome) => {
      if (outcome.type === 'unreachable') this.#policyCheckAt = performance.now() + 60_000;
      if (outcome.type !== 'evicts') return;
      // a failing hook (a throw, a rejection) changes nothing
      callHook(
        this.options.onWarning,
        `bulwark: RedisStore: Redis maxmemory-policy is ${outcome.policy}: it may evict idempotency records (they carry a TTL), and a retry of an evicted key runs again; use maxmemory-policy noeviction for exactly-once`,
      );
    });
  }
}

function encode(response: CompletedResponse): string {
  if (response === null) return NOT_REPLAYABLE;
  const body = asBuffer(response.body).toString('base64');
  const record: { s: number; m?: string; h: HeaderPairs; b: string } = { s: response.status, h: response.headers, b: body };
  if (typeof response.statusText === 'string') record.m = response.statusText;
  return JSON.stringify(record);
}

function decode(text: string): CompletedResponse {
  if (text === NOT_REPLAYABLE) return null;
  let parsed: { s?: unknown; m?: unknown; h?: unknown; b?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (err) {
    throw new StoreUnavailableError('idempotency record is unreadable', { cause: err });
  }
  if (typeof parsed.s !== 'number' || !Array.isArray(parsed.h) || typeof parsed.b !== 'string') {
    throw new StoreUnavailableError('idempotency record is unreadable');
  }
  const response: StoredResponse = { status: parsed.s, headers: parsed.h as HeaderPairs, body: new Uint8Array(Buffer.from(parsed.b, 'base64')) };
  if (typeof parsed.m === 'string') response.statusText = parsed.m;
  return response;
}
