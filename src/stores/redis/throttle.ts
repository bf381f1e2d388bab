import type { RateRequest, RateResult, SpendRequest, SpendResult, ThrottleStore } from '../../throttle/store.js';
import { StoreUnavailableError } from '../store-error.js';
import type { RedisStoreOptions } from './index.js';
import { hashTag, type RedisClient, RedisScript } from './script.js';

/** Redis time in milliseconds with microseconds, from `TIME` (never the application's clock). */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local eps = 0.001
local function fmt(x) return string.format('%.3f', x) end
local function units(time, interval)
  local n = math.floor(time / interval + 1e-6)
  if n < 0 then return 0 end
  return n
end`;

/** GCRA, the same arithmetic as src/throttle/gcra.ts. KEYS[1] holds the theoretical arrival time. */
const GCRA = new RedisScript(
  `${NOW}
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local interval = window / limit
local capacity = burst * interval
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local used = tat - now
if cost > burst then
  return {0, units(capacity - used, interval), fmt(used), '-1'}
end
local nextTat = tat + cost * interval
local diff = nextTat - now
if diff <= capacity + eps then
  if cost > 0 then
    redis.call('SET', KEYS[1], fmt(nextTat), 'PX', math.ceil(diff) + 1000)
  end
  return {1, units(capacity - diff, interval), fmt(diff), '0'}
end
return {0, units(capacity - used, interval), fmt(used), fmt(diff - capacity)}
`,
  1,
);

/**
 * The exact sliding window, the same rules as src/throttle/sliding-window.ts. KEYS[1] is a sorted set of
 * admitted requests (score: time, member: `seq:cost`), KEYS[2] the sequence that keeps members unique.
 */
const SLIDING = new RedisScript(
  `${NOW}
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now - window + eps))
local log = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
local last = nil
for i = 1, #log, 2 do
  used = used + tonumber(string.match(log[i], ':(%d+)$'))
  last = tonumber(log[i + 1])
end
local function reset()
  if last == nil then return '0' end
  local r = last + window - now
  if r < 0 then r = 0 end
  return fmt(r)
end
if cost > limit then
  return {0, math.max(limit - used, 0), reset(), '-1'}
end
if used + cost <= limit then
  if cost > 0 then
    local seq = redis.call('INCR', KEYS[2])
    redis.call('ZADD', KEYS[1], fmt(now), seq .. ':' .. cost)
    local ttl = math.ceil(window) + 1000
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
    last = now
  end
  return {1, limit - used - cost, reset(), '0'}
end
local excess = used + cost - limit
local freed = 0
local retry = window
for i = 1, #log, 2 do
  freed = freed + tonumber(string.match(log[i], ':(%d+)$'))
  if freed >= excess then
    retry = tonumber(log[i + 1]) + window - now
    break
  end
end
return {0, math.max(limit - used, 0), reset(), fmt(retry)}
`,
  2,
);

/**
 * Spend counters: all or nothing, each in the calendar period that Redis time falls in. KEYS: the
 * previous, current and next period's key of each counter. ARGV: cost, then per counter its limit, ttl,
 * and where its current and next period begin. Reply: allowed, exceeded index, totals.
 */
const SPEND_SOURCE = `${NOW}
local cost = tonumber(ARGV[1])
local keys = {}
local used = {}
for i = 1, #KEYS / 3 do
  local a = (i - 1) * 4 + 1
  local pick = 3
  if now < tonumber(ARGV[a + 3]) then pick = 1 elseif now < tonumber(ARGV[a + 4]) then pick = 2 end
  keys[i] = KEYS[(i - 1) * 3 + pick]
  used[i] = tonumber(redis.call('GET', keys[i]) or '0')
end
for i = 1, #keys do
  if used[i] + cost > tonumber(ARGV[(i - 1) * 4 + 2]) then
    local reply = {0, i - 1}
    for j = 1, #keys do reply[j + 2] = used[j] end
    return reply
  end
end
local reply = {1, -1}
for i = 1, #keys do
  if cost > 0 then
    reply[i + 2] = redis.call('INCRBY', keys[i], cost)
    redis.call('PEXPIRE', keys[i], tonumber(ARGV[(i - 1) * 4 + 3]))
  else
    reply[i + 2] = used[i]
  end
end
return reply
`;
const SPEND = [new RedisScript(SPEND_SOURCE, 3), new RedisScript(SPEND_SOURCE, 6), new RedisScript(SPEND_SOURCE, 9)];

const PERIOD = /^[A-Za-z0-9-]{1,40}$/;

/**
 * The throttle side of {@link RedisStore}: one EVALSHA per decision (EVAL only after NOSCRIPT), time from
 * Redis `TIME` (it also picks the calendar period a spend counts in), the keys of one decision under one
 * Cluster hash tag, every call under `commandTimeoutMs`
 * (a slower or failed call rejects with `StoreUnavailableError`, which the middleware turns into its
 * outage behaviour).
 *
 * Keys: `<prefix>rl:{<tag>}` (and `…:seq` for the sliding window), `<prefix>sc:{<tag>}:<period>` for
 * spend caps, where `<tag>` is a hash of the middleware's key (braces in user keys cannot move a slot).
 */
export class RedisThrottleStore implements ThrottleStore {
  constructor(
    readonly redis: RedisClient,
    readonly options: Readonly<Required<RedisStoreOptions>>,
  ) {}

  async consume(request: RateRequest): Promise<RateResult> {
    const base = `${this.options.prefix}rl:${hashTag(request.key)}`;
    const sliding = request.algorithm === 'sliding-window';
    const reply = await (sliding ? SLIDING : GCRA).run(
      this.redis,
      sliding ? [base, `${base}:seq`] : [base],
      [request.limit, request.windowMs, request.burst, request.cost],
      this.options.commandTimeoutMs,
      'rate limit decision',
    );
    if (!Array.isArray(reply) || reply.length !== 4) throw new StoreUnavailableError('rate limit decision: unexpected reply from Redis');
    const [allowed, remaining, resetMs, retryAfterMs] = reply as [number, number, string, string];
    return { allowed: allowed === 1, remaining: Number(remaining), resetMs: Number(resetMs), retryAfterMs: Number(retryAfterMs) };
  }

  async spend(request: SpendRequest): Promise<SpendResult> {
    const script = SPEND[request.counters.length - 1];
    if (!script) throw new RangeError('spend: between 1 and 3 counters per decision');
    const tag = hashTag(request.key);
    const keys: string[] = [];
    const args: Array<string | number> = [request.cost];
    for (const counter of request.counters) {
      for (const period of counter.periods) {
        if (!PERIOD.test(period)) throw new RangeError('spend: a period is letters, digits and - only');
        keys.push(`${this.options.prefix}sc:${tag}:${period}`);
      }
      args.push(counter.limit, Math.max(1, Math.ceil(counter.ttlMs)), Math.round(counter.starts[0]), Math.round(counter.starts[1]));
    }
    const reply = await script.run(this.redis, keys, args, this.options.commandTimeoutMs, 'spend decision');
    if (!Array.isArray(reply) || reply.length !== request.counters.length + 2) throw new StoreUnavailableError('spend decision: unexpected reply from Redis');
    const [allowed, exceeded, ...used] = reply as number[];
    return { allowed: allowed === 1, exceeded: Number(exceeded), used: used.map(Number) };
  }
}
