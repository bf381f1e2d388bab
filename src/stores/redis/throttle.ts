import { randomUUID } from 'node:crypto';
import type {
  RateReceipt,
  RateRequest,
  RateResult,
  RefundResult,
  SpendReceipt,
  SpendRequest,
  SpendResult,
  ThrottleStore,
} from '../../throttle/store.js';
import { StoreUnavailableError } from '../store-error.js';
import type { RedisStoreOptions } from './index.js';
import { GCRA_REFUND_START, GCRA_START, NOW, SLIDING_START } from './lua-exact.js';
import { hashTag, type RedisClient, RedisScript } from './script.js';

/**
 * GCRA, the same arithmetic as src/throttle/gcra.ts. KEYS[1] holds the theoretical arrival time as
 * `<microseconds>:<fraction over limit>` (a value of the older form, float milliseconds, is read rounded
 * up). Reply: allowed, remaining, then microseconds until full, until this request could be admitted
 * (-1: never) and until one more unit is there.
 */
const GCRA = new RedisScript(
  `${GCRA_START}
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local capQ, capR = mulDivMod(burst, w, limit)
local usedQ, usedR = 0, 0
local held = redis.call('GET', KEYS[1])
if held then
  local tq, tr = arrival(held)
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
  local fq, fr = minus(capQ, capR, uq, ur)
  local a, b = mulDivMod(fq, limit, w)
  local remaining = a + divFloor(b + fr, w)
  local nextUs = 0
  if remaining < burst then
    local nq, nr = mulDivMod(remaining + 1, w, limit)
    local gq, gr = minus(nq, nr, fq, fr)
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
local dq, dr = plus(usedQ, usedR, kq, kr)
if dq < capQ or (dq == capQ and dr <= capR) then
  if cost > 0 then
    redis.call('SET', KEYS[1], fmt(now + dq) .. ':' .. fmt(dr), 'PX', math.floor(dq / 1000) + 1001)
  end
  return outcome(1, dq, dr, 0)
end
local waitQ, waitR = minus(dq, dr, capQ, capR)
if waitR > 0 then waitQ = waitQ + 1 end
return outcome(0, usedQ, usedR, waitQ)
`,
  1,
);

/**
 * The exact sliding window, the same rules as src/throttle/sliding-window.ts. KEYS[1] is a sorted set of
 * admitted requests (score: time in whole microseconds, member: `seq:cost`), KEYS[2] the sequence that
 * keeps members unique. Reply as for GCRA, then the member admitted (empty when none), for a refund.
 */
const SLIDING = new RedisScript(
  `${SLIDING_START}
local cost = tonumber(ARGV[4])
local log
if cost > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now - w))
  log = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
else
  -- A decision of cost 0 (a peek) writes nothing: the expired entries are only left out.
  log = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now - w), '+inf', 'WITHSCORES')
end
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
  local member = ''
  if cost > 0 then
    local seq = redis.call('INCR', KEYS[2])
    member = fmt(seq) .. ':' .. fmt(cost)
    redis.call('ZADD', KEYS[1], fmt(now), member)
    local ttl = tonumber(ARGV[2]) + 1000
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
    last = now
    if first == nil then first = now end
  end
  return {1, limit - used - cost, span(last), '0', span(first), member}
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
 * GCRA refund: the arrival time in KEYS[1] moves back by `cost * w / limit` microseconds exactly, never
 * before now (a bucket that refilled is not given the units twice; one that is full is deleted). ARGV:
 * limit, windowMs, cost (and a test clock). Reply: 1 when units were given back.
 */
const GCRA_REFUND = new RedisScript(
  `${GCRA_REFUND_START}
local cost = tonumber(ARGV[3])
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local tq, tr = arrival(held)
if not tq then return 0 end
if tq < now or (tq == now and tr == 0) or cost <= 0 then return 0 end
if tr >= limit then
  tq = tq + 1
  tr = 0
end
local kq, kr = mulDivMod(cost, w, limit)
local q, r = minus(tq, tr, kq, kr)
if q < now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], fmt(q) .. ':' .. fmt(r), 'PX', math.floor((q - now) / 1000) + 1001)
end
return 1
`,
  1,
);

/** Sliding-window refund: the admitted entry ARGV[1] leaves the log KEYS[1]. Reply: 1 when it was there. */
const SLIDING_REFUND = new RedisScript(`return redis.call('ZREM', KEYS[1], ARGV[1])`, 1);

/**
 * Spend refund, once: KEYS are those of the spend (three per counter) and its receipt last. The receipt
 * (`<cost>:<picks>`, the period each counter counted in) is deleted, and each counter it names goes down
 * by the cost, never below zero; a counter that expired is not made again. Reply: 1 when something was
 * given back, 0 for a receipt refunded before (or expired).
 */
const SPEND_REFUND_SOURCE = `local receipt = KEYS[#KEYS]
local held = redis.call('GET', receipt)
if not held then return 0 end
redis.call('DEL', receipt)
local cost, picks = string.match(held, '^(%d+):(%d+)$')
if not cost then return 0 end
cost = tonumber(cost)
local refunded = 0
for i = 1, #picks do
  local key = KEYS[(i - 1) * 3 + tonumber(string.sub(picks, i, i))]
  local used = tonumber(redis.call('GET', key) or '0')
  if used and used > 0 then
    redis.call('DECRBY', key, math.min(used, cost))
    refunded = 1
  end
end
return refunded
`;
const SPEND_REFUND = [new RedisScript(SPEND_REFUND_SOURCE, 4), new RedisScript(SPEND_REFUND_SOURCE, 7), new RedisScript(SPEND_REFUND_SOURCE, 10)];

/**
 * Spend counters: all or nothing, each in the calendar period that Redis time falls in. KEYS: the
 * previous, current and next period's key of each counter, then the receipt's key. ARGV: cost, then per
 * counter its limit, ttl, and where its current and next period begin, then the receipt's ttl (0: no
 * receipt), whether the receipt is named (a receipt of that name held: a retry, admitted without
 * charging) and whether to force the spend past the limits. An admitted spend of a positive cost with a
 * receipt ttl records `<cost>:<picks>` under the receipt key: the period each counter counted in, for the
 * refund. Reply: allowed, exceeded index, totals, retried (1 when a named receipt was held).
 */
const SPEND_SOURCE = `${NOW}
local cost = tonumber(ARGV[1])
local keys = {}
local used = {}
local picks = ''
local n = (#KEYS - 1) / 3
local receiptTtl = tonumber(ARGV[n * 4 + 2])
local named = ARGV[n * 4 + 3] == '1'
local force = ARGV[n * 4 + 4] == '1'
for i = 1, n do
  local a = (i - 1) * 4 + 1
  local pick = 3
  if nowMs < tonumber(ARGV[a + 3]) then pick = 1 elseif nowMs < tonumber(ARGV[a + 4]) then pick = 2 end
  keys[i] = KEYS[(i - 1) * 3 + pick]
  picks = picks .. pick
  used[i] = tonumber(redis.call('GET', keys[i]) or '0')
end
if named and not force and redis.call('EXISTS', KEYS[#KEYS]) == 1 then
  local reply = {1, -1}
  for j = 1, #keys do reply[j + 2] = used[j] end
  reply[#keys + 3] = 1
  return reply
end
if not force then
  for i = 1, #keys do
    if used[i] + cost > tonumber(ARGV[(i - 1) * 4 + 2]) then
      local reply = {0, i - 1}
      for j = 1, #keys do reply[j + 2] = used[j] end
      reply[#keys + 3] = 0
      return reply
    end
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
reply[#keys + 3] = 0
if cost > 0 and receiptTtl > 0 then
  redis.call('SET', KEYS[#KEYS], fmt(cost) .. ':' .. picks, 'PX', receiptTtl)
end
return reply
`;
const SPEND = [new RedisScript(SPEND_SOURCE, 4), new RedisScript(SPEND_SOURCE, 7), new RedisScript(SPEND_SOURCE, 10)];

/** A spend recorded with a receipt: the keys of the spend (the receipt's last). */
class RedisSpendReceipt {
  constructor(
    readonly store: RedisThrottleStore,
    readonly keys: string[],
  ) {}
}

/** An admitted rate-limit request: its bucket key, its terms and (sliding window) its log entry. */
class RedisRateReceipt {
  constructor(
    readonly store: RedisThrottleStore,
    readonly key: string,
    readonly request: RateRequest,
    readonly member: string | undefined,
  ) {}
}

const PERIOD = /^[A-Za-z0-9-]{1,40}$/;
const RECEIPT_ID = /^[A-Za-z0-9_-]{1,64}$/;

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
    if (!Array.isArray(reply) || reply.length < 5) throw new StoreUnavailableError('rate limit decision: unexpected reply from Redis');
    // Whole microseconds from the script: milliseconds for the result (-1 stays -1: never).
    const [allowed, remaining, resetUs, retryUs, nextUs, member] = reply as [number, number, string, string, string, string?];
    const retry = Number(retryUs);
    const result: RateResult = {
      allowed: allowed === 1,
      remaining: Number(remaining),
      resetMs: Number(resetUs) / 1000,
      retryAfterMs: retry < 0 ? -1 : retry / 1000,
      nextMs: Number(nextUs) / 1000,
    };
    if (result.allowed && request.cost > 0 && (!sliding || (typeof member === 'string' && member !== ''))) {
      result.receipt = new RedisRateReceipt(this, base, request, sliding ? member : undefined);
    }
    return result;
  }

  async refundRate(receipt: RateReceipt): Promise<RefundResult> {
    if (!(receipt instanceof RedisRateReceipt) || receipt.store !== this) return { refunded: false };
    const { request } = receipt;
    const reply =
      receipt.member !== undefined
        ? await SLIDING_REFUND.run(this.redis, [receipt.key], [receipt.member], this.options.commandTimeoutMs, 'rate limit refund')
        : await GCRA_REFUND.run(
            this.redis,
            [receipt.key],
            this.#now === undefined
              ? [request.limit, request.windowMs, request.cost]
              : [request.limit, request.windowMs, request.cost, Math.round(this.#now() * 1000)],
            this.options.commandTimeoutMs,
            'rate limit refund',
          );
    return { refunded: Number(reply) === 1 };
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
    const ttl = request.receiptTtlMs;
    const withReceipt = ttl !== undefined && request.cost > 0;
    const named = request.receiptId;
    if (named !== undefined && !RECEIPT_ID.test(named)) throw new RangeError('spend: a receiptId is 1 to 64 letters, digits, - or _');
    // The receipt key sits beside the counters (one hash tag: one Cluster slot).
    keys.push(`${this.options.prefix}sc:${tag}:r:${named !== undefined ? `k${named}` : withReceipt ? randomUUID() : '-'}`);
    args.push(withReceipt ? Math.max(1, Math.ceil(ttl)) : 0, named !== undefined ? 1 : 0, request.force === true ? 1 : 0);
    const reply = await script.run(this.redis, keys, args, this.options.commandTimeoutMs, 'spend decision');
    if (!Array.isArray(reply) || reply.length !== request.counters.length + 3) throw new StoreUnavailableError('spend decision: unexpected reply from Redis');
    const values = (reply as number[]).map(Number);
    const retried = values.pop() === 1;
    const [allowed, exceeded, ...used] = values as [number, number, ...number[]];
    const result: SpendResult = { allowed: allowed === 1, exceeded, used };
    if (retried) result.retried = true;
    else if (result.allowed && withReceipt) result.receipt = new RedisSpendReceipt(this, keys);
    return result;
  }

  async refundSpend(receipt: SpendReceipt): Promise<RefundResult> {
    if (!(receipt instanceof RedisSpendReceipt) || receipt.store !== this) return { refunded: false };
    const script = SPEND_REFUND[(receipt.keys.length - 1) / 3 - 1];
    if (!script) return { refunded: false };
    const reply = await script.run(this.redis, receipt.keys, [], this.options.commandTimeoutMs, 'spend refund');
    return { refunded: Number(reply) === 1 };
  }
}
