import type { RateRequest, RateResult, SpendRequest, SpendResult, ThrottleStore } from '../../throttle/store.js';
import { StoreUnavailableError } from '../store-error.js';
import type { RedisStoreOptions } from './index.js';
import { hashTag, type RedisClient, RedisScript } from './script.js';

/**
 * Redis time from `TIME` (never the application's clock): `now` in whole microseconds (an exact integer,
 * about 1.7e15), `nowMs` in milliseconds. Then exact integer arithmetic, the same as
 * src/throttle/exact.ts: Lua numbers are doubles, so every value stays an integer below 2^53 and
 * `a * b / m` never forms a product a double cannot hold. `fmt` writes an integer with all its digits.
 */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nowMs = now / 1000
local function fmt(x) return string.format('%.0f', x) end
local EXACT = 4503599627370496
local function divFloor(x, m)
  local q = math.floor(x / m)
  local r = x - q * m
  if r < 0 then q = q - 1 elseif r >= m then q = q + 1 end
  return q
end
local function mulDivMod(a, b, m)
  local p = a * b
  if p <= EXACT then
    local q = divFloor(p, m)
    return q, p - q * m
  end
  local bq = divFloor(b, m)
  local br = b - bq * m
  local step = 2
  while step * 4 * m <= EXACT do step = step * 2 end
  local digits = {}
  local rest = a
  while rest > 0 do
    local hi = math.floor(rest / step)
    digits[#digits + 1] = rest - hi * step
    rest = hi
  end
  local qq, rr = 0, 0
  for i = #digits, 1, -1 do
    local x = rr * step + digits[i] * br
    local q = divFloor(x, m)
    qq = qq * step + q
    rr = x - q * m
  end
  return a * bq + qq, rr
end`;

/**
 * GCRA, the same arithmetic as src/throttle/gcra.ts. KEYS[1] holds the theoretical arrival time as
 * `<microseconds>:<fraction over limit>` (a value of the older form, float milliseconds, is read rounded
 * up). Reply: allowed, remaining, then microseconds until full, until this request could be admitted
 * (-1: never) and until one more unit is there.
 */
const GCRA = new RedisScript(
  `${NOW}
if ARGV[5] then now = tonumber(ARGV[5]) end
local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2]) * 1000
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local capQ, capR = mulDivMod(burst, w, limit)
local usedQ, usedR = 0, 0
local held = redis.call('GET', KEYS[1])
if held then
  local hq, hr = string.match(held, '^(%d+):(%d+)$')
  local tq, tr = nil, 0
  if hq then
    tq = tonumber(hq)
    tr = tonumber(hr)
  elseif tonumber(held) then
    tq = math.ceil(tonumber(held) * 1000)
  end
  if tq and tq >= now then
    usedQ = tq - now
    usedR = tr
    if usedR >= limit then
      usedQ = usedQ + 1
      usedR = 0
    end
  end
end
local function outcome(allowed, uq, ur, retry)
  local fq = capQ - uq
  local fr = capR - ur
  if fr < 0 then
    fr = fr + limit
    fq = fq - 1
  end
  local a, b = mulDivMod(fq, limit, w)
  local remaining = a + divFloor(b + fr, w)
  local nextUs = 0
  if remaining < burst then
    local nq, nr = mulDivMod(remaining + 1, w, limit)
    local gq = nq - fq
    local gr = nr - fr
    if gr < 0 then
      gr = gr + limit
      gq = gq - 1
    end
    nextUs = gq
    if gr > 0 then nextUs = nextUs + 1 end
  end
  local reset = uq
  if ur > 0 then reset = reset + 1 end
  return {allowed, remaining, fmt(reset), fmt(retry), fmt(nextUs)}
end
if cost > burst then
  return outcome(0, usedQ, usedR, -1)
end
local kq, kr = mulDivMod(cost, w, limit)
local dq = usedQ + kq
local dr = usedR + kr
if dr >= limit then
  dr = dr - limit
  dq = dq + 1
end
if dq < capQ or (dq == capQ and dr <= capR) then
  if cost > 0 then
    redis.call('SET', KEYS[1], fmt(now + dq) .. ':' .. fmt(dr), 'PX', math.floor(dq / 1000) + 1001)
  end
  return outcome(1, dq, dr, 0)
end
local waitQ = dq - capQ
local waitR = dr - capR
if waitR < 0 then
  waitR = waitR + limit
  waitQ = waitQ - 1
end
if waitR > 0 then waitQ = waitQ + 1 end
return outcome(0, usedQ, usedR, waitQ)
`,
  1,
);

/**
 * The exact sliding window, the same rules as src/throttle/sliding-window.ts. KEYS[1] is a sorted set of
 * admitted requests (score: time in whole microseconds, member: `seq:cost`), KEYS[2] the sequence that
 * keeps members unique. Reply as for GCRA.
 */
const SLIDING = new RedisScript(
  `${NOW}
if ARGV[5] then now = tonumber(ARGV[5]) end
local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2]) * 1000
local cost = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now - w))
local log = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
local first = nil
local last = nil
for i = 1, #log, 2 do
  used = used + tonumber(string.match(log[i], ':(%d+)$'))
  last = tonumber(log[i + 1])
  if first == nil then first = last end
end
local function span(at)
  if at == nil then return '0' end
  local r = at + w - now
  if r < 0 then r = 0 end
  return fmt(r)
end
if cost > limit then
  return {0, math.max(limit - used, 0), span(last), '-1', span(first)}
end
if used + cost <= limit then
  if cost > 0 then
    local seq = redis.call('INCR', KEYS[2])
    redis.call('ZADD', KEYS[1], fmt(now), fmt(seq) .. ':' .. fmt(cost))
    local ttl = tonumber(ARGV[2]) + 1000
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
    last = now
    if first == nil then first = now end
  end
  return {1, limit - used - cost, span(last), '0', span(first)}
end
local excess = used + cost - limit
local freed = 0
local retry = w
for i = 1, #log, 2 do
  freed = freed + tonumber(string.match(log[i], ':(%d+)$'))
  if freed >= excess then
    retry = tonumber(log[i + 1]) + w - now
    break
  end
end
return {0, math.max(limit - used, 0), span(last), fmt(retry), span(first)}
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
  if nowMs < tonumber(ARGV[a + 3]) then pick = 1 elseif nowMs < tonumber(ARGV[a + 4]) then pick = 2 end
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
  readonly #now: (() => number) | undefined;

  /**
   * @param now @internal for bulwark's own tests only: a clock in milliseconds that replaces Redis `TIME`
   *   in rate-limit decisions (spend caps always use `TIME`)
   */
  constructor(
    readonly redis: RedisClient,
    readonly options: Readonly<Required<RedisStoreOptions>>,
    now?: () => number,
  ) {
    this.#now = now;
  }

  async consume(request: RateRequest): Promise<RateResult> {
    const base = `${this.options.prefix}rl:${hashTag(request.key)}`;
    const sliding = request.algorithm === 'sliding-window';
    const reply = await (sliding ? SLIDING : GCRA).run(
      this.redis,
      sliding ? [base, `${base}:seq`] : [base],
      this.#now === undefined
        ? [request.limit, request.windowMs, request.burst, request.cost]
        : [request.limit, request.windowMs, request.burst, request.cost, Math.round(this.#now() * 1000)],
      this.options.commandTimeoutMs,
      'rate limit decision',
    );
    if (!Array.isArray(reply) || reply.length !== 5) throw new StoreUnavailableError('rate limit decision: unexpected reply from Redis');
    // Whole microseconds from the script: milliseconds for the result (-1 stays -1: never).
    const [allowed, remaining, resetUs, retryUs, nextUs] = reply as [number, number, string, string, string];
    const retry = Number(retryUs);
    return {
      allowed: allowed === 1,
      remaining: Number(remaining),
      resetMs: Number(resetUs) / 1000,
      retryAfterMs: retry < 0 ? -1 : retry / 1000,
      nextMs: Number(nextUs) / 1000,
    };
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
